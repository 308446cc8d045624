"""A small synchronous client over the generated aegis.v1 stubs: connect, create/send-and-wait, answer,
approve/reject, a self-resuming watch, and errors carrying their ErrorInfo reason. Every call has a deadline."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar, Union

import grpc
from google.protobuf.duration_pb2 import Duration

from .errors import REVISION_COMPACTED, AegisError
from .gen.aegis.v1 import aegis_pb2 as pb
from .gen.aegis.v1 import aegis_pb2_grpc as pb_grpc

log = logging.getLogger("aegis_client")

T = TypeVar("T")
Metadata = tuple[tuple[str, Union[str, bytes]], ...]

#: The address `aegis serve` listens on by default.
DEFAULT_ADDRESS = "127.0.0.1:50051"
#: How long `connect` waits for the connection (a refused connection fails at once), seconds.
CONNECT_TIMEOUT = 3.0
#: Default deadline of a plain unary call, seconds.
DEFAULT_TIMEOUT = 30.0
#: Extra deadline given to a call that waits server-side, on top of its wait timeout.
WAIT_MARGIN = 30.0
#: The server caps one wait at 10 minutes; longer waits are done in several calls.
SERVER_WAIT_CAP = 600.0

#: Codes after which `watch` reconnects (the stream dropped, the server restarted, our own stream deadline).
RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def wait_options(timeout: float, states: Sequence["pb.SessionState.ValueType"] = ()) -> pb.WaitOptions:
    """WaitOptions for `timeout` seconds (capped at the server's 10 minutes); empty states = any stable."""
    opts = pb.WaitOptions(states=list(states))
    opts.timeout.CopyFrom(_duration(min(timeout, SERVER_WAIT_CAP)))
    return opts


def state_name(state: int) -> str:
    try:
        return pb.SessionState.Name(state)  # type: ignore[arg-type]
    except ValueError:
        return f"SESSION_STATE_{state}"


# -- request builders shared by the sync and asyncio clients ----------------------------------------------

Answers = Union[Mapping[str, Union[str, Sequence[str]]], Sequence[pb.QuestionAnswer]]


def _add_wait(req: Any, wait_timeout: float | None) -> None:
    if wait_timeout:
        req.wait.CopyFrom(wait_options(wait_timeout))


def create_request(
    work_dir: str,
    prompt: str,
    timeout: float,
    states: Sequence["pb.SessionState.ValueType"],
    request_id: str,
    fields: Mapping[str, object],
) -> pb.CreateSessionRequest:
    req = pb.CreateSessionRequest(work_dir=work_dir, prompt=prompt, request_id=request_id, **fields)  # type: ignore[arg-type]
    req.wait.CopyFrom(wait_options(timeout, states))
    return req


def send_request(
    session_id: str,
    text: str,
    kind: "pb.MessageKind.ValueType",
    timeout: float,
    states: Sequence["pb.SessionState.ValueType"],
    request_id: str,
) -> pb.SendMessageRequest:
    req = pb.SendMessageRequest(session_id=session_id, text=text, kind=kind, request_id=request_id)
    req.wait.CopyFrom(wait_options(timeout, states))
    return req


def answer_request(
    session_id: str, interaction_id: str, answers: Answers, wait_timeout: float | None, request_id: str
) -> pb.AnswerQuestionRequest:
    if isinstance(answers, Mapping):
        qa = [
            pb.QuestionAnswer(question=q, selected_labels=[a] if isinstance(a, str) else list(a))
            for q, a in answers.items()
        ]
    else:
        qa = list(answers)
    req = pb.AnswerQuestionRequest(session_id=session_id, interaction_id=interaction_id, answers=qa, request_id=request_id)
    _add_wait(req, wait_timeout)
    return req


def watch_request(
    session_id: str,
    start_revision: int,
    include_snapshot: bool,
    until_states: Sequence["pb.SessionState.ValueType"],
    heartbeat_interval: float,
) -> pb.WatchSessionRequest:
    req = pb.WatchSessionRequest(
        session_id=session_id,
        start_revision=start_revision,
        include_snapshot=include_snapshot,
        until_states=list(until_states),
    )
    req.heartbeat_interval.CopyFrom(_duration(heartbeat_interval))
    return req


class AegisClient:
    """Connection to one Aegis server. Use `connect()`; close it (or use `with`) when done."""

    def __init__(
        self,
        channel: grpc.Channel,
        token: str | None = None,
        default_timeout: float = DEFAULT_TIMEOUT,
        wait_for_ready: bool = True,
    ):
        self.channel = channel
        self.stub = pb_grpc.SessionServiceStub(channel)
        self.default_timeout = default_timeout
        # Calls wait (within their deadline) for the channel to (re)connect instead of failing at once with
        # UNAVAILABLE while the server restarts. Nothing is sent before the connection is up.
        self.wait_for_ready = wait_for_ready
        self.metadata: Metadata = (("authorization", f"Bearer {token}"),) if token else ()

    # -- plumbing ------------------------------------------------------------------------------------

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "AegisClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: Callable[..., T], request: object, timeout: float | None = None) -> T:
        """Calls a unary stub method with the bearer token and a deadline; raises AegisError."""
        try:
            return method(
                request,
                timeout=timeout or self.default_timeout,
                metadata=self.metadata,
                wait_for_ready=self.wait_for_ready,
            )
        except grpc.RpcError as err:
            raise AegisError.from_rpc_error(err) from None

    # -- sessions ------------------------------------------------------------------------------------

    def get_session(self, session_id: str, timeout: float | None = None) -> pb.Session:
        return self.call(self.stub.GetSession, pb.GetSessionRequest(session_id=session_id), timeout).session

    def list_sessions(self, include_exited: bool = False, timeout: float | None = None) -> list[pb.Session]:
        out: list[pb.Session] = []
        token = ""
        while True:
            resp = self.call(
                self.stub.ListSessions,
                pb.ListSessionsRequest(include_exited=include_exited, page_token=token),
                timeout,
            )
            out.extend(resp.sessions)
            token = resp.next_page_token
            if not token:
                return out

    def delete_session(self, session_id: str, request_id: str = "", timeout: float | None = None) -> pb.Session:
        req = pb.DeleteSessionRequest(session_id=session_id, request_id=request_id)
        return self.call(self.stub.DeleteSession, req, timeout).session

    def server_info(self, timeout: float | None = None) -> pb.GetServerInfoResponse:
        return self.call(self.stub.GetServerInfo, pb.GetServerInfoRequest(), timeout)

    def wait(
        self,
        session_id: str,
        timeout: float = 300.0,
        states: Sequence["pb.SessionState.ValueType"] = (),
        after_revision: int = 0,
    ) -> pb.Session:
        """Blocks until the session is in a wanted state (any stable state when `states` is empty) entered
        after `after_revision`, in server-side waits of at most 10 minutes each. Returns the session; raises
        AegisError(DEADLINE_EXCEEDED) when `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AegisError(grpc.StatusCode.DEADLINE_EXCEEDED, f"session {session_id} not settled in {timeout}s")
            req = pb.WaitSessionRequest(
                session_id=session_id, after_revision=after_revision, wait=wait_options(left, states)
            )
            resp = self.call(self.stub.WaitSession, req, min(left, SERVER_WAIT_CAP) + WAIT_MARGIN)
            if resp.wait_result.satisfied:
                return resp.session
            after_revision = resp.session.revision

    def _settle(
        self,
        session: pb.Session,
        result: pb.WaitResult,
        deadline: float,
        states: Sequence["pb.SessionState.ValueType"],
    ) -> pb.Session:
        if result.satisfied:
            return session
        return self.wait(session.id, max(deadline - time.monotonic(), 0.001), states, session.revision)

    def create_and_wait(
        self,
        work_dir: str,
        prompt: str = "",
        *,
        timeout: float = 300.0,
        states: Sequence["pb.SessionState.ValueType"] = (),
        request_id: str = "",
        **fields: object,
    ) -> pb.Session:
        """Creates a session (optionally with a first prompt) and waits until it is settled (or in `states`).
        Extra `fields` go to CreateSessionRequest (name, permission_mode, model, env, extra_args, labels…)."""
        deadline = time.monotonic() + timeout
        req = create_request(work_dir, prompt, timeout, states, request_id, fields)
        resp = self.call(self.stub.CreateSession, req, min(timeout, SERVER_WAIT_CAP) + WAIT_MARGIN)
        return self._settle(resp.session, resp.wait_result, deadline, states)

    def send_and_wait(
        self,
        session_id: str,
        text: str,
        *,
        kind: "pb.MessageKind.ValueType" = pb.MESSAGE_KIND_PROMPT,
        timeout: float = 300.0,
        states: Sequence["pb.SessionState.ValueType"] = (),
        request_id: str = "",
    ) -> pb.Session:
        """Sends a prompt (or slash command / bash line) and waits for a settled state reached by this turn."""
        deadline = time.monotonic() + timeout
        req = send_request(session_id, text, kind, timeout, states, request_id)
        resp = self.call(self.stub.SendMessage, req, min(timeout, SERVER_WAIT_CAP) + WAIT_MARGIN)
        return self._settle(resp.session, resp.wait_result, deadline, states)

    # -- interactions --------------------------------------------------------------------------------

    def answer(
        self,
        session_id: str,
        interaction_id: str,
        answers: Answers,
        *,
        wait_timeout: float | None = None,
        request_id: str = "",
    ) -> pb.AnswerQuestionResponse:
        """Answers a pending AskUserQuestion by id. `answers` maps question text (or header) to the chosen
        label(s), or is a list of QuestionAnswer (for free text). With `wait_timeout`, also waits."""
        req = answer_request(session_id, interaction_id, answers, wait_timeout, request_id)
        return self.call(self.stub.AnswerQuestion, req, (wait_timeout or 0) + WAIT_MARGIN)

    def approve(
        self,
        session_id: str,
        interaction_id: str,
        *,
        scope: "pb.ApprovalScope.ValueType" = pb.APPROVAL_SCOPE_ONCE,
        plan_mode: "pb.PlanApprovalMode.ValueType" = pb.PLAN_APPROVAL_MODE_UNSPECIFIED,
        wait_timeout: float | None = None,
        request_id: str = "",
    ) -> pb.ApprovePermissionResponse:
        """Approves a pending permission / bash / plan / trust interaction by id."""
        req = pb.ApprovePermissionRequest(
            session_id=session_id, interaction_id=interaction_id, scope=scope, plan_mode=plan_mode, request_id=request_id
        )
        _add_wait(req, wait_timeout)
        return self.call(self.stub.ApprovePermission, req, (wait_timeout or 0) + WAIT_MARGIN)

    def reject(
        self,
        session_id: str,
        interaction_id: str,
        feedback: str = "",
        *,
        wait_timeout: float | None = None,
        request_id: str = "",
    ) -> pb.RejectPermissionResponse:
        """Rejects a pending permission / bash / plan / trust interaction by id, with optional feedback."""
        req = pb.RejectPermissionRequest(
            session_id=session_id, interaction_id=interaction_id, feedback=feedback, request_id=request_id
        )
        _add_wait(req, wait_timeout)
        return self.call(self.stub.RejectPermission, req, (wait_timeout or 0) + WAIT_MARGIN)

    # -- transcript ----------------------------------------------------------------------------------

    def transcript(
        self, session_id: str, kinds: Sequence["pb.EntryKind.ValueType"] = (), timeout: float | None = None
    ) -> list[pb.TranscriptEntry]:
        """All transcript entries (every page)."""
        out: list[pb.TranscriptEntry] = []
        cursor = 0
        while True:
            req = pb.GetTranscriptRequest(session_id=session_id, cursor=cursor, limit=1000, kinds=list(kinds))
            resp = self.call(self.stub.GetTranscript, req, timeout)
            out.extend(resp.entries)
            if not resp.entries or resp.next_cursor <= cursor:
                return out
            cursor = resp.next_cursor

    def last_assistant_text(self, session_id: str) -> str:
        entries = self.transcript(session_id, kinds=[pb.ENTRY_KIND_ASSISTANT_TEXT])
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
        stop: threading.Event | None = None,
        on_resume: Callable[[AegisError, int], None] | None = None,
    ) -> Iterator[pb.WatchSessionResponse]:
        """Session events that survive dropped streams and server restarts; see `watch_session`."""
        req = watch_request(session_id, start_revision, include_snapshot, until_states, heartbeat_interval)

        def open_stream(r: pb.WatchSessionRequest) -> Iterable[pb.WatchSessionResponse]:
            # Fail fast while the server is away: the resume loop retries with its own backoff and limit.
            return self.stub.WatchSession(r, timeout=stream_timeout, metadata=self.metadata, wait_for_ready=False)

        return watch_session(
            open_stream, req, heartbeats=heartbeats, reconnect_timeout=reconnect_timeout, stop=stop, on_resume=on_resume
        )


class WatchResume:
    """The resume state machine shared by the sync and asyncio watch loops (no I/O here).

    `accept(item)` says whether to hand an item to the consumer (replays and, unless asked for, heartbeats are
    dropped); `after_end(err)` decides what to do when a stream ended (err None = clean end): returns None to
    stop, raises the error when it is final, else returns the delay before reopening with `self.request`."""

    def __init__(
        self,
        request: pb.WatchSessionRequest,
        *,
        heartbeats: bool,
        reconnect_timeout: float,
        min_backoff: float,
        max_backoff: float,
        on_resume: Callable[[AegisError, int], None] | None,
    ) -> None:
        self.original = request
        self.request = request
        self.heartbeats = heartbeats
        self.reconnect_timeout = reconnect_timeout
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.on_resume = on_resume
        self.until = set(request.until_states)
        self.last = request.start_revision - 1 if request.start_revision > 0 else -1  # -1: nothing seen yet
        self.last_state: int | None = None
        self.backoff = min_backoff
        self.failing_since: float | None = None

    def accept(self, item: pb.WatchSessionResponse) -> bool:
        which = item.WhichOneof("item")
        if which == "snapshot":
            self.last = item.snapshot.revision
            self.last_state = item.snapshot.state
        elif which == "event":
            if self.last >= 0 and item.event.revision <= self.last:
                return False  # replayed after a resume
            self.last = item.event.revision
            self.last_state = item.event.state
        self.failing_since, self.backoff = None, self.min_backoff
        return which in ("snapshot", "event") or self.heartbeats

    def after_end(self, err: AegisError | None) -> float | None:
        sid = self.original.session_id
        if err is None:
            # Clean end: the server saw an until-state, or the session is gone for good. A clean end in any
            # other case (e.g. a server shutting down gracefully) is resumed like a drop.
            if (self.until and self.last_state in self.until) or self.last_state == pb.SESSION_STATE_EXITED:
                return None
            err = AegisError(grpc.StatusCode.UNAVAILABLE, "watch stream ended early")
        if err.code == grpc.StatusCode.OUT_OF_RANGE and err.reason == REVISION_COMPACTED:
            log.info("watch %s: revision %d compacted; re-snapshotting", sid, self.last + 1)
            self.request = _resume_request(self.original, snapshot=True, start=0)
            self.last = -1
            if self.on_resume is not None:
                self.on_resume(err, 0)
            return 0.0  # immediately: not a failure
        if err.code not in RETRYABLE_CODES:
            raise err
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        elif now - self.failing_since > self.reconnect_timeout:
            raise err
        delay = self.backoff
        log.info("watch %s: %s; resuming from revision %d in %.1fs", sid, err, self.last + 1, delay)
        self.backoff = min(self.backoff * 2, self.max_backoff)
        if self.last >= 0:
            self.request = _resume_request(self.original, snapshot=False, start=self.last + 1)
        # else: nothing seen yet, reopen with the original request
        if self.on_resume is not None:
            self.on_resume(err, self.request.start_revision)
        return delay


def watch_session(
    open_stream: Callable[[pb.WatchSessionRequest], Iterable[pb.WatchSessionResponse]],
    request: pb.WatchSessionRequest,
    *,
    heartbeats: bool = False,
    reconnect_timeout: float = 120.0,
    min_backoff: float = 0.1,
    max_backoff: float = 2.0,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_resume: Callable[[AegisError, int], None] | None = None,
) -> Iterator[pb.WatchSessionResponse]:
    """The resume loop behind `AegisClient.watch`, transport-independent (tests pass a fake `open_stream`).

    - Yields snapshots and events (and heartbeats when asked), each event once, in revision order.
    - After a retryable error (UNAVAILABLE, a dropped stream, the stream's own deadline…) it reopens the
      stream from the last revision seen + 1, with backoff, for up to `reconnect_timeout` seconds without
      progress, then raises the last AegisError.
    - On OUT_OF_RANGE with reason REVISION_COMPACTED it re-snapshots (include_snapshot, start_revision 0):
      the next item is then a fresh snapshot, and events continue after it.
    - Ends when the server ends the stream after `until_states` was reached, or after the session EXITED.
    - Any other error is raised as AegisError (e.g. NOT_FOUND / SESSION_NOT_FOUND).
    - `on_resume(error, start_revision)` is called before each reopen (start_revision 0 = re-snapshot).
    """
    st = WatchResume(
        request,
        heartbeats=heartbeats,
        reconnect_timeout=reconnect_timeout,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        on_resume=on_resume,
    )
    while stop is None or not stop.is_set():
        stream = open_stream(st.request)
        err: AegisError | None = None
        try:
            for item in stream:
                if st.accept(item):
                    yield item
                if stop is not None and stop.is_set():
                    return
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
            sleep(delay)


def _resume_request(original: pb.WatchSessionRequest, *, snapshot: bool, start: int) -> pb.WatchSessionRequest:
    req = pb.WatchSessionRequest()
    req.CopyFrom(original)
    req.include_snapshot = snapshot
    req.start_revision = start
    return req


def channel_options(options: Sequence[tuple[str, object]] = ()) -> list[tuple[str, object]]:
    """The channel options of `connect` (shared with `aegis_client.aio`), then yours."""
    return [
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        # Reconnect quickly after a server restart (the default backoff grows to minutes).
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
        *options,
    ]


def split_address(address: str) -> tuple[str, bool]:
    """("host:port", tls) from "host:port", "http://host:port" or "https://host:port"."""
    if address.startswith("https://"):
        return address[len("https://") :], True
    return address.removeprefix("http://"), False


def unreachable(address: str, timeout: float, state: object) -> AegisError:
    """The error of a connect that did not reach the server (same wording in the sync and asyncio clients)."""
    why = "connection failed" if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE else f"no connection in {timeout:g} s"
    return AegisError(
        grpc.StatusCode.UNAVAILABLE,
        f"cannot reach the Aegis server at {address}: {why} (is `aegis serve` listening there?)",
    )


def _await_ready(channel: grpc.Channel, address: str, timeout: float) -> None:
    """Returns once the channel is READY; raises AegisError(UNAVAILABLE) at its first failed attempt (e.g.
    connection refused) or after `timeout` seconds (e.g. a host that drops packets)."""
    done = threading.Event()
    seen: list[grpc.ChannelConnectivity] = []

    def on_state(state: grpc.ChannelConnectivity) -> None:
        seen.append(state)
        if state in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE):
            done.set()

    channel.subscribe(on_state, try_to_connect=True)
    try:
        done.wait(timeout)
    finally:
        channel.unsubscribe(on_state)
    last = seen[-1] if seen else None
    if last != grpc.ChannelConnectivity.READY:
        raise unreachable(address, timeout, last)


def connect(
    address: str = DEFAULT_ADDRESS,
    token: str | None = None,
    *,
    default_timeout: float = DEFAULT_TIMEOUT,
    wait_for_ready: bool = True,
    connect_timeout: float | None = CONNECT_TIMEOUT,
    options: Sequence[tuple[str, object]] = (),
) -> AegisClient:
    """Connects to an Aegis server at "host:port" (plaintext) or "https://host:port" (TLS); the default is the
    server's own default, 127.0.0.1:50051. The bearer token, when given, is sent as `authorization: Bearer
    <token>` on every call.

    The connection is made here: when nothing answers at `address` (refused, or no connection within
    `connect_timeout` seconds) this raises AegisError(UNAVAILABLE) instead of returning a client whose calls
    would wait for a server that is not there. `connect_timeout=None` connects lazily (on the first call).
    Once connected, with `wait_for_ready` (the default) a call made while the server restarts waits, within
    its deadline, for the connection to come back."""
    target, tls = split_address(address)
    opts = channel_options(options)
    if tls:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=opts)
    else:
        channel = grpc.insecure_channel(target, options=opts)
    if connect_timeout is not None:
        try:
            _await_ready(channel, address, connect_timeout)
        except AegisError:
            channel.close()
            raise
    return AegisClient(channel, token=token, default_timeout=default_timeout, wait_for_ready=wait_for_ready)
