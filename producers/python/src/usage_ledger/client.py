"""The HTTP client: validates, queues, batches and retries events to POST /v1/events.

Threading: `record`, `send`, `flush`, `close` and `stats` may be called from any thread. One
background sender thread per Client takes up to `batch_size` queued events at a time, posts them
as one JSON array and resolves each event's Pending with its Verdict; callbacks added to a
Pending run on that thread (keep them short). `send` posts on the calling thread over its own
connection. Nothing here uses floats for quantities.
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as _dt
import http.client
import json
import random
import threading
import time
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from collections.abc import Iterable, Mapping

from . import event as _event
from .event import InvalidEvent, JsonNumber
from .uuid7 import uuid7

__all__ = ["Client", "Pending", "Verdict", "QueueFull", "ClientClosed"]

__version__ = "0.1.0"

# The server refuses bodies over 1 MiB and requests of more than 10,000 events.
MAX_BODY_BYTES = 1 << 20
MAX_EVENTS_PER_REQUEST = 10_000
_FINAL = frozenset({"accepted", "duplicate", "conflict", "invalid", "queued"})


class QueueFull(RuntimeError):
    """record() found `max_queue` events not yet settled: slow down, or flush()."""


class ClientClosed(RuntimeError):
    """record() after close()."""


@dataclass(frozen=True)
class Verdict:
    """What became of one event.

    status: accepted / duplicate / conflict / invalid (the ledger's verdict, wait=committed);
    queued (wait=acknowledged: Kafka took it, no verdict yet); failed (not delivered: retries
    exhausted, an unretryable HTTP answer, or the client closed first; `error` says why — the
    ledger may still have it, and sending it again with the same key counts it once).
    A retry after a lost answer reports `duplicate` for an event the lost attempt accepted.
    """

    status: str
    idempotency_key: str
    tenant_id: str
    error: str | None = None
    reason: str | None = None  # invalid: the reason code
    ledger_partition: int | None = None
    ledger_sequence: int | None = None
    partition: int | None = None
    offset: int | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True when the ledger has the event once (accepted or duplicate) or Kafka took it."""
        return self.status in ("accepted", "duplicate", "queued")


class Pending(concurrent.futures.Future):
    """A recorded event on its way: `result(timeout)` waits for and returns its Verdict (it never
    raises for a delivery failure: that is a `failed` Verdict; only TimeoutError on timeout)."""

    def __init__(self, idempotency_key: str, tenant_id: str) -> None:
        super().__init__()
        self.idempotency_key = idempotency_key
        self.tenant_id = tenant_id

    def cancel(self) -> bool:
        """Always False: a recorded event cannot be taken back (it may be on the wire)."""
        return False


class _Item:
    __slots__ = ("text", "size", "key", "tenant", "pending")

    def __init__(self, text: str, key: str, tenant: str, pending: Pending | None) -> None:
        self.text = text.encode("utf-8")
        self.size = len(self.text)
        self.key = key
        self.tenant = tenant
        self.pending = pending


def _quantity_text(quantity: Any) -> str:
    if isinstance(quantity, JsonNumber):
        return str.__str__(quantity)
    if isinstance(quantity, str):
        return quantity
    if isinstance(quantity, bool) or isinstance(quantity, float):
        raise InvalidEvent(
            "bad_quantity",
            f"quantity {quantity!r} is a {type(quantity).__name__}:"
            " pass a decimal.Decimal, int or str (exact)",
        )
    if isinstance(quantity, int):
        return str(quantity)
    if isinstance(quantity, Decimal):
        if not quantity.is_finite():
            raise InvalidEvent("bad_quantity", f"quantity {quantity} is not a finite decimal")
        return format(quantity, "f")
    raise InvalidEvent(
        "bad_quantity",
        f"quantity must be a decimal.Decimal, int or str, not {type(quantity).__name__}",
    )


def _timestamp_text(timestamp: Any, now_us: int) -> str:
    if timestamp is None:
        return _event.format_rfc3339(now_us)
    if isinstance(timestamp, _dt.datetime):
        if timestamp.tzinfo is None:
            raise InvalidEvent(
                "bad_timestamp", "a naive datetime has no time zone: pass an aware one (UTC)"
            )
        return _event.format_rfc3339(_event._micros_of(timestamp, "timestamp"))
    if isinstance(timestamp, str) and not isinstance(timestamp, JsonNumber):
        return timestamp
    raise InvalidEvent("bad_timestamp", "timestamp must be an aware datetime or an RFC 3339 string")


def prepare_event(
    tenant_id: Any,
    meter: Any,
    quantity: Any,
    *,
    subject: Any = None,
    properties: Mapping[str, Any] | None = None,
    timestamp: Any = None,
    idempotency_key: Any = None,
    now_us: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The JSON text the client sends for these arguments, and the event dict, after the SDK
    rules: a UUIDv7 key when none is given, timestamp = now (UTC) when none is given, the
    quantity as its canonical decimal string, then validation (InvalidEvent if it fails)."""
    now_us = _event.now_micros() if now_us is None else now_us
    quantity_text = _quantity_text(quantity)
    try:
        quantity_text = _event.format_micros(_event.parse_quantity(quantity_text))
    except ValueError:
        pass  # the validator below reports it with its detail
    event: dict[str, Any] = {
        "idempotency_key": uuid7() if idempotency_key is None else idempotency_key,
        "tenant_id": tenant_id,
    }
    if subject is not None:
        event["subject"] = subject
    event["meter"] = meter
    event["quantity"] = quantity_text
    event["timestamp"] = _timestamp_text(timestamp, now_us)
    if properties is not None:
        event["properties"] = dict(properties) if isinstance(properties, Mapping) else properties
    checked = _event._checked_or_raise(event, now_us)
    return checked.text, event


class _Http:
    """One keep-alive HTTP/1.1 connection to the ingest endpoint. Not thread-safe."""

    def __init__(self, base_url: str, api_key: str, timeout: float, wait: str) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/prefix], not {base_url!r}")
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port
        self.path = url.path.rstrip("/") + "/v1/events?wait=" + urllib.parse.quote(wait)
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"usage-ledger-python/{__version__}",
        }
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        if self._connection is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = cls(self._host, self._port, timeout=self._timeout)
        try:
            self._connection.request("POST", self.path, body, self._headers)
            response = self._connection.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, response.headers, data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values = collections.Counter()

    def add(self, name: str, count: int = 1) -> None:
        with self.lock:
            self.values[name] += count


class Client:
    """Sends usage events to a usage-ledger server (`usage-ledger up`, or `project` with
    wait="acknowledged"). Use it as a context manager, or call close() when done.

    base_url: `http://host:port` (a path prefix is kept); api_key: the tenant's key (it may send
    only its own tenant's events) or an admin key. batch_size: events per request (at most
    10,000; requests are also kept under 1 MiB). max_queue: events recorded and not yet
    settled; past it record() raises QueueFull. max_retries: retries per request after the first
    attempt, on connection errors, 5xx, 429 and events answered `failed`/`pending`, with the same
    idempotency keys (so they count once), waiting backoff_initial·2^n seconds (at most
    backoff_max; half of it random jitter; a 429's Retry-After wins). timeout: seconds per HTTP
    request. wait: "committed" (ledger verdicts) or "acknowledged" (Kafka took it: `queued`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        batch_size: int = 100,
        max_queue: int = 10_000,
        max_retries: int = 8,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        timeout: float = 10.0,
        wait: str = "committed",
    ) -> None:
        if not 1 <= batch_size <= MAX_EVENTS_PER_REQUEST:
            raise ValueError(f"batch_size must be 1-{MAX_EVENTS_PER_REQUEST}")
        if (
            max_queue < 1
            or max_retries < 0
            or backoff_initial <= 0
            or backoff_max < backoff_initial
            or timeout <= 0
        ):
            raise ValueError(
                "max_queue >= 1, max_retries >= 0, 0 < backoff_initial <= backoff_max, timeout > 0"
            )
        if wait not in ("committed", "acknowledged"):
            raise ValueError('wait must be "committed" or "acknowledged"')
        self._base_url = base_url
        self._api_key = api_key
        self._batch_size = batch_size
        self._max_queue = max_queue
        self._max_retries = max_retries
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._timeout = timeout
        self._wait = wait
        self._http = _Http(base_url, api_key, timeout, wait)  # the sender thread's
        self._sync_http = _Http(base_url, api_key, timeout, wait)  # send()'s, under _sync_lock
        self._sync_lock = threading.Lock()
        self._condition = threading.Condition()
        self._queue: collections.deque[_Item] = collections.deque()
        self._unsettled = 0
        self._closed = False
        self._abort = threading.Event()
        self._counters = _Counters()
        self._random = random.Random()
        self._thread = threading.Thread(target=self._run, name="usage-ledger-sender", daemon=True)
        self._thread.start()

    # --- the public API ----------------------------------------------------------------------

    def record(
        self,
        tenant_id: str,
        meter: str,
        quantity: Decimal | int | str,
        *,
        subject: str | None = None,
        properties: Mapping[str, Any] | None = None,
        timestamp: _dt.datetime | str | None = None,
        idempotency_key: str | None = None,
    ) -> Pending:
        """Validates the event and queues it; returns at once. Raises InvalidEvent (never
        queued), QueueFull, or ClientClosed. The Pending's result() is the Verdict."""
        text, event = prepare_event(
            tenant_id,
            meter,
            quantity,
            subject=subject,
            properties=properties,
            timestamp=timestamp,
            idempotency_key=idempotency_key,
        )
        pending = Pending(event["idempotency_key"], tenant_id)
        item = _Item(text, event["idempotency_key"], tenant_id, pending)
        with self._condition:
            if self._closed:
                raise ClientClosed("the client is closed")
            if self._unsettled >= self._max_queue:
                self._counters.add("queue_full")
                raise QueueFull(
                    f"{self._unsettled} events are queued or in flight"
                    f" (max_queue={self._max_queue}); flush() or slow down"
                )
            self._queue.append(item)
            self._unsettled += 1
            self._condition.notify_all()
        self._counters.add("recorded")
        return pending

    def send(self, events: Iterable[Mapping[str, Any]]) -> list[Verdict]:
        """Sends events now, on this thread, and returns one Verdict per event, in order.

        Each event is a dict of event fields (tenant_id, meter, quantity, and optionally
        subject, properties, timestamp, idempotency_key: filled as record() does). An invalid
        one is not sent: its Verdict is `invalid` with the reason code.
        """
        events = list(events)
        verdicts: list[Verdict | None] = [None] * len(events)
        items: list[tuple[int, _Item]] = []
        now_us = _event.now_micros()
        for index, fields in enumerate(events):
            key = fields.get("idempotency_key") if isinstance(fields, Mapping) else None
            tenant = fields.get("tenant_id") if isinstance(fields, Mapping) else None
            try:
                if not isinstance(fields, Mapping):
                    raise InvalidEvent("not_object", "the event is not a mapping")
                unknown = [name for name in fields if name not in _event._FIELDS]
                if unknown:
                    raise InvalidEvent("unknown_field", f"unknown field {unknown[0]!r}")
                for name in ("tenant_id", "meter", "quantity"):
                    if name not in fields:
                        raise InvalidEvent("missing_field", f"missing required field {name!r}")
                text, event = prepare_event(
                    fields["tenant_id"],
                    fields["meter"],
                    fields["quantity"],
                    subject=fields.get("subject"),
                    properties=fields.get("properties"),
                    timestamp=fields.get("timestamp"),
                    idempotency_key=key,
                    now_us=now_us,
                )
            except InvalidEvent as invalid:
                verdicts[index] = Verdict(
                    "invalid", str(key), str(tenant), error=str(invalid), reason=invalid.reason
                )
                continue
            items.append((index, _Item(text, event["idempotency_key"], fields["tenant_id"], None)))
        with self._sync_lock:
            for batch in self._batches([item for _, item in items]):
                for item, verdict in zip(batch, self._deliver(self._sync_http, batch), strict=True):
                    item.pending = verdict  # type: ignore[assignment]
        for index, item in items:
            verdicts[index] = item.pending  # type: ignore[assignment]
        return verdicts  # type: ignore[return-value]

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every recorded event is settled; False if `timeout` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._unsettled > 0:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def close(self, timeout: float | None = 30.0) -> bool:
        """Stops taking events, sends what is queued (up to `timeout` seconds), then stops the
        sender. Events still unsettled then get a `failed` Verdict. True if all were sent."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        flushed = self.flush(timeout)
        self._abort.set()
        with self._condition:
            self._condition.notify_all()
        self._thread.join()
        with self._condition:
            left = list(self._queue)
            self._queue.clear()
        for item in left:
            self._settle(
                item,
                Verdict(
                    "failed",
                    item.key,
                    item.tenant,
                    error="the client closed before the event was sent",
                ),
            )
        self._http.close()
        with self._sync_lock:
            self._sync_http.close()
        return flushed

    def stats(self) -> dict[str, int]:
        """Counters since the start: recorded, requests, retries, connection_errors, accepted,
        duplicate, conflict, invalid, queued, failed, queue_full; and `unsettled` now."""
        with self._counters.lock:
            values = dict(self._counters.values)
        with self._condition:
            values["unsettled"] = self._unsettled
        return values

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the sender ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closed:
                    self._condition.wait()
                if self._abort.is_set() or not self._queue:
                    return  # closed: drained, or close() stopped waiting
                batch = self._take_batch()
            try:
                verdicts = self._deliver(self._http, batch)
            except Exception as error:  # a bug here must not strand the queue and flush()
                verdicts = [
                    Verdict("failed", item.key, item.tenant, error=f"internal error: {error!r}")
                    for item in batch
                ]
            for item, verdict in zip(batch, verdicts, strict=True):
                self._settle(item, verdict)

    def _take_batch(self) -> list[_Item]:
        # With the condition held.
        batch: list[_Item] = []
        size = 2
        while self._queue and len(batch) < self._batch_size:
            if batch and size + self._queue[0].size + 1 > MAX_BODY_BYTES:
                break
            item = self._queue.popleft()
            batch.append(item)
            size += item.size + 1
        return batch

    def _batches(self, items: list[_Item]) -> Iterable[list[_Item]]:
        batch: list[_Item] = []
        size = 2
        for item in items:
            if batch and (len(batch) >= self._batch_size or size + item.size + 1 > MAX_BODY_BYTES):
                yield batch
                batch, size = [], 2
            batch.append(item)
            size += item.size + 1
        if batch:
            yield batch

    def _settle(self, item: _Item, verdict: Verdict) -> None:
        self._counters.add(verdict.status)
        if item.pending is not None and not item.pending.done():
            item.pending.set_result(verdict)
        with self._condition:
            self._unsettled -= 1
            self._condition.notify_all()

    def _backoff(self, attempt: int, retry_after: float | None) -> bool:
        """Waits before retry number `attempt` (1, 2, ...); False when the client is aborting."""
        delay = min(self._backoff_max, self._backoff_initial * (2 ** (attempt - 1)))
        delay = delay / 2 + self._random.uniform(0, delay / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, 60.0))
        return not self._abort.wait(delay)

    def _deliver(self, http_session: _Http, batch: list[_Item]) -> list[Verdict]:
        """Posts `batch` until every event has a final status or the retries run out."""
        verdicts: list[Verdict | None] = [None] * len(batch)
        remaining = list(range(len(batch)))
        attempt = 0
        last_error = "not sent"
        while remaining:
            attempt += 1
            body = b"[" + b",".join(batch[index].text for index in remaining) + b"]"
            retry_after: float | None = None
            self._counters.add("requests")
            try:
                status, headers, data = http_session.post(body)
            except (OSError, http.client.HTTPException) as error:
                self._counters.add("connection_errors")
                last_error = f"{type(error).__name__}: {error}"
            else:
                answer = _answer_events(data, len(remaining))
                if status in (200, 202, 503, 504) and answer is not None:
                    for entry in answer:
                        index = remaining[entry["index"]]
                        if entry.get("status") in _FINAL:
                            verdicts[index] = _verdict_of(entry, batch[index], attempt)
                        else:  # failed / pending: sent again below
                            last_error = (
                                f"HTTP {status}: {entry.get('status')}: {entry.get('error')}"
                            )
                    remaining = [index for index in remaining if verdicts[index] is None]
                elif status == 400 and answer is not None:
                    for entry in answer:  # invalid_events: every event invalid, nothing sent
                        index = remaining[entry["index"]]
                        verdicts[index] = _verdict_of(entry, batch[index], attempt)
                    remaining = [index for index in remaining if verdicts[index] is None]
                elif status == 429 or status >= 500:
                    last_error = f"HTTP {status}: {_error_text(data)}"
                    retry_after = _retry_after(headers)
                else:
                    last_error = f"HTTP {status}: {_error_text(data)}"
                    break  # 400, 401, 403, 404, 413: sending it again changes nothing
            if not remaining:
                break
            if attempt > self._max_retries:
                last_error = f"gave up after {attempt} attempts: {last_error}"
                break
            self._counters.add("retries")
            if not self._backoff(attempt, retry_after):
                last_error = f"the client closed while retrying: {last_error}"
                break
        for index in range(len(batch)):
            if verdicts[index] is None:
                verdicts[index] = Verdict(
                    "failed",
                    batch[index].key,
                    batch[index].tenant,
                    error=last_error,
                    attempts=attempt,
                )
        return verdicts  # type: ignore[return-value]


def _answer_events(data: bytes, count: int) -> list[dict[str, Any]] | None:
    """The `events` of an IngestAnswer for `count` events, each with a distinct index in
    [0, count); None for anything else."""
    try:
        answer = json.loads(data)
    except ValueError:
        return None
    events = answer.get("events") if isinstance(answer, dict) else None
    if not isinstance(events, list) or len(events) != count:
        return None
    indexes = set()
    for entry in events:
        if not isinstance(entry, dict):
            return None
        index = entry.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            return None
        indexes.add(index)
    return events if len(indexes) == count else None


def _error_text(data: bytes) -> str:
    try:
        answer = json.loads(data)
        return f"{answer.get('error')}: {answer.get('detail')}"
    except (ValueError, AttributeError):
        return data[:200].decode("utf-8", "replace")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _verdict_of(entry: Mapping[str, Any], item: _Item, attempt: int) -> Verdict:
    status = entry["status"]
    error = entry.get("error")
    reason = None
    if status == "invalid" and isinstance(error, str):
        reason = error.split(":", 1)[0]
    return Verdict(
        status,
        item.key,
        item.tenant,
        error=error,
        reason=reason,
        ledger_partition=entry.get("ledger_partition"),
        ledger_sequence=entry.get("ledger_sequence"),
        partition=entry.get("partition"),
        offset=entry.get("offset"),
        attempts=attempt,
    )
