"""The asyncio twin of `aegis_client.AegisClient` (grpc.aio): the same helpers with the same arguments and
errors, as coroutines, and `watch` as an async iterator.

    async with await aegis_client.aio.connect("127.0.0.1:50051", token) as c:
        s = await c.create_and_wait(work_dir, "Fix the failing test", timeout=600)
        async for item in c.watch(s.id, until_states=[pb.SESSION_STATE_IDLE]):
            ...

Request building and the watch resume rules are shared with the sync client (`aegis_client.client`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence, TypeVar

import grpc
import grpc.aio

from .client import (
    CONNECT_TIMEOUT,
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    SERVER_WAIT_CAP,
    WAIT_MARGIN,
    Answers,
    Metadata,
    WatchResume,
    _add_wait,
    answer_request,
    channel_options,
    create_request,
    send_request,
    split_address,
    unreachable,
    wait_options,
    watch_request,
)
from .errors import AegisError
from .gen.aegis.v1 import aegis_pb2 as pb
from .gen.aegis.v1 import aegis_pb2_grpc as pb_grpc

T = TypeVar("T")


class AsyncAegisClient:
    """Connection to one Aegis server over grpc.aio. Use `await connect()`; `await close()` (or `async with`)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        token: str | None = None,
        default_timeout: float = DEFAULT_TIMEOUT,
        wait_for_ready: bool = True,
    ):
        self.channel = channel
        self.stub = pb_grpc.SessionServiceStub(channel)
        self.default_timeout = default_timeout
        self.wait_for_ready = wait_for_ready
        self.metadata: Metadata = (("authorization", f"Bearer {token}"),) if token else ()

    # -- plumbing ------------------------------------------------------------------------------------

    async def close(self) -> None:
        await self.channel.close(None)

    async def __aenter__(self) -> "AsyncAegisClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: Callable[..., Awaitable[T]], request: object, timeout: float | None = None) -> T:
        """Calls a unary stub method with the bearer token and a deadline; raises AegisError."""
        try:
            return await method(
                request,
                timeout=timeout or self.default_timeout,
                metadata=self.metadata,
                wait_for_ready=self.wait_for_ready,
            )
        except grpc.RpcError as err:
            raise AegisError.from_rpc_error(err) from None

    # -- sessions ------------------------------------------------------------------------------------

    async def get_session(self, session_id: str, timeout: float | None = None) -> pb.Session:
        resp = await self.call(self.stub.GetSession, pb.GetSessionRequest(session_id=session_id), timeout)
        return resp.session

    async def list_sessions(self, include_exited: bool = False, timeout: float | None = None) -> list[pb.Session]:
        out: list[pb.Session] = []
        token = ""
        while True:
            req = pb.ListSessionsRequest(include_exited=include_exited, page_token=token)
            resp = await self.call(self.stub.ListSessions, req, timeout)
            out.extend(resp.sessions)
            token = resp.next_page_token
            if not token:
                return out

    async def delete_session(self, session_id: str, request_id: str = "", timeout: float | None = None) -> pb.Session:
        req = pb.DeleteSessionRequest(session_id=session_id, request_id=request_id)
        return (await self.call(self.stub.DeleteSession, req, timeout)).session

    async def server_info(self, timeout: float | None = None) -> pb.GetServerInfoResponse:
        return await self.call(self.stub.GetServerInfo, pb.GetServerInfoRequest(), timeout)

    async def wait(
        self,
        session_id: str,
        timeout: float = 300.0,
        states: Sequence["pb.SessionState.ValueType"] = (),
        after_revision: int = 0,
    ) -> pb.Session:
        """See `AegisClient.wait`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AegisError(grpc.StatusCode.DEADLINE_EXCEEDED, f"session {session_id} not settled in {timeout}s")
            req = pb.WaitSessionRequest(
                session_id=session_id, after_revision=after_revision, wait=wait_options(left, states)
            )
            resp = await self.call(self.stub.WaitSession, req, min(left, SERVER_WAIT_CAP) + WAIT_MARGIN)
            if resp.wait_result.satisfied:
                return resp.session
            after_revision = resp.session.revision

    async def _settle(
        self,
        session: pb.Session,
        result: pb.WaitResult,
        deadline: float,
        states: Sequence["pb.SessionState.ValueType"],
    ) -> pb.Session:
        if result.satisfied:
            return session
        return await self.wait(session.id, max(deadline - time.monotonic(), 0.001), states, session.revision)

    async def create_and_wait(
        self,
        work_dir: str,
        prompt: str = "",
        *,
        timeout: float = 300.0,
        states: Sequence["pb.SessionState.ValueType"] = (),
        request_id: str = "",
        **fields: object,
    ) -> pb.Session:
        """See `AegisClient.create_and_wait`."""
        deadline = time.monotonic() + timeout
        req = create_request(work_dir, prompt, timeout, states, request_id, fields)
        resp = await self.call(self.stub.CreateSession, req, min(timeout, SERVER_WAIT_CAP) + WAIT_MARGIN)
        return await self._settle(resp.session, resp.wait_result, deadline, states)

    async def send_and_wait(
        self,
        session_id: str,
        text: str,
        *,
        kind: "pb.MessageKind.ValueType" = pb.MESSAGE_KIND_PROMPT,
        timeout: float = 300.0,
        states: Sequence["pb.SessionState.ValueType"] = (),
        request_id: str = "",
    ) -> pb.Session:
        """See `AegisClient.send_and_wait`."""
        deadline = time.monotonic() + timeout
        req = send_request(session_id, text, kind, timeout, states, request_id)
        resp = await self.call(self.stub.SendMessage, req, min(timeout, SERVER_WAIT_CAP) + WAIT_MARGIN)
        return await self._settle(resp.session, resp.wait_result, deadline, states)

    # -- interactions --------------------------------------------------------------------------------

    async def answer(
        self,
        session_id: str,
        interaction_id: str,
        answers: Answers,
        *,
        wait_timeout: float | None = None,
        request_id: str = "",
    ) -> pb.AnswerQuestionResponse:
        """See `AegisClient.answer`."""
        req = answer_request(session_id, interaction_id, answers, wait_timeout, request_id)
        return await self.call(self.stub.AnswerQuestion, req, (wait_timeout or 0) + WAIT_MARGIN)

    async def approve(
        self,
        session_id: str,
        interaction_id: str,
        *,
        scope: "pb.ApprovalScope.ValueType" = pb.APPROVAL_SCOPE_ONCE,
        plan_mode: "pb.PlanApprovalMode.ValueType" = pb.PLAN_APPROVAL_MODE_UNSPECIFIED,
        wait_timeout: float | None = None,
        request_id: str = "",
    ) -> pb.ApprovePermissionResponse:
        """See `AegisClient.approve`."""
        req = pb.ApprovePermissionRequest(
            session_id=session_id, interaction_id=interaction_id, scope=scope, plan_mode=plan_mode, request_id=request_id
        )
        _add_wait(req, wait_timeout)
        return await self.call(self.stub.ApprovePermission, req, (wait_timeout or 0) + WAIT_MARGIN)

    async def reject(
        self,
        session_id: str,
        interaction_id: str,
        feedback: str = "",
        *,
        wait_timeout: float | None = None,
        request_id: str = "",
    ) -> pb.RejectPermissionResponse:
        """See `AegisClient.reject`."""
        req = pb.RejectPermissionRequest(
            session_id=session_id, interaction_id=interaction_id, feedback=feedback, request_id=request_id
        )
        _add_wait(req, wait_timeout)
        return await self.call(self.stub.RejectPermission, req, (wait_timeout or 0) + WAIT_MARGIN)

    # -- transcript ----------------------------------------------------------------------------------

    async def transcript(
        self, session_id: str, kinds: Sequence["pb.EntryKind.ValueType"] = (), timeout: float | None = None
    ) -> list[pb.TranscriptEntry]:
        """All transcript entries (every page)."""
        out: list[pb.TranscriptEntry] = []
        cursor = 0
        while True:
            req = pb.GetTranscriptRequest(session_id=session_id, cursor=cursor, limit=1000, kinds=list(kinds))
            resp = await self.call(self.stub.GetTranscript, req, timeout)
            out.extend(resp.entries)
            if not resp.entries or resp.next_cursor <= cursor:
                return out
            cursor = resp.next_cursor

    async def last_assistant_text(self, session_id: str) -> str:
        entries = await self.transcript(session_id, kinds=[pb.ENTRY_KIND_ASSISTANT_TEXT])
        return entries[-1].text if entries else ""

    # -- watch ---------------------------------------------------------------------------------------

    def watch(
        self,
        session_id: str,
        *,
        start_revision: int = 0,
        include_snapshot: bool = True,
        until_states: Sequence["pb.SessionState.ValueType"] = (),
        heartbeat_interval: float = 5.0,
        heartbeats: bool = False,
        stream_timeout: float = 600.0,
        reconnect_timeout: float = 120.0,
        on_resume: Callable[[AegisError, int], None] | None = None,
    ) -> AsyncIterator[pb.WatchSessionResponse]:
        """See `AegisClient.watch`; stop it by breaking out of the loop (or `aclose()`) or cancelling the task."""
        req = watch_request(session_id, start_revision, include_snapshot, until_states, heartbeat_interval)

        def open_stream(r: pb.WatchSessionRequest) -> Any:
            # Fail fast while the server is away: the resume loop retries with its own backoff and limit.
            return self.stub.WatchSession(r, timeout=stream_timeout, metadata=self.metadata, wait_for_ready=False)

        return watch_session(
            open_stream, req, heartbeats=heartbeats, reconnect_timeout=reconnect_timeout, on_resume=on_resume
        )


async def watch_session(
    open_stream: Callable[[pb.WatchSessionRequest], AsyncIterator[pb.WatchSessionResponse]],
    request: pb.WatchSessionRequest,
    *,
    heartbeats: bool = False,
    reconnect_timeout: float = 120.0,
    min_backoff: float = 0.1,
    max_backoff: float = 2.0,
    on_resume: Callable[[AegisError, int], None] | None = None,
) -> AsyncIterator[pb.WatchSessionResponse]:
    """The asyncio resume loop; the rules are `aegis_client.watch_session`'s (shared `WatchResume`)."""
    st = WatchResume(
        request,
        heartbeats=heartbeats,
        reconnect_timeout=reconnect_timeout,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        on_resume=on_resume,
    )
    while True:
        stream = open_stream(st.request)
        err: AegisError | None = None
        try:
            async for item in stream:
                if st.accept(item):
                    yield item
        except grpc.RpcError as rpc_err:
            err = AegisError.from_rpc_error(rpc_err)
        finally:
            cancel = getattr(stream, "cancel", None)
            if cancel is not None:
                cancel()
        delay = st.after_end(err)
        if delay is None:
            return
        if delay > 0:
            await asyncio.sleep(delay)


