"""The event contract in pure functions: validation, the canonical form, the payload hash.

A port of schemas/event.cpp, schemas/decimal.cpp, schemas/time.cpp and schemas/canonical.cpp
(their rules are in schemas/README.md). The first broken rule gives the one reason code, in the
C++ validator's order; schemas/test-vectors/events.json proves both agree.

An event here is a dict of the JSON message's fields. Values: str, int, bool, None,
decimal.Decimal, JsonNumber (a JSON number token kept as written), dict, list; float is allowed
in properties only (a quantity must be exact: a float is bad_quantity). What is validated is the
compact JSON text `encode_event` writes, and that text is what the client sends.

Pure: no clock is read when `now` is given, no I/O. Safe from any thread.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal
from typing import Any

__all__ = [
    "InvalidEvent",
    "JsonNumber",
    "REASONS",
    "HAVE_XXHASH",
    "validate",
    "check",
    "canonical_event",
    "payload_hash",
    "encode_event",
    "loads_event",
    "parse_quantity",
    "format_micros",
    "parse_rfc3339",
    "format_rfc3339",
    "parse_duration",
]

# The reason codes, in the validator's order (schemas/README.md).
REASONS = (
    "too_large",
    "bad_utf8",
    "malformed_json",
    "not_object",
    "unknown_field",
    "missing_field",
    "bad_key",
    "bad_tenant",
    "bad_subject",
    "bad_meter",
    "bad_quantity",
    "bad_timestamp",
    "bad_properties",
)

MAX_MESSAGE_BYTES = 16384
MAX_KEY_BYTES = 128
MAX_TENANT_BYTES = 64
MAX_SUBJECT_BYTES = 128
MAX_METER_BYTES = 64
MAX_PROPERTIES = 16
MAX_PROPERTY_KEY_BYTES = 64
MAX_PROPERTIES_BYTES = 4096
MAX_DEPTH = 32
MAX_QUANTITY_MICROS = 10**18  # 10^12 units
MICROS_PER_SECOND = 1_000_000
DEFAULT_MAX_EVENT_AGE_US = 35 * 86_400 * MICROS_PER_SECOND
DEFAULT_MAX_FUTURE_US = 5 * 60 * MICROS_PER_SECOND

_FIELDS = (
    "idempotency_key",
    "tenant_id",
    "subject",
    "meter",
    "quantity",
    "timestamp",
    "properties",
)
_REQUIRED = ("idempotency_key", "tenant_id", "meter", "quantity", "timestamp")
_TENANT = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")
_METER = re.compile(r"[a-z0-9_.-]{1,64}\Z")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_UNSIGNED = re.compile(r"([0-9]+)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]*))?\Z")

try:  # optional: XXH3-128 for payload_hash (Debian: python3-xxhash; PyPI: xxhash)
    import xxhash as _xxhash

    HAVE_XXHASH = hasattr(_xxhash, "xxh3_128_hexdigest")
except ImportError:  # pragma: no cover - depends on the machine
    _xxhash = None
    HAVE_XXHASH = False


class InvalidEvent(ValueError):
    """An event the ledger would refuse: `reason` is the validator's reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class JsonNumber(str):
    """A JSON number token kept exactly as written (`1.5e3`, `-0`, `1e400`).

    `loads_event` reads every number of a JSON text as one, so the SDK sends, validates and
    canonicalizes the same token the text had, as the C++ validator does.
    """

    def __new__(cls, token: str) -> JsonNumber:
        if not isinstance(token, str) or not _JSON_NUMBER.match(token):
            raise ValueError(f"not a JSON number: {token!r}")
        return super().__new__(cls, token)


def loads_event(text: str | bytes) -> Any:
    """Parses one JSON text, keeping numbers as JsonNumber tokens (never float)."""
    import json

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(
        text, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=no_constant
    )


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


# --- JSON text ----------------------------------------------------------------------------------

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _escape_char(match: re.Match[str]) -> str:
    c = match.group(0)
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


