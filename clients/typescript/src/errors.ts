// Aegis errors: a gRPC status plus the google.rpc.ErrorInfo detail (domain "aegis.dev") that the server
// sends in the grpc-status-details-bin trailer.
import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { base64Decode } from "@bufbuild/protobuf/wire";

export const DOMAIN = "aegis.dev";
export const REVISION_COMPACTED = "REVISION_COMPACTED";
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** The google.rpc.ErrorInfo of an Aegis error. */
export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/** Decodes a serialized google.rpc.ErrorInfo (reason = 1, domain = 2, metadata = 3 map<string,string>). */
export function decodeErrorInfo(bytes: Uint8Array): ErrorInfo {
  const r = new BinaryReader(bytes);
  const out: ErrorInfo = { reason: "", domain: "", metadata: {} };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) out.reason = r.string();
    else if (field === 2 && wt === WireType.LengthDelimited) out.domain = r.string();
    else if (field === 3 && wt === WireType.LengthDelimited) {
      const e = new BinaryReader(r.bytes());
      let k = "";
      let v = "";
      while (e.pos < e.len) {
        const [f, w] = e.tag();
        if (f === 1 && w === WireType.LengthDelimited) k = e.string();
        else if (f === 2 && w === WireType.LengthDelimited) v = e.string();
        else e.skip(w);
      }
      out.metadata[k] = v;
    } else r.skip(wt);
  }
  return out;
}

/** Decodes a google.rpc.Status (code = 1, message = 2, details = 3 Any{type_url = 1, value = 2}) and returns
 * its first ErrorInfo, or undefined. */
export function errorInfoFromStatus(bytes: Uint8Array): ErrorInfo | undefined {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 3 && wt === WireType.LengthDelimited) {
      const a = new BinaryReader(r.bytes());
      let typeUrl = "";
      let value: Uint8Array = new Uint8Array();
      while (a.pos < a.len) {
        const [f, w] = a.tag();
        if (f === 1 && w === WireType.LengthDelimited) typeUrl = a.string();
        else if (f === 2 && w === WireType.LengthDelimited) value = a.bytes();
        else a.skip(w);
      }
      if (typeUrl.endsWith("/google.rpc.ErrorInfo")) return decodeErrorInfo(value);
    } else r.skip(wt);
  }
  return undefined;
}

/** The ErrorInfo of an error from a call (a ConnectError), from its parsed details or the raw trailer. */
export function errorInfoOf(err: unknown): ErrorInfo | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  for (const d of err.details) {
    if ("type" in d && d.type === "google.rpc.ErrorInfo") return decodeErrorInfo(d.value);
  }
  const raw = err.metadata.get(STATUS_DETAILS_KEY);
  if (raw) {
    try {
      return errorInfoFromStatus(base64Decode(raw));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function describe(code: Code, message: string, info?: ErrorInfo): string {
  return `${codeName(code)}${info ? ` [${info.reason}]` : ""}: ${message}`;
}

/** "NOT_FOUND" for Code.NotFound: the canonical gRPC name, as the Python and Go clients print it. */
export function codeName(code: Code): string {
  const n = Code[code];
  return n ? n.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() : String(code);
}

/** A failed Aegis call: gRPC `code`, the server's `message`, and the ErrorInfo `reason`, `domain` and
 * `metadata` ("" / {} when the server sent none): the same fields as the Python and Go clients' errors.
 * `toString()` and the stack header carry the whole description ("NOT_FOUND [SESSION_NOT_FOUND]: …"). */
export class AegisError extends Error {
  readonly code: Code;
  /** The server's message (same as `message`; kept for callers of the 0.x client). */
  readonly rawMessage: string;
  readonly info: ErrorInfo | undefined;

  constructor(code: Code, message: string, info?: ErrorInfo, options?: { cause?: unknown }) {
    const full = describe(code, message, info);
    super(full, options);
    this.name = "AegisError";
    // V8 formats the stack header on first access: do it while `message` is the full description, so an
    // uncaught error still shows code and reason; then `message` becomes the server's text.
    void this.stack;
    this.message = message;
    this.code = code;
    this.rawMessage = message;
    this.info = info;
  }

  get reason(): string {
    return this.info?.reason ?? "";
  }

  get domain(): string {
    return this.info?.domain ?? "";
  }

  get metadata(): Record<string, string> {
    return this.info?.metadata ?? {};
  }

  override toString(): string {
    return `${this.name}: ${describe(this.code, this.message, this.info)}`;
  }

  /** Wraps any error thrown by a call (ConnectError or other). AegisErrors are returned as they are. */
  static from(err: unknown): AegisError {
    if (err instanceof AegisError) return err;
    const ce = ConnectError.from(err);
    return new AegisError(ce.code, ce.rawMessage, errorInfoOf(ce), { cause: err });
  }
}