async def _await_ready(channel: grpc.aio.Channel, address: str, timeout: float) -> None:
    """Like the sync client's: READY, or AegisError(UNAVAILABLE) at the first failed attempt or after `timeout`."""
    deadline = time.monotonic() + timeout
    state = channel.get_state(try_to_connect=True)
    while state != grpc.ChannelConnectivity.READY:
        if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            raise unreachable(address, timeout, state)
        left = deadline - time.monotonic()
        if left <= 0:
            raise unreachable(address, timeout, state)
        try:
            await asyncio.wait_for(channel.wait_for_state_change(state), left)
        except asyncio.TimeoutError:
            raise unreachable(address, timeout, state) from None
        state = channel.get_state(try_to_connect=True)


async def connect(
    address: str = DEFAULT_ADDRESS,
    token: str | None = None,
    *,
    default_timeout: float = DEFAULT_TIMEOUT,
    wait_for_ready: bool = True,
    connect_timeout: float | None = CONNECT_TIMEOUT,
    options: Sequence[tuple[str, object]] = (),
) -> AsyncAegisClient:
    """See `aegis_client.connect`: same address forms, token, and the same AegisError(UNAVAILABLE) when
    nothing answers at `address` within `connect_timeout` (None = connect on the first call)."""
    target, tls = split_address(address)
    opts = channel_options(options)
    if tls:
        channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options=opts)
    else:
        channel = grpc.aio.insecure_channel(target, options=opts)
    if connect_timeout is not None:
        try:
            await _await_ready(channel, address, connect_timeout)
        except AegisError:
            await channel.close(None)
            raise
    return AsyncAegisClient(channel, token=token, default_timeout=default_timeout, wait_for_ready=wait_for_ready)
