// Offline tests of the helpers: ErrorInfo parsing and the watch resume logic with fake streams.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { BinaryWriter, base64Encode } from "@bufbuild/protobuf/wire";
import { ConnectError } from "@connectrpc/connect";
import { AegisError, Code, REVISION_COMPACTED, errorInfoFromStatus, pb, watchSession } from "../src/index.js";

function errorInfoBytes(reason: string): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, 2).string(reason);
  w.tag(2, 2).string("aegis.dev");
  w.tag(3, 2).fork().tag(1, 2).string("id").tag(2, 2).string("x").join();
  return w.finish();
}

function statusBytes(code: number, msg: string, reason: string): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, 0).int32(code);
  w.tag(2, 2).string(msg);
  w.tag(3, 2).fork().tag(1, 2).string("type.googleapis.com/google.rpc.ErrorInfo").tag(2, 2).bytes(errorInfoBytes(reason)).join();
  return w.finish();
}

function infoError(code: Code, reason: string): ConnectError {
  const e = new ConnectError("boom", code);
  e.details = [{ type: "google.rpc.ErrorInfo", value: errorInfoBytes(reason) }];
  return e;
}

test("ErrorInfo from parsed details and from the raw trailer", () => {
  const a = AegisError.from(infoError(Code.NotFound, "SESSION_NOT_FOUND"));
  assert.equal(a.code, Code.NotFound);
  assert.equal(a.reason, "SESSION_NOT_FOUND");
  assert.equal(a.domain, "aegis.dev");
  assert.deepEqual(a.info?.metadata, { id: "x" });
  assert.deepEqual(a.metadata, { id: "x" });
  assert.equal(a.message, "boom");
  assert.equal(String(a), "AegisError: NOT_FOUND [SESSION_NOT_FOUND]: boom");
  assert.match(a.stack ?? "", /^AegisError: NOT_FOUND \[SESSION_NOT_FOUND\]: boom/);

  const raw = statusBytes(5, "nope", "WORK_DIR_NOT_FOUND");
  assert.equal(errorInfoFromStatus(raw)?.reason, "WORK_DIR_NOT_FOUND");
  const md = new Headers({ "grpc-status-details-bin": base64Encode(raw, "std_raw") });
  const b = AegisError.from(new ConnectError("nope", Code.NotFound, md));
  assert.equal(b.reason, "WORK_DIR_NOT_FOUND");
  assert.equal(AegisError.from(new Error("x")).reason, "");
});

const ev = (rev: number, state = pb.SessionState.WORKING): pb.WatchSessionResponse =>
  create(pb.WatchSessionResponseSchema, {
    item: { case: "event", value: { sessionId: "s1", revision: BigInt(rev), state } },
  });
const snap = (rev: number, state = pb.SessionState.IDLE): pb.WatchSessionResponse =>
  create(pb.WatchSessionResponseSchema, { item: { case: "snapshot", value: { id: "s1", revision: BigInt(rev), state } } });

test("watch resumes after drops and re-snapshots after compaction", async () => {
  const script: [pb.WatchSessionResponse[], Error | undefined][] = [
    [[snap(3), ev(4), ev(5)], new ConnectError("drop", Code.Unavailable)],
    [[ev(5), ev(6)], new ConnectError("drop", Code.Internal)],
    [[], infoError(Code.OutOfRange, REVISION_COMPACTED)],
    [[snap(9, pb.SessionState.WORKING), ev(10, pb.SessionState.IDLE)], undefined],
  ];
  const reqs: [bigint, boolean][] = [];
  const open = async function* (req: pb.WatchSessionRequest) {
    reqs.push([req.startRevision, req.includeSnapshot]);
    const [items, end] = script.shift()!;
    yield* items;
    if (end) throw end;
  };
  const req = create(pb.WatchSessionRequestSchema, {
    sessionId: "s1",
    includeSnapshot: true,
    untilStates: [pb.SessionState.IDLE],
  });
  const got: number[] = [];
  for await (const it of watchSession(open, req, { minBackoffMs: 1 })) {
    if (it.item.case === "snapshot") got.push(-Number(it.item.value.revision));
    else if (it.item.case === "event") got.push(Number(it.item.value.revision));
  }
  assert.deepEqual(got, [-3, 4, 5, 6, -9, 10]);
  assert.deepEqual(reqs, [[0n, true], [6n, false], [7n, false], [0n, true]]);
});

test("watch throws non-retryable errors and gives up after reconnectTimeoutMs", async () => {
  const failing = (code: Code) =>
    async function* () {
      throw new ConnectError("x", code);
    };
  const req = create(pb.WatchSessionRequestSchema, { sessionId: "s1" });
  await assert.rejects(
    async () => {
      for await (const _ of watchSession(failing(Code.PermissionDenied), req)) void _;
    },
    (e: AegisError) => e.code === Code.PermissionDenied,
  );
  const t0 = Date.now();
  await assert.rejects(
    async () => {
      for await (const _ of watchSession(failing(Code.Unavailable), req, {
        reconnectTimeoutMs: 200,
        minBackoffMs: 10,
        maxBackoffMs: 50,
      }))
        void _;
    },
    (e: AegisError) => e.code === Code.Unavailable && Date.now() - t0 >= 200,
  );
});

test("watch ends after EXITED and when the signal aborts", async () => {
  const once = async function* () {
    yield ev(1, pb.SessionState.EXITED);
  };
  const items = [];
  for await (const it of watchSession(once, create(pb.WatchSessionRequestSchema, {}))) items.push(it);
  assert.equal(items.length, 1);
  const ctl = new AbortController();
  const forever = async function* () {
    for (let i = 1; ; i++) {
      yield ev(i);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  let n = 0;
  for await (const _ of watchSession(forever, create(pb.WatchSessionRequestSchema, {}), { signal: ctl.signal })) {
    if (++n === 3) ctl.abort();
  }
  assert.equal(n, 3);
});
