"""Python client for Aegis (aegis.v1): generated stubs (`aegis_client.pb`, `aegis_client.pb_grpc`) plus a
small hand-written layer: `connect`, create/send-and-wait, answer/approve/reject, a self-resuming `watch`,
and `AegisError` with the server's ErrorInfo reason."""

from .client import (
    DEFAULT_TIMEOUT,
    RETRYABLE_CODES,
    AegisClient,
    connect,
    state_name,
    wait_options,
    watch_session,
)
from .errors import DOMAIN, REVISION_COMPACTED, AegisError, ErrorInfo, error_info_from_metadata, parse_status_details
from .gen.aegis.v1 import aegis_pb2 as pb
from .gen.aegis.v1 import aegis_pb2_grpc as pb_grpc

__all__ = [
    "AegisClient",
    "AegisError",
    "DEFAULT_TIMEOUT",
    "DOMAIN",
    "ErrorInfo",
    "REVISION_COMPACTED",
    "RETRYABLE_CODES",
    "connect",
    "error_info_from_metadata",
    "parse_status_details",
    "pb",
    "pb_grpc",
    "state_name",
    "wait_options",
    "watch_session",
]