def _json_string(text: str) -> str:
    """A JSON string: only `"`, `\\` and C0 controls escaped (the canonical rule)."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def _number_token(value: Any) -> str | None:
    """The JSON token of a number value, or None when `value` is not a JSON number."""
    if isinstance(value, JsonNumber):
        return str.__str__(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return repr(value)
    return None


def _encode(value: Any, out: list[str], depth: int) -> None:
    if isinstance(value, str) and not isinstance(value, JsonNumber):
        out.append(_json_string(value))
        return
    if value is None:
        out.append("null")
        return
    if value is True:
        out.append("true")
        return
    if value is False:
        out.append("false")
        return
    token = _number_token(value)
    if token is not None:
        out.append(token)
        return
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise _Invalid("malformed_json", f"nesting deeper than {MAX_DEPTH}")
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str) or isinstance(key, JsonNumber):
                raise _Invalid("malformed_json", f"object key {key!r} is not a string")
            if not first:
                out.append(",")
            first = False
            out.append(_json_string(key))
            out.append(":")
            _encode(item, out, depth + 1)
        out.append("}")
        return
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise _Invalid("malformed_json", f"nesting deeper than {MAX_DEPTH}")
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, depth + 1)
        out.append("]")
        return
    raise _Invalid("malformed_json", f"{type(value).__name__} {value!r:.64} is not a JSON value")


def _encode_text(value: Any) -> str:
    out: list[str] = []
    _encode(value, out, 0)
    return "".join(out)


def encode_event(event: Any) -> str:
    """The compact JSON text of `event` (what the client sends). Raises InvalidEvent when it
    has no JSON form (bad_utf8: lone surrogates; malformed_json: NaN, non-string keys, ...)."""
    try:
        text = _encode_text(event)
        _utf8(text)
    except _Invalid as invalid:
        raise InvalidEvent(invalid.reason, invalid.detail) from None
    return text


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid("bad_utf8", "the message holds a lone surrogate (not UTF-8)") from None


def _quoted(text: str) -> str:
    return '"' + (text if len(text) <= 64 else text[:64] + "…") + '"'


# --- decimals -----------------------------------------------------------------------------------


def parse_quantity(text: str) -> int:
    """Micro-units of a quantity text (JSON number grammar, >= 0, <= 10^12, exact in 10^-6).

    Raises ValueError with the C++ error name: empty, negative, syntax,
    too_many_fraction_digits, out_of_range. Integer arithmetic only.
    """
    if not text:
        raise ValueError("empty")
    if text[0] == "-":
        raise ValueError("negative")
    match = _UNSIGNED.match(text)
    if not match:
        raise ValueError("syntax")
    integer, fraction, sign, exponent_digits = match.groups()
    if fraction == "" or exponent_digits == "":
        raise ValueError("syntax")  # "1." or "1e"
    if len(integer) > 1 and integer[0] == "0":
        raise ValueError("syntax")
    fraction = fraction or ""
    exponent = 0
    if exponent_digits is not None:
        significant_exponent = exponent_digits.lstrip("0")
        exponent = (
            1_000_000 if len(significant_exponent) > 7 else min(int(exponent_digits), 1_000_000)
        )
        if sign == "-":
            exponent = -exponent
    digits = integer + fraction
    stripped = digits.lstrip("0")
    if not stripped:
        return 0
    significant_digits = stripped.rstrip("0")
    trailing_zeros = len(stripped) - len(significant_digits)
    micro_exponent = exponent - len(fraction) + trailing_zeros + 6
    if micro_exponent < 0:
        raise ValueError("too_many_fraction_digits")
    if len(significant_digits) + micro_exponent > 39:
        raise ValueError("out_of_range")
    micros = int(significant_digits) * 10**micro_exponent
    if micros > MAX_QUANTITY_MICROS:
        raise ValueError("out_of_range")
    return micros


def format_micros(micros: int) -> str:
    """The canonical decimal of a micro amount: `1500`, `0.25`, `0`, `-2.5`."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), 10**6)
    if fraction == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:06d}".rstrip("0")


_DECIMAL_ERRORS = {
    "empty": "empty",
    "syntax": "not a decimal number",
    "negative": "negative",
    "too_many_fraction_digits": "more than 6 fraction digits",
    "out_of_range": "out of range",
}


# --- time ---------------------------------------------------------------------------------------

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()


def _digits(text: str, position: int, count: int) -> int | None:
    if position + count > len(text):
        return None
    part = text[position : position + count]
    if not all("0" <= c <= "9" for c in part):
        return None
    return int(part)


