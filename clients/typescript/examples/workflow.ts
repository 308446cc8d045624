// Core Aegis workflow: create a session on a repo with a task, answer whatever CC asks by a simple policy
// (question -> first option, permission/bash/plan/trust -> approve), wait for idle, print the last assistant
// message and a transcript summary, delete the session.
//
//   npm run build:test && node dist-test/examples/workflow.js --address 127.0.0.1:PORT --work-dir DIR --task "BASH(ls)"
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { DEFAULT_ADDRESS, connect, pb, stateName, type AegisClient } from "../src/index.js";

async function settleByPolicy(c: AegisClient, s: pb.Session, timeoutMs = 300_000): Promise<pb.Session> {
  for (let i = 0; i < 50; i++) {
    const it = s.pendingInteractions[0];
    if (!it) return s;
    if (it.content.case === "question") {
      const answers = Object.fromEntries(it.content.value.questions.map((q) => [q.question, q.options[0].label]));
      console.log(`answering ${it.id}:`, answers);
      s = (await c.answer(s.id, it.id, answers, timeoutMs)).session!;
    } else {
      console.log(`approving ${it.id} (${pb.InteractionKind[it.kind]})`);
      s = (await c.approve(s.id, it.id, timeoutMs)).session!;
    }
    if (!s.stable) s = await c.wait(s.id, timeoutMs);
  }
  throw new Error("too many interactions");
}

const { values } = parseArgs({
  options: {
    address: { type: "string", default: process.env.AEGIS_ADDRESS ?? DEFAULT_ADDRESS },
    token: { type: "string", default: process.env.AEGIS_TOKEN },
    "work-dir": { type: "string" },
    task: { type: "string" },
    "permission-mode": { type: "string", default: "" },
  },
});
if (!values["work-dir"] || !values.task) {
  console.error("usage: workflow --address HOST:PORT --work-dir DIR --task TEXT");
  process.exit(2);
}
const c = connect(values.address!, values.token);
let s = await c.createAndWait({ workDir: resolve(values["work-dir"]), prompt: values.task, permissionMode: values["permission-mode"] }, 300_000);
console.log(`session ${s.id}: ${stateName(s.state)}`);
try {
  s = await settleByPolicy(c, s);
  console.log(`final state: ${stateName(s.state)}`);
  console.log(`last assistant message: ${JSON.stringify(await c.lastAssistantText(s.id))}`);
  const entries = await c.transcript(s.id);
  const counts: Record<string, number> = {};
  for (const e of entries) counts[pb.EntryKind[e.kind]] = (counts[pb.EntryKind[e.kind]] ?? 0) + 1;
  console.log(`transcript: ${entries.length} entries:`, counts);
  process.exitCode = s.state === pb.SessionState.IDLE ? 0 : 1;
} finally {
  await c.deleteSession(s.id);
  console.log("deleted");
  c.close();
}
