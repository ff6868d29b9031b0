"""The e2e driver of tests/e2e/sdk_python.sh: sends events through the SDK (via the flaky proxy)
to a real `usage-ledger up`, then checks GET /v1/tenants/{t}/usage against its own sum.

  e2e_send.py --url http://PROXY --direct-url http://UP --tenant T=KEY ... [--events N] [--seed S]

Records N events (a few tenants and meters, Decimal / int / str quantities, properties), 5 % of
them again on purpose with the same key and payload, most with Client.record() from one thread
per tenant and the last tenth with Client.send(). Checks every verdict (the repeats are
duplicates; nothing failed, conflicted or was invalid), then polls the usage answer until it
equals the sum computed here (exact decimals) for every tenant and meter, or fails at a deadline.
Prints one summary line (JSON) on success; exits 1 with the reason otherwise.
"""

import argparse
import collections
import datetime as dt
import json
import random
import sys
import threading
import time
import urllib.request
from decimal import Decimal

import usage_ledger as ul

METERS = ("tokens", "api_calls", "audio_minutes")
MODELS = ("gpt-x", "gpt-y", "whisper")


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def make_events(tenants, count, seed, timestamp):
    """count events: (tenant, fields) in order; repeats are copies of earlier ones."""
    rng = random.Random(seed)
    fresh = count - count // 20
    events = []
    for index in range(fresh):
        tenant = rng.choice(tenants)
        micros = rng.randint(0, 5_000_000_000)
        shape = index % 3
        quantity = (
            Decimal(micros).scaleb(-6)
            if shape == 0
            else (micros // 10**6 if shape == 1 else ul.format_micros(micros))
        )
        fields = {
            "tenant_id": tenant,
            "meter": rng.choice(METERS),
            "quantity": quantity,
            "idempotency_key": f"e2e-{seed}-{index}",
            "timestamp": timestamp,
        }
        if rng.random() < 0.5:
            fields["properties"] = {
                "model": rng.choice(MODELS),
                "region": "eu",
                "cached": rng.random() < 0.5,
            }
        if rng.random() < 0.2:
            fields["subject"] = f"user-{rng.randint(1, 50)}"
        events.append(fields)
    for _ in range(count - fresh):
        events.insert(
            rng.randint(len(events) // 2, len(events)), dict(rng.choice(events[: len(events) // 2]))
        )
    return events


def expected_usage(events):
    usage = collections.defaultdict(lambda: [Decimal(0), 0])
    seen = set()
    for fields in events:
        identity = (fields["tenant_id"], fields["idempotency_key"])
        if identity in seen:
            continue
        seen.add(identity)
        cell = usage[(fields["tenant_id"], fields["meter"])]
        quantity = fields["quantity"]  # summed here with decimal.Decimal, not with the SDK
        cell[0] += quantity if isinstance(quantity, Decimal) else Decimal(str(quantity))
        cell[1] += 1
    return usage, seen


def get_json(url, key):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response, parse_float=Decimal)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--direct-url", required=True)
    parser.add_argument("--tenant", action="append", required=True, help="TENANT=API_KEY")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--deadline", type=float, default=180)
    args = parser.parse_args()
    print(f"e2e_send: seed {args.seed}", file=sys.stderr)
    keys = dict(item.split("=", 1) for item in args.tenant)
    tenants = sorted(keys)
    at = ul.format_rfc3339(ul.parse_rfc3339(dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
    events = make_events(tenants, args.events, args.seed, at)
    usage, distinct = expected_usage(events)

    split = len(events) - len(events) // 10
    by_tenant = collections.defaultdict(list)
    for position, fields in enumerate(events[:split]):
        by_tenant[fields["tenant_id"]].append((position, fields))
    verdicts = [None] * len(events)
    stats = {}
    errors = []

    def record_all(tenant):
        try:
            with ul.Client(
                args.url, keys[tenant], batch_size=100, backoff_initial=0.02, backoff_max=0.5
            ) as client:
                pendings = []
                for position, fields in by_tenant[tenant]:
                    pendings.append((position, client.record(**fields)))
                if not client.flush(args.deadline):
                    errors.append(f"{tenant}: flush timed out")
                for position, pending in pendings:
                    verdicts[position] = pending.result(0)
                stats[tenant] = client.stats()
        except Exception as error:  # reported below, never swallowed
            errors.append(f"{tenant}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=record_all, args=(tenant,)) for tenant in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        fail("; ".join(errors))

    # The last tenth with send(), one tenant at a time (a tenant key sends its own events only).
    for tenant in tenants:
        mine = [
            (position, fields)
            for position, fields in enumerate(events)
            if position >= split and fields["tenant_id"] == tenant
        ]
        with ul.Client(
            args.url, keys[tenant], batch_size=100, backoff_initial=0.02, backoff_max=0.5
        ) as client:
            for (position, _), verdict in zip(
                mine, client.send([fields for _, fields in mine]), strict=True
            ):
                verdicts[position] = verdict
            for name, value in client.stats().items():
                stats.setdefault(f"send-{tenant}", {})[name] = value

    seen = set()
    counts = collections.Counter()
    for position, (fields, verdict) in enumerate(zip(events, verdicts, strict=True)):
        identity = (fields["tenant_id"], fields["idempotency_key"])
        counts[verdict.status] += 1
        if identity in seen and verdict.status != "duplicate":
            fail(f"event {position} ({identity}) was sent again on purpose but got {verdict}")
        if verdict.status not in ("accepted", "duplicate"):
            fail(f"event {position} ({identity}): {verdict}")
        seen.add(identity)
    if counts["accepted"] > len(distinct):
        fail(f"{counts['accepted']} accepted verdicts for {len(distinct)} distinct events")

    deadline = time.monotonic() + args.deadline
    while True:
        differences = []
        for tenant in tenants:
            answer = get_json(f"{args.direct_url}/v1/tenants/{tenant}/usage?at={at}", keys[tenant])
            meters = {entry["meter"]: entry for entry in answer["meters"]}
            for meter in METERS:
                want_used, want_count = usage.get((tenant, meter), (Decimal(0), 0))
                entry = meters.get(meter, {"used": "0", "count": 0})
                if Decimal(str(entry["used"])) != want_used or entry["count"] != want_count:
                    differences.append(
                        f"{tenant}/{meter}: used {entry['used']} count {entry['count']},"
                        f" expected {want_used} count {want_count}"
                    )
        if not differences:
            break
        if time.monotonic() > deadline:
            fail("usage differs after the deadline: " + "; ".join(differences))
        time.sleep(0.2)  # polling a condition with a deadline

    retries = sum(value.get("retries", 0) for value in stats.values())
    print(
        json.dumps(
            {
                "events": len(events),
                "distinct": len(distinct),
                "verdicts": dict(counts),
                "sdk_retries": retries,
                "seed": args.seed,
                "usage": {f"{t}/{m}": str(v[0]) for (t, m), v in sorted(usage.items())},
            }
        )
    )


if __name__ == "__main__":
    main()
