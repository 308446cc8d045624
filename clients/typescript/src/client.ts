// A small hand-written layer over the generated aegis.v1 service: connect with a bearer token,
// create/send-and-wait, answer/approve/reject by interaction id, a self-resuming watch, and errors carrying
// their ErrorInfo reason. Every call gets a deadline.
import { Code, createClient, type CallOptions, type Client, type Interceptor } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  ApprovalScope,
  EntryKind,
  MessageKind,
  SessionService,
  SessionState,
  WaitOptionsSchema,
  WatchSessionRequestSchema,
  type AnswerQuestionResponse,
  type ApprovePermissionResponse,
  type CreateSessionRequestSchema,
  type RejectPermissionResponse,
  type Session,
  type TranscriptEntry,
  type WaitOptions,
  type WaitResult,
  type WatchSessionRequestSchema as WatchReqSchema,
  type WatchSessionResponse,
} from "./gen/aegis/v1/aegis_pb.js";
import { AegisError } from "./errors.js";
import { watchSession, type WatchOptions } from "./watch.js";

/** The address `aegis serve` listens on by default. */
export const DEFAULT_ADDRESS = "127.0.0.1:50051";
/** How long `ready()` waits for the connection (a refused connection fails at once). */
export const CONNECT_TIMEOUT_MS = 3_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const WAIT_MARGIN_MS = 30_000;
export const SERVER_WAIT_CAP_MS = 600_000;

/** Wait options for `timeoutMs` (capped at the server's 10 minutes); no states = any stable state. */
export function waitOptions(timeoutMs: number, states: SessionState[] = []): WaitOptions {
  return create(WaitOptionsSchema, { states, timeout: durationFromMs(Math.min(timeoutMs, SERVER_WAIT_CAP_MS)) });
}

export function stateName(s: SessionState): string {
  return SessionState[s] ?? String(s);
}

export interface ConnectOptions {
  /** Deadline of a plain unary call (default 30 s). */
  defaultTimeoutMs?: number;
  interceptors?: Interceptor[];
}

export class AegisClient {
  /** The generated client (every RPC of aegis.v1.SessionService). */
  readonly raw: Client<typeof SessionService>;
  readonly defaultTimeoutMs: number;

  /** The address given to `connect` (for error messages). */
  readonly address: string;

  private readonly session: Http2SessionManager | undefined;

  constructor(
    raw: Client<typeof SessionService>,
    defaultTimeoutMs = DEFAULT_TIMEOUT_MS,
    session?: Http2SessionManager,
    address = "",
  ) {
    this.raw = raw;
    this.defaultTimeoutMs = defaultTimeoutMs;
    this.session = session;
    this.address = address;
  }

