"""usage-ledger's Python SDK: validate, record and send usage events (see README.md)."""

from .client import Client, ClientClosed, Pending, QueueFull, Verdict, __version__, prepare_event
from .event import (
    HAVE_XXHASH,
    REASONS,
    InvalidEvent,
    JsonNumber,
    canonical_event,
    check,
    encode_event,
    format_micros,
    format_rfc3339,
    loads_event,
    parse_quantity,
    parse_rfc3339,
    payload_hash,
    validate,
)
from .uuid7 import uuid7

__all__ = [
    "Client",
    "ClientClosed",
    "Pending",
    "QueueFull",
    "Verdict",
    "prepare_event",
    "__version__",
    "HAVE_XXHASH",
    "REASONS",
    "InvalidEvent",
    "JsonNumber",
    "canonical_event",
    "check",
    "encode_event",
    "format_micros",
    "format_rfc3339",
    "loads_event",
    "parse_quantity",
    "parse_rfc3339",
    "payload_hash",
    "validate",
    "uuid7",
]
