"""Offline tests of the helpers against an in-process fake SessionService (no aegis binary needed)."""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any, Iterator

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

import aegis_client
from aegis_client import AegisError, pb, pb_grpc, watch_session


def status_details(code: grpc.StatusCode, msg: str, reason: str, **meta: str) -> bytes:
    info = error_details_pb2.ErrorInfo(reason=reason, domain="aegis.dev", metadata=meta)
    detail = any_pb2.Any()
    detail.Pack(info)
    return status_pb2.Status(code=code.value[0], message=msg, details=[detail]).SerializeToString()


def abort_with_info(context: grpc.ServicerContext, code: grpc.StatusCode, msg: str, reason: str) -> None:
    context.set_trailing_metadata((("grpc-status-details-bin", status_details(code, msg, reason, id="x")),))
    context.abort(code, msg)


def ev(rev: int, state: int = pb.SESSION_STATE_WORKING) -> pb.WatchSessionResponse:
    return pb.WatchSessionResponse(
        event=pb.SessionEvent(session_id="s1", revision=rev, kind=pb.EVENT_KIND_STATE_CHANGED, state=state)
    )


class FakeService(pb_grpc.SessionServiceServicer):
    """Scripted: each WatchSession call pops the next script entry (items to send, then an error or end)."""

    def __init__(self) -> None:
        self.watch_requests: list[pb.WatchSessionRequest] = []
        self.watch_script: list[tuple[list[pb.WatchSessionResponse], Any]] = []
        self.metadata: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def GetSession(self, request: pb.GetSessionRequest, context: grpc.ServicerContext) -> pb.GetSessionResponse:
        self.metadata.append({k: v for k, v in context.invocation_metadata()})  # type: ignore[misc]
        if request.session_id != "s1":
            abort_with_info(context, grpc.StatusCode.NOT_FOUND, f"no session {request.session_id}", "SESSION_NOT_FOUND")
        return pb.GetSessionResponse(session=pb.Session(id="s1", state=pb.SESSION_STATE_IDLE, stable=True))

    def WatchSession(
        self, request: pb.WatchSessionRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchSessionResponse]:
        with self.lock:
            self.watch_requests.append(request)
            items, end = self.watch_script.pop(0) if self.watch_script else ([], None)
        yield from items
        if end == "compacted":
            abort_with_info(context, grpc.StatusCode.OUT_OF_RANGE, "compacted", "REVISION_COMPACTED")
        elif isinstance(end, grpc.StatusCode):
            context.abort(end, "scripted failure")


