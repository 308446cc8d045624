// Live tests: real `aegis serve` + `aegis fake-api` + real Claude Code (needs AEGIS_BIN and CLAUDE_BIN).
import { test } from "node:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { AegisError, Code, pb, stateName } from "../src/index.js";
import { Stack, liveBins } from "./harness.js";

const bins = liveBins();
const skip = bins ? false : "live test: set AEGIS_BIN and CLAUDE_BIN";

async function withStack(
  t: { skip(msg: string): void },
  fn: (s: Stack) => Promise<void>,
  serverArgs: string[] = [],
): Promise<void> {
  const s = new Stack(bins!.aegisBin, bins!.claudeBin, serverArgs);
  try {
    await s.start();
    await fn(s);
  } catch (e) {
    console.error(s.logs());
    throw e;
  } finally {
    await s.close();
  }
}

test("create with a prompt, wait for idle, reply in transcript", { skip, timeout: 300_000 }, (t) =>
  withStack(t, async (s) => {
    const c = s.client();
    const sess = await c.createAndWait({ workDir: s.workDir, prompt: "hello from typescript" }, 180_000);
    try {
      assert.equal(stateName(sess.state), "IDLE");
      assert.ok(sess.stable);
      await assert.rejects(s.client("").getSession(sess.id), (e: AegisError) => e.code === Code.Unauthenticated);
      const text = await c.lastAssistantText(sess.id);
      assert.match(text, /Fake reply/);
      await assert.rejects(c.getSession("00000000-0000-0000-0000-000000000000"), (e: AegisError) => {
        assert.equal(e.code, Code.NotFound);
        assert.equal(e.reason, "SESSION_NOT_FOUND");
        return true;
      });
    } finally {
      await c.deleteSession(sess.id);
    }
  }),
);

test("watch survives a server restart", { skip, timeout: 300_000 }, (t) =>
  withStack(t, async (s) => {
    const c = s.client();
    const sess = await c.createAndWait({ workDir: s.workDir, prompt: "first turn" }, 180_000);
    assert.equal(stateName(sess.state), "IDLE");
    const ctl = new AbortController();
    const seen: pb.WatchSessionResponse[] = [];
    const resumes: [Code, bigint][] = [];
    const done = (async () => {
      for await (const it of c.watch(
        { sessionId: sess.id, includeSnapshot: true },
        { signal: ctl.signal, heartbeatIntervalMs: 1000, onResume: (e, start) => resumes.push([e.code, start]) },
      ))
        seen.push(it);
    })();
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen[0]?.item.case, "snapshot", "no snapshot from WatchSession");
    const before = seen[0].item.case === "snapshot" ? seen[0].item.value.revision : 0n;
    await new Promise((r) => setTimeout(r, 500));
    let lastSeen = before;
    for (const i of seen) if (i.item.case === "event") lastSeen = i.item.value.revision;

    await s.restartServer();
    let after: pb.Session;
    try {
      after = await c.getSession(sess.id);
    } catch (e) {
      ctl.abort();
      if (!(e instanceof AegisError && e.code === Code.NotFound)) throw e;
      t.skip(`server does not re-adopt sessions after a restart yet (issue 4): ${e}`);
      return;
    }
    if (after.state === pb.SessionState.EXITED) {
      ctl.abort();
      t.skip(`server does not re-adopt sessions after a restart yet (issue 4): session EXITED (${after.exit?.reason})`);
      return;
    }
    const s2 = await c.sendAndWait(sess.id, "second turn after restart", 180_000);
    assert.equal(stateName(s2.state), "IDLE");
    const events = () => seen.flatMap((i) => (i.item.case === "event" ? [i.item.value] : []));
    for (let i = 0; i < 200; i++) {
      const evs = events();
      if (evs.length && evs[evs.length - 1].revision >= s2.revision) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    ctl.abort();
    await done;
    assert.ok(resumes.length > 0, "the watch never saw the server go away");
    // connect-node reports a peer that died as Canceled ("http/2 stream closed with error code CANCEL"),
    // not Unavailable; both are retryable.
    assert.ok([Code.Unavailable, Code.Canceled].includes(resumes[0][0]), `first resume after ${Code[resumes[0][0]]}`);
    assert.equal(resumes[0][1], lastSeen + 1n);
    const revs = events().map((e) => e.revision);
    for (let i = 1; i < revs.length; i++) assert.ok(revs[i] > revs[i - 1], `disorder/duplicates: ${revs}`);
    assert.ok(revs.length && revs[revs.length - 1] >= s2.revision, `watch saw ${revs} (session at ${s2.revision})`);
    assert.ok(events().some((e) => e.revision > before && e.kind === pb.EventKind.MESSAGE_SENT));
    await c.deleteSession(sess.id);
  }),
);