def parse_rfc3339(text: str) -> int:
    """Microseconds since the Unix epoch (UTC) of a strict RFC 3339 text; ValueError if not."""

    def fail(why: str) -> ValueError:
        return ValueError(f"timestamp {_quoted(text)}: {why}")

    year = _digits(text, 0, 4)
    if year is None or len(text) < 19:
        raise fail("not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac]Z or ±HH:MM)")
    month, day = _digits(text, 5, 2), _digits(text, 8, 2)
    hour, minute, second = _digits(text, 11, 2), _digits(text, 14, 2), _digits(text, 17, 2)
    if (
        text[4] != "-"
        or month is None
        or text[7] != "-"
        or day is None
        or text[10] not in "Tt"
        or hour is None
        or text[13] != ":"
        or minute is None
        or text[16] != ":"
        or second is None
    ):
        raise fail("not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac]Z or ±HH:MM)")
    if year < 1:
        raise fail("year 0000 is out of range")
    try:
        date = _dt.date(year, month, day)
    except ValueError:
        raise fail("no such date") from None
    if hour > 23:
        raise fail("hour out of range (00-23)")
    if minute > 59:
        raise fail("minute out of range (00-59)")
    if second > 59:
        raise fail("second out of range (00-59; leap seconds are not accepted)")
    position = 19
    fraction_micros = 0
    if position < len(text) and text[position] == ".":
        position += 1
        start = position
        while position < len(text) and "0" <= text[position] <= "9":
            position += 1
        if position == start:
            raise fail("empty fraction of a second")
        fraction_micros = int(text[start : min(position, start + 6)].ljust(6, "0"))
    if position >= len(text):
        raise fail("missing time zone (Z or ±HH:MM)")
    offset_seconds = 0
    zone = text[position]
    if zone in "Zz":
        position += 1
    elif zone in "+-":
        offset_hours = _digits(text, position + 1, 2)
        offset_minutes = _digits(text, position + 4, 2)
        if (
            offset_hours is None
            or position + 3 >= len(text)
            or text[position + 3] != ":"
            or offset_minutes is None
        ):
            raise fail("bad time zone offset (±HH:MM)")
        if offset_hours > 23 or offset_minutes > 59:
            raise fail("time zone offset out of range")
        offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (-1 if zone == "-" else 1)
        position += 6
    else:
        raise fail("bad time zone (Z or ±HH:MM)")
    if position != len(text):
        raise fail("trailing characters")
    days = date.toordinal() - _EPOCH_ORDINAL
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds
    return seconds * MICROS_PER_SECOND + fraction_micros