  /** Opens the connection now. Throws AegisError(Unavailable) when nothing answers at the address (at the
   * first failed attempt, or after `timeoutMs`, e.g. for a host that drops packets). */
  async ready(timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
    if (!this.session) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), timeoutMs);
      timer.unref();
    });
    const st = await Promise.race([this.session.connect(), timedOut]).finally(() => clearTimeout(timer));
    if (st === "timeout") throw this.unreachable(`no connection in ${timeoutMs} ms`);
    if (st === "error") {
      const e = this.session.error();
      throw this.unreachable(e instanceof Error ? e.message : String(e), e);
    }
  }

  private unreachable(why: string, cause?: unknown): AegisError {
    return new AegisError(
      Code.Unavailable,
      `cannot reach the Aegis server at ${this.address}: ${why} (is \`aegis serve\` listening there?)`,
      undefined,
      { cause },
    );
  }

  /** Closes the HTTP/2 connection (open calls fail); the process can then exit. */
  close(): void {
    this.session?.abort();
  }

  /** Runs a call with a deadline; errors become AegisError. */
  async call<T>(fn: (opts: CallOptions) => Promise<T>, timeoutMs?: number): Promise<T> {
    try {
      return await fn({ timeoutMs: timeoutMs ?? this.defaultTimeoutMs });
    } catch (e) {
      const err = AegisError.from(e);
      // No connection at all (refused, unresolvable…): say so, as the Python and Go clients do.
      if (err.code === Code.Unavailable && this.session?.state() === "error") throw this.unreachable(err.message, e);
      throw err;
    }
  }

  async getSession(sessionId: string): Promise<Session> {
    const r = await this.call((o) => this.raw.getSession({ sessionId }, o));
    return r.session!;
  }

  async deleteSession(sessionId: string): Promise<Session> {
    const r = await this.call((o) => this.raw.deleteSession({ sessionId }, o));
    return r.session!;
  }

  /** Blocks until the session is in a wanted state (any stable one when `states` is empty) entered after
   * `afterRevision` (0 = its revision now), in server waits of at most 10 minutes. Throws
   * AegisError(DeadlineExceeded) when `timeoutMs` passes first. */
  async wait(sessionId: string, timeoutMs = 300_000, states: SessionState[] = [], afterRevision = 0n): Promise<Session> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new AegisError(Code.DeadlineExceeded, `session ${sessionId} not settled in ${timeoutMs} ms`);
      const r = await this.call(
        (o) => this.raw.waitSession({ sessionId, afterRevision, wait: waitOptions(left, states) }, o),
        Math.min(left, SERVER_WAIT_CAP_MS) + WAIT_MARGIN_MS,
      );
      if (r.waitResult?.satisfied) return r.session!;
      afterRevision = r.session?.revision ?? afterRevision;
    }
  }

  private settle(s: Session, res: WaitResult | undefined, deadline: number, states: SessionState[]): Promise<Session> {
    if (res?.satisfied) return Promise.resolve(s);
    return this.wait(s.id, Math.max(deadline - Date.now(), 1), states, s.revision);
  }

  /** Creates a session (optionally with a first prompt) and waits until it is settled (or in `states`). */
  async createAndWait(
    req: MessageInitShape<typeof CreateSessionRequestSchema>,
    timeoutMs = 300_000,
    states: SessionState[] = [],
  ): Promise<Session> {
    const deadline = Date.now() + timeoutMs;
    const r = await this.call(
      (o) => this.raw.createSession({ ...req, wait: waitOptions(timeoutMs, states) }, o),
      Math.min(timeoutMs, SERVER_WAIT_CAP_MS) + WAIT_MARGIN_MS,
    );
    return this.settle(r.session!, r.waitResult, deadline, states);
  }

  /** Sends a prompt and waits for a settled state reached by this turn. */
  async sendAndWait(sessionId: string, text: string, timeoutMs = 300_000, states: SessionState[] = []): Promise<Session> {
    const deadline = Date.now() + timeoutMs;
    const r = await this.call(
      (o) =>
        this.raw.sendMessage({ sessionId, text, kind: MessageKind.PROMPT, wait: waitOptions(timeoutMs, states) }, o),
      Math.min(timeoutMs, SERVER_WAIT_CAP_MS) + WAIT_MARGIN_MS,
    );
    return this.settle(r.session!, r.waitResult, deadline, states);
  }

  /** Answers a pending AskUserQuestion by id: question text (or header) -> chosen label(s). */
  answer(
    sessionId: string,
    interactionId: string,
    answers: Record<string, string | string[]>,
    waitTimeoutMs = 0,
  ): Promise<AnswerQuestionResponse> {
    const qa = Object.entries(answers).map(([question, a]) => ({
      question,
      selectedLabels: Array.isArray(a) ? a : [a],
    }));
    return this.call(
      (o) =>
        this.raw.answerQuestion(
          { sessionId, interactionId, answers: qa, wait: waitTimeoutMs ? waitOptions(waitTimeoutMs) : undefined },
          o,
        ),
      waitTimeoutMs + WAIT_MARGIN_MS,
    );
  }

  /** Approves a pending permission / bash / plan / trust interaction by id. */
  approve(
    sessionId: string,
    interactionId: string,
    waitTimeoutMs = 0,
    scope: ApprovalScope = ApprovalScope.ONCE,
  ): Promise<ApprovePermissionResponse> {
    return this.call(
      (o) =>
        this.raw.approvePermission(
          { sessionId, interactionId, scope, wait: waitTimeoutMs ? waitOptions(waitTimeoutMs) : undefined },
          o,
        ),
      waitTimeoutMs + WAIT_MARGIN_MS,
    );
  }

  /** Rejects a pending permission / bash / plan / trust interaction by id, with optional feedback. */
  reject(sessionId: string, interactionId: string, feedback = "", waitTimeoutMs = 0): Promise<RejectPermissionResponse> {
    return this.call(
      (o) =>
        this.raw.rejectPermission(
          { sessionId, interactionId, feedback, wait: waitTimeoutMs ? waitOptions(waitTimeoutMs) : undefined },
          o,
        ),
      waitTimeoutMs + WAIT_MARGIN_MS,
    );
  }

  /** All transcript entries (every page), optionally only some kinds. */
  async transcript(sessionId: string, kinds: EntryKind[] = []): Promise<TranscriptEntry[]> {
    const out: TranscriptEntry[] = [];
    let cursor = 0n;
    for (;;) {
      const r = await this.call((o) => this.raw.getTranscript({ sessionId, cursor, limit: 1000, kinds }, o));
      out.push(...r.entries);
      if (r.entries.length === 0 || r.nextCursor <= cursor) return out;
      cursor = r.nextCursor;
    }
  }

  async lastAssistantText(sessionId: string): Promise<string> {
    const es = await this.transcript(sessionId, [EntryKind.ASSISTANT_TEXT]);
    return es.at(-1)?.text ?? "";
  }

  /** Session snapshots and events that survive dropped streams and server restarts; see `watchSession`.
   * Each stream has a deadline (`streamTimeoutMs`, default 10 min) after which it resumes transparently. */
  watch(
    req: MessageInitShape<typeof WatchReqSchema>,
    opts: WatchOptions & { heartbeatIntervalMs?: number; streamTimeoutMs?: number } = {},
  ): AsyncGenerator<WatchSessionResponse> {
    const request = create(WatchSessionRequestSchema, {
      heartbeatInterval: durationFromMs(opts.heartbeatIntervalMs ?? 5_000),
      ...req,
    });
    const streamTimeoutMs = opts.streamTimeoutMs ?? 600_000;
    // The stream deadline is an AbortSignal.timeout (an unref'd timer): connect's own `timeoutMs` timer would
    // keep the process alive for the whole deadline after a consumer stops early.
    return watchSession(
      (r, signal) => this.raw.watchSession(r, { signal: AbortSignal.any([signal, AbortSignal.timeout(streamTimeoutMs)]) }),
      request,
      opts,
    );
  }
}

/** Connects to "host:port" (plaintext) or "https://host:port" (TLS) over gRPC (HTTP/2); the default is the
 * server's own, 127.0.0.1:50051. A non-empty token is sent as `authorization: Bearer <token>` on every call.
 * The connection is made on the first call; when nothing answers at `address` that call fails at once with
 * AegisError(Unavailable) "cannot reach the Aegis server at …". `await client.ready()` checks it up front. */
export function connect(address: string = DEFAULT_ADDRESS, token?: string, opts: ConnectOptions = {}): AegisClient {
  const baseUrl = /^https?:\/\//.test(address) ? address : `http://${address}`;
  const interceptors: Interceptor[] = [...(opts.interceptors ?? [])];
  if (token) {
    interceptors.unshift((next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    });
  }
  const pingOptions = { pingIntervalMs: 30_000, pingTimeoutMs: 10_000, idleConnectionTimeoutMs: 60_000 };
  const sessionManager = new Http2SessionManager(baseUrl, pingOptions);
  const transport = createGrpcTransport({ baseUrl, interceptors, sessionManager, ...pingOptions });
  return new AegisClient(createClient(SessionService, transport), opts.defaultTimeoutMs, sessionManager, address);
}