@pytest.fixture
def fake() -> Iterator[tuple[FakeService, str]]:
    svc = FakeService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_SessionServiceServicer_to_server(svc, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield svc, f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def test_error_info_reason_and_bearer_token(fake: tuple[FakeService, str]) -> None:
    svc, addr = fake
    with aegis_client.connect(addr, token="t0k") as client:
        assert client.get_session("s1").state == pb.SESSION_STATE_IDLE
        with pytest.raises(AegisError) as exc:
            client.get_session("nope")
    assert exc.value.code == grpc.StatusCode.NOT_FOUND
    assert exc.value.reason == "SESSION_NOT_FOUND"
    assert exc.value.domain == "aegis.dev"
    assert exc.value.info is not None and exc.value.info.metadata == {"id": "x"}
    assert exc.value.metadata == {"id": "x"} and exc.value.message == "no session nope"
    assert "SESSION_NOT_FOUND" in str(exc.value)
    assert svc.metadata[0]["authorization"] == "Bearer t0k"


def test_parse_status_details_without_error_info() -> None:
    raw = status_pb2.Status(code=5, message="m").SerializeToString()
    assert aegis_client.parse_status_details(raw) is None
    assert aegis_client.error_info_from_metadata([("grpc-status-details-bin", b"\xff\xff")]) is None


def test_watch_resumes_after_drop_and_resnapshots_after_compaction(fake: tuple[FakeService, str]) -> None:
    svc, addr = fake
    snap = pb.WatchSessionResponse(snapshot=pb.Session(id="s1", revision=3, state=pb.SESSION_STATE_IDLE))
    snap2 = pb.WatchSessionResponse(snapshot=pb.Session(id="s1", revision=9, state=pb.SESSION_STATE_WORKING))
    svc.watch_script = [
        ([snap, ev(4), ev(5)], grpc.StatusCode.UNAVAILABLE),  # dropped
        ([ev(5), ev(6)], grpc.StatusCode.INTERNAL),  # a replayed revision, then dropped again
        ([], "compacted"),  # revision 7 is gone
        ([snap2, ev(10, pb.SESSION_STATE_IDLE)], None),  # clean end with the until-state reached
    ]
    with aegis_client.connect(addr) as client:
        items = list(
            client.watch("s1", include_snapshot=True, until_states=[pb.SESSION_STATE_IDLE], reconnect_timeout=10)
        )
    kinds = [(i.WhichOneof("item"), i.snapshot.revision if i.HasField("snapshot") else i.event.revision) for i in items]
    assert kinds == [("snapshot", 3), ("event", 4), ("event", 5), ("event", 6), ("snapshot", 9), ("event", 10)]
    reqs = [(r.start_revision, r.include_snapshot) for r in svc.watch_requests]
    assert reqs == [(0, True), (6, False), (7, False), (0, True)]
    assert list(svc.watch_requests[1].until_states) == [pb.SESSION_STATE_IDLE]


def test_watch_raises_non_retryable_and_gives_up_after_reconnect_timeout() -> None:
    class Err(grpc.RpcError):
        def __init__(self, code: grpc.StatusCode) -> None:
            self._code = code

        def code(self) -> grpc.StatusCode:
            return self._code

        def details(self) -> str:
            return "x"

        def trailing_metadata(self) -> Any:
            return ()

    def failing(code: grpc.StatusCode) -> Any:
        def open_stream(req: pb.WatchSessionRequest) -> Iterator[pb.WatchSessionResponse]:
            raise Err(code)
            yield  # pragma: no cover

        return open_stream

    req = pb.WatchSessionRequest(session_id="s1")
    with pytest.raises(AegisError) as exc:
        list(watch_session(failing(grpc.StatusCode.PERMISSION_DENIED), req))
    assert exc.value.code == grpc.StatusCode.PERMISSION_DENIED

    clock = {"t": 0.0}
    import aegis_client.client as c

    orig = c.time.monotonic
    c.time.monotonic = lambda: clock["t"]  # type: ignore[assignment]
    try:
        def sleep(s: float) -> None:
            clock["t"] += s

        with pytest.raises(AegisError) as exc:
            list(watch_session(failing(grpc.StatusCode.UNAVAILABLE), req, reconnect_timeout=5, sleep=sleep))
        assert exc.value.code == grpc.StatusCode.UNAVAILABLE
        assert clock["t"] > 5
    finally:
        c.time.monotonic = orig  # type: ignore[assignment]


def test_watch_stops_on_exited_clean_end() -> None:
    def open_stream(req: pb.WatchSessionRequest) -> Iterator[pb.WatchSessionResponse]:
        yield ev(1, pb.SESSION_STATE_EXITED)

    items = list(watch_session(open_stream, pb.WatchSessionRequest(session_id="s1")))
    assert len(items) == 1


def closed_port() -> str:
    """A loopback address where nothing listens (bound once to get a free port, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_connect_to_closed_port_fails_fast_with_a_clear_error() -> None:
    import time

    addr = closed_port()
    t0 = time.monotonic()
    with pytest.raises(AegisError) as exc:
        aegis_client.connect(addr, token="t")
    elapsed = time.monotonic() - t0
    assert exc.value.code == grpc.StatusCode.UNAVAILABLE
    assert f"cannot reach the Aegis server at {addr}" in exc.value.message, exc.value
    assert elapsed < 5, elapsed


def test_default_address_is_the_servers() -> None:
    assert aegis_client.DEFAULT_ADDRESS == "127.0.0.1:50051"
    import inspect

    assert inspect.signature(aegis_client.connect).parameters["address"].default == "127.0.0.1:50051"
    assert inspect.signature(aegis_client.aio.connect).parameters["address"].default == "127.0.0.1:50051"


def test_aio_connect_to_closed_port_fails_fast_with_a_clear_error() -> None:
    import asyncio
    import time

    addr = closed_port()

    async def run() -> AegisError:
        try:
            await aegis_client.aio.connect(addr)
        except AegisError as err:
            return err
        raise AssertionError("connected to a closed port")

    t0 = time.monotonic()
    err = asyncio.run(run())
    assert time.monotonic() - t0 < 5
    assert err.code == grpc.StatusCode.UNAVAILABLE
    assert f"cannot reach the Aegis server at {addr}" in err.message, err


def test_aio_error_fields_bearer_and_watch_resume(fake: tuple[FakeService, str]) -> None:
    import asyncio

    svc, addr = fake
    snap = pb.WatchSessionResponse(snapshot=pb.Session(id="s1", revision=3, state=pb.SESSION_STATE_IDLE))
    svc.watch_script = [
        ([snap, ev(4)], grpc.StatusCode.UNAVAILABLE),
        ([ev(4), ev(5)], "compacted"),
        ([snap, ev(6, pb.SESSION_STATE_IDLE)], None),
    ]
    resumes: list[tuple[grpc.StatusCode, int]] = []

    async def run() -> tuple[pb.Session, AegisError, list[tuple[str | None, int]]]:
        async with await aegis_client.aio.connect(addr, token="a10") as client:
            s = await client.get_session("s1")
            try:
                await client.get_session("nope")
                raise AssertionError("no error")
            except AegisError as e:
                err = e
            items = [
                (i.WhichOneof("item"), i.snapshot.revision if i.HasField("snapshot") else i.event.revision)
                async for i in client.watch(
                    "s1",
                    until_states=[pb.SESSION_STATE_IDLE],
                    on_resume=lambda e, start: resumes.append((e.code, start)),
                )
            ]
            return s, err, items

    s, err, items = asyncio.run(run())
    assert s.state == pb.SESSION_STATE_IDLE
    assert svc.metadata[0]["authorization"] == "Bearer a10"
    assert (err.code, err.reason, err.domain, dict(err.metadata)) == (
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "aegis.dev",
        {"id": "x"},
    )
    assert err.message == "no session nope"
    assert items == [("snapshot", 3), ("event", 4), ("event", 5), ("snapshot", 3), ("event", 6)]
    assert resumes == [(grpc.StatusCode.UNAVAILABLE, 5), (grpc.StatusCode.OUT_OF_RANGE, 0)]
    reqs = [(r.start_revision, r.include_snapshot) for r in svc.watch_requests]
    assert reqs == [(0, True), (5, False), (0, True)]
