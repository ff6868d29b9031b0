#!/usr/bin/env python3
"""Generate a JSON-lines file of usage events with a known mix of invalid lines.

Independent of the C++ code on purpose: the expected counts it writes are what the
validator must report. Each invalid kind breaks exactly one rule, chosen so that the
fixed rule order of schemas/README.md gives exactly the named reason.

usage: gen_events.py --lines N --out FILE [--expect FILE] [--keys FILE] [--seed S]
       [--invalid-percent P] [--duplicate-percent D] [--conflict-percent C] [--tenants T]
       [--projection-mix] [--counters FILE]
The expected emit summary (lines, valid, invalid, invalid_by_reason) goes to --expect as JSON,
with "ledger": the ledger's expected counts when every line (invalid ones too) is produced raw,
keyed by tenant (--keys writes the Kafka key of each line: the tenant, or empty).
--projection-mix makes valid events harder for the counters: late events (up to 30 days old),
timestamps exactly on and 1 µs before hour, day and month boundaries, UTC offsets (+05:30,
-08:00), more than six fraction digits (truncated), non-canonical decimals ("1.50", 1.5e3,
"0.000001", "1500.000"). --counters writes the counter cells the accepted events must give, one
JSON line per (window, tenant, meter, period) in export order, computed here with Python's
datetime and decimal (calendar months in UTC).
"""
import argparse
import datetime as dt
import json
import random
import sys

REASONS = [
    "too_large", "bad_utf8", "malformed_json", "not_object", "unknown_field",
    "missing_field", "bad_key", "bad_tenant", "bad_subject", "bad_meter",
    "bad_quantity", "bad_timestamp", "bad_properties",
]
METERS = ["api_calls", "tokens", "audio_minutes", "resume_scans"]


