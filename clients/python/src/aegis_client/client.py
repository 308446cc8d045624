"""A small synchronous client over the generated aegis.v1 stubs: connect, create/send-and-wait, answer,
approve/reject, a self-resuming watch, and errors carrying their ErrorInfo reason. Every call has a deadline."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable, Iterator, Mapping, Sequence, TypeVar, Union

import grpc
from google.protobuf.duration_pb2 import Duration

from .errors import REVISION_COMPACTED, AegisError
from .gen.aegis.v1 import aegis_pb2 as pb
from .gen.aegis.v1 import aegis_pb2_grpc as pb_grpc

log = logging.getLogger("aegis_client")

T = TypeVar("T")
Metadata = tuple[tuple[str, Union[str, bytes]], ...]

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
        req = pb.CreateSessionRequest(work_dir=work_dir, prompt=prompt, request_id=request_id, **fields)  # type: ignore[arg-type]
        req.wait.CopyFrom(wait_options(timeout, states))
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
        req = pb.SendMessageRequest(session_id=session_id, text=text, kind=kind, request_id=request_id)
        req.wait.CopyFrom(wait_options(timeout, states))
        resp = self.call(self.stub.SendMessage, req, min(timeout, SERVER_WAIT_CAP) + WAIT_MARGIN)
        return self._settle(resp.session, resp.wait_result, deadline, states)

    # -- interactions --------------------------------------------------------------------------------

    def answer(
        self,
        session_id: str,
        interaction_id: str,
        answers: Mapping[str, str | Sequence[str]] | Sequence[pb.QuestionAnswer],
        *,
        wait_timeout: float | None = None,
        request_id: str = "",
    ) -> pb.AnswerQuestionResponse:
        """Answers a pending AskUserQuestion by id. `answers` maps question text (or header) to the chosen
        label(s), or is a list of QuestionAnswer (for free text). With `wait_timeout`, also waits."""
        if isinstance(answers, Mapping):
            qa = [
                pb.QuestionAnswer(question=q, selected_labels=[a] if isinstance(a, str) else list(a))
                for q, a in answers.items()
            ]
        else:
            qa = list(answers)
        req = pb.AnswerQuestionRequest(
            session_id=session_id, interaction_id=interaction_id, answers=qa, request_id=request_id
        )
        if wait_timeout:
            req.wait.CopyFrom(wait_options(wait_timeout))
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
            session_id=session_id,
            interaction_id=interaction_id,
            scope=scope,
            plan_mode=plan_mode,
            request_id=request_id,
        )
        if wait_timeout:
            req.wait.CopyFrom(wait_options(wait_timeout))
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
        if wait_timeout:
            req.wait.CopyFrom(wait_options(wait_timeout))
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
        req = pb.WatchSessionRequest(
            session_id=session_id,
            start_revision=start_revision,
            include_snapshot=include_snapshot,
            until_states=list(until_states),
        )
        req.heartbeat_interval.CopyFrom(_duration(heartbeat_interval))

        def open_stream(r: pb.WatchSessionRequest) -> Iterable[pb.WatchSessionResponse]:
            # Fail fast while the server is away: the resume loop retries with its own backoff and limit.
            return self.stub.WatchSession(r, timeout=stream_timeout, metadata=self.metadata, wait_for_ready=False)

        return watch_session(
            open_stream, req, heartbeats=heartbeats, reconnect_timeout=reconnect_timeout, stop=stop, on_resume=on_resume
        )


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
    until = set(request.until_states)
    last = request.start_revision - 1 if request.start_revision > 0 else -1  # -1: nothing seen yet
    last_state: int | None = None
    req = request
    backoff = min_backoff
    failing_since: float | None = None
    while stop is None or not stop.is_set():
        stream = open_stream(req)
        err: AegisError | None = None
        try:
            for item in stream:
                which = item.WhichOneof("item")
                if which == "snapshot":
                    last = item.snapshot.revision
                    last_state = item.snapshot.state
                elif which == "event":
                    if last >= 0 and item.event.revision <= last:
                        continue  # replayed after a resume
                    last = item.event.revision
                    last_state = item.event.state
                elif not heartbeats:
                    failing_since, backoff = None, min_backoff
                    if stop is not None and stop.is_set():
                        return
                    continue
                failing_since, backoff = None, min_backoff
                yield item
                if stop is not None and stop.is_set():
                    return
        except grpc.RpcError as rpc_err:
            err = AegisError.from_rpc_error(rpc_err)
        finally:
            cancel = getattr(stream, "cancel", None)
            if cancel is not None:
                cancel()
        if err is None:
            # Clean end: the server saw an until-state, or the session is gone for good. A clean end in any
            # other case (e.g. a server shutting down gracefully) is resumed like a drop.
            if (until and last_state in until) or last_state == pb.SESSION_STATE_EXITED:
                return
            err = AegisError(grpc.StatusCode.UNAVAILABLE, "watch stream ended early")
        if err.code == grpc.StatusCode.OUT_OF_RANGE and err.reason == REVISION_COMPACTED:
            log.info("watch %s: revision %d compacted; re-snapshotting", request.session_id, last + 1)
            req = _resume_request(request, snapshot=True, start=0)
            last = -1
            if on_resume is not None:
                on_resume(err, 0)
            continue  # immediately: not a failure
        if err.code not in RETRYABLE_CODES:
            raise err
        now = time.monotonic()
        if failing_since is None:
            failing_since = now
        elif now - failing_since > reconnect_timeout:
            raise err
        log.info("watch %s: %s; resuming from revision %d in %.1fs", request.session_id, err, last + 1, backoff)
        sleep(backoff)
        backoff = min(backoff * 2, max_backoff)
        if last >= 0:
            req = _resume_request(request, snapshot=False, start=last + 1)
        # else: nothing seen yet, reopen with the original request
        if on_resume is not None:
            on_resume(err, req.start_revision)


def _resume_request(original: pb.WatchSessionRequest, *, snapshot: bool, start: int) -> pb.WatchSessionRequest:
    req = pb.WatchSessionRequest()
    req.CopyFrom(original)
    req.include_snapshot = snapshot
    req.start_revision = start
    return req


def connect(
    address: str,
    token: str | None = None,
    *,
    default_timeout: float = DEFAULT_TIMEOUT,
    wait_for_ready: bool = True,
    options: Sequence[tuple[str, object]] = (),
) -> AegisClient:
    """Connects to an Aegis server at "host:port" (plaintext) or "https://host:port" (TLS). The bearer token,
    when given, is sent as `authorization: Bearer <token>` on every call. With `wait_for_ready` (the default)
    a call made while the server is unreachable waits, within its deadline, for the connection."""
    opts = [
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        # Reconnect quickly after a server restart (the default backoff grows to minutes).
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
        *options,
    ]
    if address.startswith("https://"):
        channel = grpc.secure_channel(address[len("https://") :], grpc.ssl_channel_credentials(), options=opts)
    else:
        channel = grpc.insecure_channel(address.removeprefix("http://"), options=opts)
    return AegisClient(channel, token=token, default_timeout=default_timeout, wait_for_ready=wait_for_ready)
