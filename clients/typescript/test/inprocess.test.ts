// Offline tests over a real in-process gRPC (HTTP/2) server: the bearer header, ErrorInfo decoded from the
// grpc-status-details-bin trailer, and a watch resumed across a dropped stream.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { create, createFileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AegisError, Code, DEFAULT_ADDRESS, connect, pb } from "../src/index.js";

// google.rpc.ErrorInfo built from a descriptor, so the server side encodes it with protobuf-es itself.
const errorDetailsFile = create(FileDescriptorProtoSchema, {
  name: "google/rpc/error_details.proto",
  package: "google.rpc",
  syntax: "proto3",
  messageType: [
    {
      name: "ErrorInfo",
      field: [
        { name: "reason", jsonName: "reason", number: 1, type: 9, label: 1 },
        { name: "domain", jsonName: "domain", number: 2, type: 9, label: 1 },
        { name: "metadata", jsonName: "metadata", number: 3, type: 11, label: 3, typeName: ".google.rpc.ErrorInfo.MetadataEntry" },
      ],
      nestedType: [
        {
          name: "MetadataEntry",
          field: [
            { name: "key", jsonName: "key", number: 1, type: 9, label: 1 },
            { name: "value", jsonName: "value", number: 2, type: 9, label: 1 },
          ],
          options: { mapEntry: true },
        },
      ],
    },
  ],
});
const ErrorInfoSchema = createFileRegistry(errorDetailsFile, () => undefined).getMessage("google.rpc.ErrorInfo")!;

test("bearer token, ErrorInfo trailer and watch resume over real gRPC", async () => {
  const auth: (string | null)[] = [];
  const watchReqs: [bigint, boolean][] = [];
  const routes = (router: ConnectRouter) =>
    router.service(pb.SessionService, {
      async getSession(req, ctx) {
        auth.push(ctx.requestHeader.get("authorization"));
        if (req.sessionId !== "s1") {
          throw new ConnectError("no such session", Code.NotFound, undefined, [
            { desc: ErrorInfoSchema, value: { reason: "SESSION_NOT_FOUND", domain: "aegis.dev", metadata: { id: "x" } } },
          ]);
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
  const sessions: import("node:http2").ServerHttp2Session[] = [];
  server.on("session", (s) => sessions.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const c = connect(`127.0.0.1:${port}`, "t0k");
  try {
    assert.equal((await c.getSession("s1")).id, "s1");
    assert.equal(auth[0], "Bearer t0k");
    await assert.rejects(c.getSession("nope"), (e: AegisError) => {
      assert.ok(e instanceof AegisError);
      assert.equal(e.code, Code.NotFound);
      assert.equal(e.reason, "SESSION_NOT_FOUND");
      assert.equal(e.domain, "aegis.dev");
      assert.deepEqual(e.info?.metadata, { id: "x" });
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
    c.close();
    for (const s of sessions) s.destroy();
    server.close();
  }
});

test("unreachable address: a clear Unavailable error within 5 s, from a call and from ready()", async () => {
  // A loopback port where nothing listens: bound once for a free port, then closed.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const addr = `127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((r) => probe.close(() => r()));

  const c = connect(addr, "t");
  try {
    const t0 = Date.now();
    await assert.rejects(c.getSession("s1"), (e: AegisError) => {
      assert.ok(e instanceof AegisError);
      assert.equal(e.code, Code.Unavailable);
      assert.match(e.message, new RegExp(`^cannot reach the Aegis server at ${addr}: `));
      return true;
    });
    await assert.rejects(c.ready(), (e: AegisError) => e.code === Code.Unavailable && e.message.includes(addr));
    assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
  } finally {
    c.close();
  }
  assert.equal(DEFAULT_ADDRESS, "127.0.0.1:50051");
});