def rfc3339(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def valid_event(rng, index, now, tenants):
    tenant = "tenant-%04d" % rng.randrange(tenants)
    meter = METERS[index % len(METERS)]
    quantity = rng.choice(["1", "1500", "0.25", "42", "3.5", "1000000"])
    when = now - dt.timedelta(seconds=rng.randrange(1, 86400))
    event = {
        "idempotency_key": "req-%d-%08x" % (index, rng.getrandbits(32)),
        "tenant_id": tenant,
        "subject": "user-%d" % rng.randrange(1000),
        "meter": meter,
        "quantity": quantity if rng.random() < 0.5 else json.loads(quantity),
        "timestamp": rfc3339(when),
        "properties": {"model": rng.choice(["gpt-x", "gpt-y", "claude-z"]), "region": "eu"},
    }
    return event


def encode(event):
    line = json.dumps(event, separators=(",", ":")).encode()
    # Raw number tokens json.dumps cannot write (exponents): a marker string, replaced here.
    return line.replace(b'"@1.5e3@"', b"1.5e3").replace(b'"@2E-6@"', b"2E-6")


def quantity_value(event):
    """The exact quantity of an event, as the ledger reads it."""
    from decimal import Decimal
    raw = event["quantity"]
    if isinstance(raw, str) and raw.startswith("@"):
        raw = raw.strip("@")
    return Decimal(str(raw))


def projection_event(rng, index, now, tenants):
    """A valid event with the timestamps and quantities that trip windowing and decimals."""
    event = valid_event(rng, index, now, tenants)
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    month = day.replace(day=1)
    micro = dt.timedelta(microseconds=1)
    choice = rng.randrange(8)
    if choice == 0:
        when = now - dt.timedelta(days=rng.randrange(1, 30), seconds=rng.randrange(86400))
    elif choice == 1:
        when = rng.choice([hour, day, month, hour - dt.timedelta(hours=1)])
    elif choice == 2:
        when = rng.choice([hour, day, month]) - micro
    else:
        when = now - dt.timedelta(seconds=rng.randrange(1, 3 * 86400),
                                  microseconds=rng.randrange(1000000))
    event["_when"] = when
    style = rng.randrange(4)
    if style == 0:
        event["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    elif style == 1:
        # Nine fraction digits: the last three are truncated, never rounded.
        event["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "%03d" % rng.randrange(1000) + "Z"
    else:
        offset = dt.timedelta(hours=5, minutes=30) if style == 2 else -dt.timedelta(hours=8)
        local = when + offset
        sign = "+" if offset >= dt.timedelta(0) else "-"
        minutes = abs(int(offset.total_seconds())) // 60
        event["timestamp"] = local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "%s%02d:%02d" % (
            sign, minutes // 60, minutes % 60)
    event["quantity"] = rng.choice(["1.50", "@1.5e3@", "0.000001", "1500.000", "@2E-6@", "7",
                                    "999999.999999", 42, "0"])
    return event


def invalid_line(reason, rng, index, now, tenants):
    event = valid_event(rng, index, now, tenants)
    if reason == "too_large":
        event["properties"] = {"blob": "x" * 17000}
        return encode(event)
    if reason == "bad_utf8":
        return encode(event).replace(b'"subject":"user-', b'"subject":"\xff\xfeuser-')
    if reason == "malformed_json":
        return encode(event)[:-7]
    if reason == "not_object":
        return b'["not", "an", "object"]'
    if reason == "unknown_field":
        event["quantitty"] = 5
        return encode(event)
    if reason == "missing_field":
        del event["meter"]
        return encode(event)
    if reason == "bad_key":
        event["idempotency_key"] = "k" * 129
        return encode(event)
    if reason == "bad_tenant":
        event["tenant_id"] = "acme corp"
        return encode(event)
    if reason == "bad_subject":
        event["subject"] = "s" * 129
        return encode(event)
    if reason == "bad_meter":
        event["meter"] = "Tokens"
        return encode(event)
    if reason == "bad_quantity":
        event["quantity"] = rng.choice(["1.1234567", "-5", "abc", "1000000000001"])
        return encode(event)
    if reason == "bad_timestamp":
        event["timestamp"] = rng.choice(["2026-02-29T00:00:00Z", "yesterday", "2026-11-22T24:00:00Z"])
        return encode(event)
    if reason == "bad_properties":
        event["properties"] = {"k%d" % i: i for i in range(17)}
        return encode(event)
    raise ValueError(reason)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--expect")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--invalid-percent", type=float, default=5.0)
    parser.add_argument("--duplicate-percent", type=float, default=0.0)
    parser.add_argument("--conflict-percent", type=float, default=0.0)
    parser.add_argument("--keys")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--projection-mix", action="store_true")
    parser.add_argument("--counters")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    print("gen_events: seed %d" % args.seed, file=sys.stderr)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    by_reason = {}
    valid = 0
    sent = []  # (line, event) of earlier valid lines, to repeat or to conflict with
    first_payload = {}  # (tenant, key) -> canonical payload of the first event
    ledger = {"accepted": 0, "duplicate": 0, "conflict": 0}
    keys = []
    accepted_events = []
    with open(args.out, "wb") as out:
        for index in range(args.lines):
            roll = rng.random() * 100
            event = None
            if roll < args.invalid_percent:
                reason = REASONS[index % len(REASONS)]
                line = invalid_line(reason, rng, index, now, args.tenants)
                by_reason[reason] = by_reason.get(reason, 0) + 1
                keys.append(b"")
            else:
                valid += 1
                if sent and roll < args.invalid_percent + args.duplicate_percent:
                    line, event = rng.choice(sent)
                elif sent and roll < args.invalid_percent + args.duplicate_percent + args.conflict_percent:
                    _, original = rng.choice(sent)
                    event = dict(original)
                    event["quantity"] = "777.5"  # same tenant and key, another payload
                    line = encode({k: v for k, v in event.items() if k != "_when"})
                else:
                    if args.projection_mix:
                        event = projection_event(rng, index, now, args.tenants)
                        line = encode({k: v for k, v in event.items() if k != "_when"})
                    else:
                        event = valid_event(rng, index, now, args.tenants)
                        line = encode(event)
                    if len(sent) < 10000:
                        sent.append((line, event))
                identity = (event["tenant_id"], event["idempotency_key"])
                payload = canonical_payload(event)
                if identity not in first_payload:
                    first_payload[identity] = payload
                    ledger["accepted"] += 1
                    accepted_events.append(event)
                elif first_payload[identity] == payload:
                    ledger["duplicate"] += 1
                else:
                    ledger["conflict"] += 1
                keys.append(event["tenant_id"].encode())
            out.write(line + b"\n")
    if args.keys:
        with open(args.keys, "wb") as key_file:
            key_file.write(b"\n".join(keys) + b"\n")
    if args.counters:
        write_counters(args.counters, accepted_events)
    if args.expect:
        invalid = args.lines - valid
        ledger.update({"consumed": args.lines, "dead_lettered": invalid,
                       "dead_lettered_by_reason": by_reason})
        summary = {"lines": args.lines, "valid": valid, "invalid": invalid,
                   "invalid_by_reason": by_reason, "ledger": ledger}
        with open(args.expect, "w") as expect:
            json.dump(summary, expect, sort_keys=True)


def event_time(event):
    """The event's instant in UTC, truncated to microseconds."""
    if "_when" in event:
        return event["_when"]
    return dt.datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")


def write_counters(path, events):
    cells = {}
    for event in events:
        when = event_time(event)
        starts = {
            "hour": when.replace(minute=0, second=0, microsecond=0),
            "day": when.replace(hour=0, minute=0, second=0, microsecond=0),
            "month": when.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
        }
        for window, start in starts.items():
            key = (window, event["tenant_id"], event["meter"], start)
            total, count = cells.get(key, (0, 0))
            cells[key] = (total + quantity_value(event), count + 1)
    with open(path, "w") as out:
        for (window, tenant, meter, start), (total, count) in sorted(cells.items()):
            text = format(total.normalize(), "f")
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            out.write(json.dumps({"window": window, "tenant_id": tenant, "meter": meter,
                                  "period_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "sum": text, "count": count}, separators=(",", ":")) + "\n")


def canonical_payload(event):
    """What makes two events the same: equal after exact decimal normalisation."""
    quantity = quantity_value(event).normalize()
    return (event["tenant_id"], event["idempotency_key"], event.get("subject"), event["meter"],
            quantity, str(event_time(event)), json.dumps(event.get("properties"), sort_keys=True))


if __name__ == "__main__":
    main()
