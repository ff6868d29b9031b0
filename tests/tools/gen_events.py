#!/usr/bin/env python3
"""Generate a JSON-lines file of usage events with a known mix of invalid lines.

Independent of the C++ code on purpose: the expected counts it writes are what the
validator must report. Each invalid kind breaks exactly one rule, chosen so that the
fixed rule order of schemas/README.md gives exactly the named reason.

usage: gen_events.py --lines N --out FILE [--expect FILE] [--keys FILE] [--seed S]
       [--invalid-percent P] [--duplicate-percent D] [--conflict-percent C] [--tenants T]
The expected emit summary (lines, valid, invalid, invalid_by_reason) goes to --expect as JSON,
with "ledger": the ledger's expected counts when every line (invalid ones too) is produced raw,
keyed by tenant (--keys writes the Kafka key of each line: the tenant, or empty).
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
    return json.dumps(event, separators=(",", ":")).encode()


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
                    line = encode(event)
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
                elif first_payload[identity] == payload:
                    ledger["duplicate"] += 1
                else:
                    ledger["conflict"] += 1
                keys.append(event["tenant_id"].encode())
            out.write(line + b"\n")
    if args.keys:
        with open(args.keys, "wb") as key_file:
            key_file.write(b"\n".join(keys) + b"\n")
    if args.expect:
        invalid = args.lines - valid
        ledger.update({"consumed": args.lines, "dead_lettered": invalid,
                       "dead_lettered_by_reason": by_reason})
        summary = {"lines": args.lines, "valid": valid, "invalid": invalid,
                   "invalid_by_reason": by_reason, "ledger": ledger}
        with open(args.expect, "w") as expect:
            json.dump(summary, expect, sort_keys=True)


def canonical_payload(event):
    """What makes two events the same: equal after exact decimal normalisation."""
    from decimal import Decimal
    quantity = Decimal(str(event["quantity"])).normalize()
    return (event["tenant_id"], event["idempotency_key"], event.get("subject"), event["meter"],
            quantity, event["timestamp"], json.dumps(event.get("properties"), sort_keys=True))


if __name__ == "__main__":
    main()
