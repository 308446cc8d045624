"""Aegis errors: a gRPC status plus the `google.rpc.ErrorInfo` detail (domain "aegis.dev")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import grpc
from google.rpc import error_details_pb2, status_pb2

DOMAIN = "aegis.dev"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
_ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"

# Stable reasons used by the helpers (the server may send others).
REVISION_COMPACTED = "REVISION_COMPACTED"


@dataclass(frozen=True)
class ErrorInfo:
    """The `google.rpc.ErrorInfo` carried by an Aegis error."""

    reason: str
    domain: str
    metadata: Mapping[str, str] = field(default_factory=dict)


def parse_status_details(raw: bytes) -> ErrorInfo | None:
    """Decodes a `grpc-status-details-bin` value (a google.rpc.Status) and returns its first ErrorInfo."""
    status = status_pb2.Status.FromString(raw)
    for detail in status.details:
        if detail.type_url.endswith("/google.rpc.ErrorInfo") or detail.type_url == _ERROR_INFO_TYPE:
            info = error_details_pb2.ErrorInfo.FromString(detail.value)
            return ErrorInfo(reason=info.reason, domain=info.domain, metadata=dict(info.metadata))
    return None


def error_info_from_metadata(metadata: Sequence[Any] | None) -> ErrorInfo | None:
    """Finds and decodes the status details in trailing metadata."""
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, (bytes, bytearray)):
            try:
                return parse_status_details(bytes(value))
            except Exception:  # malformed details: no ErrorInfo
                return None
    return None


class AegisError(Exception):
    """A failed Aegis call: gRPC `code`, the server's `message`, and the ErrorInfo `reason`, `domain` and
    `metadata` (empty when the server sent none). The same fields as the TypeScript and Go clients' errors."""

    def __init__(self, code: grpc.StatusCode, message: str, info: ErrorInfo | None = None) -> None:
        self.code = code
        self.message = message
        self.info = info
        reason = f" [{info.reason}]" if info else ""
        super().__init__(f"{code.name}{reason}: {message}")

    @property
    def reason(self) -> str:
        """The ErrorInfo reason, e.g. SESSION_NOT_FOUND; "" when none was sent."""
        return self.info.reason if self.info else ""

    @property
    def domain(self) -> str:
        """The ErrorInfo domain ("aegis.dev" for the server's errors); "" when none was sent."""
        return self.info.domain if self.info else ""

    @property
    def metadata(self) -> Mapping[str, str]:
        """The ErrorInfo metadata (e.g. {"session_id": ...}); empty when none was sent."""
        return self.info.metadata if self.info else {}

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError) -> "AegisError":
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        details = err.details() if hasattr(err, "details") else str(err)
        trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
        return cls(code or grpc.StatusCode.UNKNOWN, details or "", error_info_from_metadata(trailers))
