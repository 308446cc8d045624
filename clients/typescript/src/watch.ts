// The self-resuming watch loop, independent of the transport (tests drive it with fake streams).
import { Code } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  SessionState,
  WatchSessionRequestSchema,
  type WatchSessionRequest,
  type WatchSessionResponse,
} from "./gen/aegis/v1/aegis_pb.js";
import { AegisError, REVISION_COMPACTED } from "./errors.js";

/** Codes after which a watch reopens its stream. */
export const RETRYABLE_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Internal,
  Code.Unknown,
  Code.Aborted,
  Code.Canceled,
]);

export interface WatchOptions {
  /** Also yield heartbeat items. */
  heartbeats?: boolean;
  /** Give up after this long without progress while reconnecting (default 120 000 ms). */
  reconnectTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Ends the watch. */
  signal?: AbortSignal;
  /** Called before each reopen with the error and the new stream's start revision (0n = re-snapshot). */
  onResume?: (err: AegisError, startRevision: bigint) => void;
}

/** Opens one stream for a request; called again on every resume. */
export type OpenStream = (req: WatchSessionRequest, signal: AbortSignal) => AsyncIterable<WatchSessionResponse>;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/**
 * Yields a session's snapshots and events (each event once, in revision order), resuming by itself: after a
 * retryable error or an early end it reopens from the last revision seen + 1; on OUT_OF_RANGE with reason
 * REVISION_COMPACTED it re-snapshots (include_snapshot, start_revision 0). It ends when the server ends the
 * stream after one of `until_states` (or the session EXITED), or when `signal` aborts; it throws an
 * AegisError for a non-retryable error or after `reconnectTimeoutMs` without progress.
 */
export async function* watchSession(
  open: OpenStream,
  request: WatchSessionRequest,
  opts: WatchOptions = {},
): AsyncGenerator<WatchSessionResponse> {
  const reconnectTimeout = opts.reconnectTimeoutMs ?? 120_000;
  const minBackoff = opts.minBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 2_000;
  const until = new Set(request.untilStates);
  let last = request.startRevision > 0n ? request.startRevision - 1n : -1n;
  let lastState: SessionState | undefined;
  let req = request;
  let backoff = minBackoff;
  let failingSince: number | undefined;
  while (!opts.signal?.aborted) {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    let err: AegisError | undefined;
    try {
      for await (const item of open(req, ctl.signal)) {
        const it = item.item;
        if (it.case === "snapshot") {
          last = it.value.revision;
          lastState = it.value.state;
        } else if (it.case === "event") {
          if (last >= 0n && it.value.revision <= last) continue; // replayed after a resume
          last = it.value.revision;
          lastState = it.value.state;
        } else if (!opts.heartbeats) {
          failingSince = undefined;
          backoff = minBackoff;
          continue;
        }
        failingSince = undefined;
        backoff = minBackoff;
        yield item;
        if (opts.signal?.aborted) return;
      }
    } catch (e) {
      if (opts.signal?.aborted) return;
      err = AegisError.from(e);
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      ctl.abort(); // closes the stream when the consumer stops early
    }
    if (!err) {
      if ((lastState !== undefined && until.has(lastState)) || lastState === SessionState.EXITED) return;
      err = new AegisError(Code.Unavailable, "watch stream ended early");
    }
    if (err.code === Code.OutOfRange && err.reason === REVISION_COMPACTED) {
      req = create(WatchSessionRequestSchema, { ...request, includeSnapshot: true, startRevision: 0n });
      last = -1n;
      opts.onResume?.(err, 0n);
      continue;
    }
    if (!RETRYABLE_CODES.has(err.code)) throw err;
    const now = Date.now();
    if (failingSince === undefined) failingSince = now;
    else if (now - failingSince > reconnectTimeout) throw err;
    await sleep(backoff, opts.signal);
    backoff = Math.min(backoff * 2, maxBackoff);
    if (last >= 0n) {
      req = create(WatchSessionRequestSchema, { ...request, includeSnapshot: false, startRevision: last + 1n });
    }
    opts.onResume?.(err, req.startRevision);
  }
}
