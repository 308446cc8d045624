"""Python client for Aegis (aegis.v1): generated stubs (`aegis_client.pb`, `aegis_client.pb_grpc`) plus a
small hand-written layer: `connect`, create/send-and-wait, answer/approve/reject, a self-resuming `watch`,
and `AegisError` with the server's ErrorInfo reason. `aegis_client.aio` is the asyncio twin."""

from . import aio
from .client import (
    CONNECT_TIMEOUT,
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    RETRYABLE_CODES,
    AegisClient,
    WatchResume,
    connect,
    state_name,
    wait_options,
    watch_session,
)
from .errors import DOMAIN, REVISION_COMPACTED, AegisError, ErrorInfo, error_info_from_metadata, parse_status_details
from .gen.aegis.v1 import aegis_pb2 as pb
from .gen.aegis.v1 import aegis_pb2_grpc as pb_grpc

__version__ = "1.0.0"

__all__ = [
    "AegisClient",
    "CONNECT_TIMEOUT",
    "DEFAULT_ADDRESS",
    "WatchResume",
    "aio",
    "AegisError",
    "DEFAULT_TIMEOUT",
    "DOMAIN",
    "ErrorInfo",
    "REVISION_COMPACTED",
    "RETRYABLE_CODES",
    "connect",
    "error_info_from_metadata",
    "parse_status_details",
    "__version__",
    "pb",
    "pb_grpc",
    "state_name",
    "wait_options",
    "watch_session",
]
