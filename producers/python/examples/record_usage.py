#!/usr/bin/env python3
"""Records one usage event with the Python SDK and prints the ledger's verdict.

  PYTHONPATH=producers/python/src python3 producers/python/examples/record_usage.py \\
      --url http://127.0.0.1:8080 --api-key acme-key --tenant acme --meter tokens \\
      --quantity 1500 --property model=gpt-x

Exit status: 0 accepted or duplicate, 1 anything else (conflict, invalid, failed), 2 usage.
"""

import argparse
import sys
from decimal import Decimal

import usage_ledger as ul


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="usage-ledger's HTTP API")
    parser.add_argument("--api-key", required=True, help="the tenant's API key (or an admin key)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--meter", required=True)
    parser.add_argument(
        "--quantity", required=True, type=Decimal, help="an exact decimal, e.g. 1500 or 0.25"
    )
    parser.add_argument("--subject")
    parser.add_argument("--key", help="idempotency key (default: a new UUIDv7)")
    parser.add_argument(
        "--timestamp", help="RFC 3339 (default: now); resending a key needs the same one"
    )
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    properties = dict(item.split("=", 1) for item in args.property) or None

    with ul.Client(args.url, args.api_key) as client:
        try:
            pending = client.record(
                args.tenant,
                args.meter,
                args.quantity,
                subject=args.subject,
                properties=properties,
                idempotency_key=args.key,
                timestamp=args.timestamp,
            )
        except ul.InvalidEvent as invalid:  # refused before sending: nothing left the process
            print(f"invalid event: {invalid.reason}: {invalid.detail}", file=sys.stderr)
            return 1
        verdict = pending.result(timeout=60)
    print(
        f"{verdict.status} {verdict.idempotency_key}"
        + (f" ({verdict.error})" if verdict.error else "")
    )
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