_FIRST_US = (_dt.date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86_400 * MICROS_PER_SECOND
_LAST_US = (
    _dt.date(9999, 12, 31).toordinal() - _EPOCH_ORDINAL + 1
) * 86_400 * MICROS_PER_SECOND - 1


def format_rfc3339(micros: int) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`, or with `.ffffff` when the microseconds are not zero (UTC).
    Times outside years 0001-9999 are written as the nearest one inside."""
    micros = min(max(micros, _FIRST_US), _LAST_US)
    seconds, fraction = divmod(micros, MICROS_PER_SECOND)
    days, second_of_day = divmod(seconds, 86_400)
    date = _dt.date.fromordinal(days + _EPOCH_ORDINAL)
    text = (
        f"{date.year:04d}-{date.month:02d}-{date.day:02d}T"
        f"{second_of_day // 3600:02d}:{second_of_day // 60 % 60:02d}:{second_of_day % 60:02d}"
    )
    if fraction:
        text += f".{fraction:06d}"
    return text + "Z"


def parse_duration(text: str) -> int:
    """Microseconds of `<positive integer><s|m|h|d>` (`35d`, `5m`); ValueError if not."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    if len(text) < 2 or text[-1] not in units or not all("0" <= c <= "9" for c in text[:-1]):
        raise ValueError(f"{text!r} is not a duration (e.g. 35d, 12h)")
    micros = int(text[:-1]) * units[text[-1]] * MICROS_PER_SECOND
    if micros <= 0 or micros >= 2**63:
        raise ValueError(f"{text!r} is not a duration (e.g. 35d, 12h)")
    return micros


def _micros_of(value: Any, what: str) -> int:
    """A time as microseconds since the epoch: datetime (aware), RFC 3339 text, or int micros."""
    if isinstance(value, bool):
        raise TypeError(f"{what}: not a time")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what}: a naive datetime has no time zone; use an aware one (UTC)")
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * MICROS_PER_SECOND + delta.microseconds
    raise TypeError(f"{what}: not a time: {value!r}")


def _duration_of(value: Any) -> int:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, _dt.timedelta):
        return (value.days * 86_400 + value.seconds) * MICROS_PER_SECOND + value.microseconds
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"not a duration: {value!r}")


def now_micros() -> int:
    return _micros_of(_dt.datetime.now(_dt.UTC), "now")


# --- validation ---------------------------------------------------------------------------------


def _is_printable(text: str) -> bool:
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def _is_string(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, JsonNumber)


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8"))


class _Checked:
    """A valid event's parts, as the canonical form needs them."""

    __slots__ = (
        "text",
        "key",
        "tenant",
        "subject",
        "meter",
        "micros",
        "timestamp_us",
        "properties",
    )

    def __init__(self) -> None:
        self.text = ""
        self.key = ""
        self.tenant = ""
        self.subject: str | None = None
        self.meter = ""
        self.micros = 0
        self.timestamp_us = 0
        self.properties: list[tuple[str, Any]] = []


def _check(
    event: Any, now_us: int, max_event_age_us: int, max_future_us: int, strict: bool
) -> _Checked:
    checked = _Checked()
    text = _encode_text(event)
    size = len(_utf8(text))
    if size > MAX_MESSAGE_BYTES:
        raise _Invalid("too_large", f"message is {size} bytes (at most {MAX_MESSAGE_BYTES})")
    checked.text = text
    if not isinstance(event, dict):
        raise _Invalid("not_object", "the message is not a JSON object")
    if strict:
        for name in event:
            if name not in _FIELDS:
                raise _Invalid("unknown_field", f"unknown field {_quoted(name)} (strict mode)")
    for name in _REQUIRED:
        if name not in event:
            raise _Invalid("missing_field", f"missing required field {_quoted(name)}")

    key = event["idempotency_key"]
    if not _is_string(key):
        raise _Invalid("bad_key", "idempotency_key must be a string")
    key_bytes = _byte_length(key)
    if key_bytes == 0 or key_bytes > MAX_KEY_BYTES or not _is_printable(key):
        raise _Invalid(
            "bad_key",
            f"idempotency_key must be 1-128 bytes of printable UTF-8 (got {key_bytes} bytes)",
        )
    checked.key = key

    tenant = event["tenant_id"]
    if not _is_string(tenant) or not _TENANT.match(tenant):
        got = _quoted(tenant) if _is_string(tenant) else "a non-string"
        raise _Invalid(
            "bad_tenant", f"tenant_id must be 1-64 characters of [A-Za-z0-9._:-], got {got}"
        )
    checked.tenant = tenant

    subject = event.get("subject")
    if subject is not None:
        if (
            not _is_string(subject)
            or _byte_length(subject) > MAX_SUBJECT_BYTES
            or not _is_printable(subject)
        ):
            raise _Invalid(
                "bad_subject", "subject must be a string of at most 128 bytes of printable UTF-8"
            )
        checked.subject = subject

    meter = event["meter"]
    if not _is_string(meter) or not _METER.match(meter):
        got = _quoted(meter) if _is_string(meter) else "a non-string"
        raise _Invalid("bad_meter", f"meter must be 1-64 characters of [a-z0-9_.-], got {got}")
    checked.meter = meter

    quantity = event["quantity"]
    if isinstance(quantity, float):
        raise _Invalid(
            "bad_quantity", "quantity is a float (inexact): pass a decimal.Decimal, int or str"
        )
    quantity_text = quantity if _is_string(quantity) else _number_token(quantity)
    if quantity_text is None:
        raise _Invalid("bad_quantity", "quantity must be a JSON number or a decimal string")
    try:
        checked.micros = parse_quantity(quantity_text)
    except ValueError as error:
        raise _Invalid(
            "bad_quantity",
            f"quantity {_quoted(quantity_text)}: {_DECIMAL_ERRORS[str(error)]}"
            " (a decimal >= 0 and <= 10^12, at most 6 fraction digits)",
        ) from None

    timestamp = event["timestamp"]
    if not _is_string(timestamp):
        raise _Invalid("bad_timestamp", "timestamp must be an RFC 3339 string")
    try:
        timestamp_us = parse_rfc3339(timestamp)
    except ValueError as error:
        raise _Invalid("bad_timestamp", str(error)) from None
    if timestamp_us > now_us + max_future_us:
        raise _Invalid("bad_timestamp", f"timestamp {_quoted(timestamp)} is too far in the future")
    if timestamp_us < now_us - max_event_age_us:
        raise _Invalid(
            "bad_timestamp", f"timestamp {_quoted(timestamp)} is older than the late-arrival limit"
        )
    checked.timestamp_us = timestamp_us

    properties = event.get("properties")
    if properties is not None:
        _check_properties(properties, checked)
    return checked


def _check_properties(properties: Any, checked: _Checked) -> None:
    def bad(detail: str) -> _Invalid:
        return _Invalid("bad_properties", detail)

    if not isinstance(properties, dict):
        raise bad("properties must be a flat JSON object")
    if len(properties) > MAX_PROPERTIES:
        raise bad(f"properties has {len(properties)} keys (at most {MAX_PROPERTIES})")
    for key, value in properties.items():
        allowed = _is_string(value) or isinstance(value, bool) or _number_token(value) is not None
        if not allowed:
            raise bad(f"property {_quoted(str(key))} must be a string, number or boolean")
    for key in properties:
        if not (1 <= _byte_length(key) <= MAX_PROPERTY_KEY_BYTES) or not _is_printable(key):
            raise bad(f"property key {_quoted(key)} must be 1-64 bytes of printable UTF-8")
    size = _byte_length(_encode_text(properties))
    if size > MAX_PROPERTIES_BYTES:
        raise bad(f"properties is {size} bytes of JSON (at most {MAX_PROPERTIES_BYTES})")
    checked.properties = list(properties.items())


def check(
    event: Any,
    now: Any = None,
    *,
    max_event_age: Any = DEFAULT_MAX_EVENT_AGE_US,
    max_future: Any = DEFAULT_MAX_FUTURE_US,
    strict: bool = True,
) -> tuple[str, str] | None:
    """(reason, detail) of the first rule `event` breaks, or None when it is valid.

    now: the current time (aware datetime, RFC 3339 text or microseconds; None: the clock);
    max_event_age / max_future: timedelta, duration text (`35d`) or microseconds.
    """
    try:
        _check(event, _now_us(now), _duration_of(max_event_age), _duration_of(max_future), strict)
    except _Invalid as invalid:
        return invalid.reason, invalid.detail
    return None


def validate(event: Any, now: Any = None, **options: Any) -> str | None:
    """The reason code of the first rule `event` breaks, or None when it is valid."""
    result = check(event, now, **options)
    return result[0] if result else None


def _now_us(now: Any) -> int:
    return now_micros() if now is None else _micros_of(now, "now")


def _checked_or_raise(event: Any, now: Any, **options: Any) -> _Checked:
    try:
        return _check(
            event,
            _now_us(now),
            _duration_of(options.get("max_event_age", DEFAULT_MAX_EVENT_AGE_US)),
            _duration_of(options.get("max_future", DEFAULT_MAX_FUTURE_US)),
            options.get("strict", True),
        )
    except _Invalid as invalid:
        raise InvalidEvent(invalid.reason, invalid.detail) from None


# --- canonical form and hash --------------------------------------------------------------------


def _canonical_number(token: str) -> str:
    negative = token.startswith("-")
    try:
        micros = parse_quantity(token[1:] if negative else token)
    except ValueError:
        return token  # not exact in micro-units, or too large: the raw token
    return ("-" if negative and micros else "") + format_micros(micros)


def _canonical_of(checked: _Checked) -> str:
    parts = [
        '{"idempotency_key":',
        _json_string(checked.key),
        ',"tenant_id":',
        _json_string(checked.tenant),
    ]
    if checked.subject is not None:
        parts += [',"subject":', _json_string(checked.subject)]
    parts += [',"meter":', _json_string(checked.meter)]
    parts += [
        ',"quantity":"',
        format_micros(checked.micros),
        '","timestamp":"',
        format_rfc3339(checked.timestamp_us),
        '"',
    ]
    if checked.properties:
        ordered = sorted(checked.properties, key=lambda item: item[0].encode("utf-8"))
        parts.append(',"properties":{')
        for index, (key, value) in enumerate(ordered):
            if index:
                parts.append(",")
            parts += [_json_string(key), ":"]
            if _is_string(value):
                parts.append(_json_string(value))
            elif isinstance(value, bool):
                parts.append("true" if value else "false")
            else:
                parts.append(_canonical_number(_number_token(value) or ""))
        parts.append("}")
    parts.append("}")
    return "".join(parts)


def canonical_event(event: Any, now: Any = None, **options: Any) -> str:
    """The canonical event text (schemas/README.md) of a valid event; InvalidEvent if invalid.

    The timestamp window is judged against `now` (None: the clock), as the ledger would.
    """
    return _canonical_of(_checked_or_raise(event, now, **options))


def payload_hash(event: Any, now: Any = None, **options: Any) -> str:
    """XXH3-128 (seed 0) of the canonical event, as 32 lowercase hex digits (high 64 bits
    first). `event`: an event dict, or a canonical event text (str) hashed as it is.
    Needs the `xxhash` module (Debian: python3-xxhash; PyPI: xxhash): RuntimeError without it."""
    if not HAVE_XXHASH:
        raise RuntimeError(
            "payload_hash needs the xxhash module"
            " (apt install python3-xxhash, or pip install xxhash)"
        )
    canonical = event if isinstance(event, str) else canonical_event(event, now, **options)
    return _xxhash.xxh3_128_hexdigest(canonical.encode("utf-8"))