test("answer a question by interaction id", { skip, timeout: 300_000 }, (t) =>
  withStack(t, async (s) => {
    const c = s.client();
    const sess = await c.createAndWait({ workDir: s.workDir, prompt: "ASK_ONE" }, 180_000);
    try {
      assert.equal(stateName(sess.state), "ASK_QUESTION");
      const it = sess.pendingInteractions[0];
      const q = it.content.case === "question" ? it.content.value.questions[0] : undefined;
      assert.ok(q, "question content");
      const r = await c.answer(sess.id, it.id, { [q.question]: q.options[0].label }, 120_000);
      const st = r.session?.stable ? r.session : await c.wait(sess.id, 120_000);
      assert.equal(stateName(st.state), "IDLE");
    } finally {
      await c.deleteSession(sess.id);
    }
  }),
);

test("watch re-snapshots after REVISION_COMPACTED", { skip, timeout: 300_000 }, (t) =>
  withStack(
    t,
    async (s) => {
      const c = s.client();
      const sess = await c.createAndWait({ workDir: s.workDir, prompt: "compaction" }, 180_000);
      assert.ok(sess.revision > 3n, `revision ${sess.revision}`);
      await s.restartServer(); // the server compacts its event log at start: 2 events kept, revision 1 gone
      const resumes: [AegisError, bigint][] = [];
      let first: pb.WatchSessionResponse | undefined;
      for await (const it of c.watch(
        { sessionId: sess.id, startRevision: 1n },
        { onResume: (e, start) => resumes.push([e, start]) },
      )) {
        first = it;
        break;
      }
      assert.equal(first?.item.case, "snapshot");
      assert.ok(first.item.case === "snapshot" && first.item.value.revision >= sess.revision);
      assert.equal(resumes.length, 1);
      assert.equal(resumes[0][0].code, Code.OutOfRange);
      assert.equal(resumes[0][0].reason, "REVISION_COMPACTED");
      assert.equal(resumes[0][1], 0n);
      await c.deleteSession(sess.id);
    },
    ["--retain-events", "2"],
  ),
);

test("approve a bash permission by interaction id", { skip, timeout: 300_000 }, (t) =>
  withStack(t, async (s) => {
    const c = s.client();
    const sess = await c.createAndWait(
      { workDir: s.workDir, prompt: "BASH(touch approved-ts.txt)", permissionMode: "default" },
      180_000,
    );
    try {
      assert.equal(stateName(sess.state), "BASH_APPROVAL");
      const it = sess.pendingInteractions[0];
      assert.equal(it.content.case, "permission");
      assert.equal(it.content.case === "permission" ? it.content.value.command : "", "touch approved-ts.txt");
      const r = await c.approve(sess.id, it.id, 120_000);
      const st = r.session?.stable ? r.session : await c.wait(sess.id, 120_000);
      assert.equal(stateName(st.state), "IDLE");
      assert.ok(existsSync(join(s.workDir, "approved-ts.txt")));
      await assert.rejects(c.approve(sess.id, it.id), (e: unknown) => e instanceof AegisError && e.reason === "INTERACTION_NOT_PENDING");
    } finally {
      await c.deleteSession(sess.id);
    }
  }),
);
