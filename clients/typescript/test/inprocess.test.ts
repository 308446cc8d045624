// Offline tests over a real in-process gRPC (HTTP/2) server: the bearer header, ErrorInfo decoded from the
// grpc-status-details-bin trailer, and a watch resumed across a dropped stream.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { BinaryWriter, base64Encode } from "@bufbuild/protobuf/wire";
import { ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AegisError, Code, connect, pb } from "../src/index.js";

function statusBin(code: number, reason: string): string {
  const info = new BinaryWriter().tag(1, 2).string(reason).tag(2, 2).string("aegis.dev").finish();
  const w = new BinaryWriter().tag(1, 0).int32(code).tag(2, 2).string("m");
  w.tag(3, 2).fork().tag(1, 2).string("type.googleapis.com/google.rpc.ErrorInfo").tag(2, 2).bytes(info).join();
  return base64Encode(w.finish(), "std_raw");
}

test("bearer token, ErrorInfo trailer and watch resume over real gRPC", async () => {
  const auth: (string | null)[] = [];
  const watchReqs: [bigint, boolean][] = [];
  const routes = (router: ConnectRouter) =>
    router.service(pb.SessionService, {
      async getSession(req, ctx) {
        auth.push(ctx.requestHeader.get("authorization"));
        if (req.sessionId !== "s1") {
          throw new ConnectError("no such session", Code.NotFound, {
            "grpc-status-details-bin": statusBin(Code.NotFound, "SESSION_NOT_FOUND"),
          });
        }
        return { session: { id: "s1", state: pb.SessionState.IDLE, stable: true } };
      },
      async *watchSession(req) {
        watchReqs.push([req.startRevision, req.includeSnapshot]);
        const ev = (revision: bigint, state = pb.SessionState.WORKING) =>
          create(pb.WatchSessionResponseSchema, { item: { case: "event", value: { sessionId: "s1", revision, state } } });
        if (watchReqs.length === 1) {
          yield create(pb.WatchSessionResponseSchema, { item: { case: "snapshot", value: { id: "s1", revision: 1n } } });
          yield ev(2n);
          throw new ConnectError("drop", Code.Unavailable);
        }
        yield ev(2n);
        yield ev(3n, pb.SessionState.IDLE);
      },
    });
  const server: Http2Server = createServer(connectNodeAdapter({ routes, grpc: true, connect: false, grpcWeb: false }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  try {
    const c = connect(`127.0.0.1:${port}`, "t0k");
    assert.equal((await c.getSession("s1")).id, "s1");
    assert.equal(auth[0], "Bearer t0k");
    await assert.rejects(c.getSession("nope"), (e: AegisError) => {
      assert.ok(e instanceof AegisError);
      assert.equal(e.code, Code.NotFound);
      assert.equal(e.reason, "SESSION_NOT_FOUND");
      assert.equal(e.domain, "aegis.dev");
      return true;
    });
    const revs: bigint[] = [];
    for await (const it of c.watch(
      { sessionId: "s1", includeSnapshot: true, untilStates: [pb.SessionState.IDLE] },
      { minBackoffMs: 1 },
    )) {
      revs.push(it.item.case === "snapshot" ? -it.item.value.revision : it.item.case === "event" ? it.item.value.revision : 0n);
    }
    assert.deepEqual(revs, [-1n, 2n, 3n]);
    assert.deepEqual(watchReqs, [[0n, true], [3n, false]]);
  } finally {
    server.close();
  }
});
