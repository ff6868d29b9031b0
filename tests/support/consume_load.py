#!/usr/bin/env python3
"""Concurrent check-and-consume calls for the e2e tests (stdlib only).

consume_load.py --url URL --api-key K --tenant T --calls N --threads C --prefix P --out FILE
    N calls of POST URL/v1/tenants/T/consume {"meter":"api_calls","quantity":1,
    "idempotency_key":"P-<i>"} from C threads. One JSON line per call is appended to FILE as its
    answer arrives (flushed: a script can watch the count): {"key","status","body"}, status 0 with
    "error" when the connection failed (the server was killed): then the thread goes on, so every
    key gets a line. --keys-from FILE sends the keys of FILE's lines again instead (a retry run).
"""
import argparse
import http.client
import json
import sys
import threading
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--calls", type=int, default=0)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--prefix", default="call")
    parser.add_argument("--keys-from")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.keys_from:
        with open(args.keys_from) as f:
            keys = [json.loads(line)["key"] for line in f if line.strip()]
    else:
        keys = [f"{args.prefix}-{i}" for i in range(args.calls)]
    target = urllib.parse.urlparse(args.url)
    lock = threading.Lock()
    out = open(args.out, "a")
    next_index = [0]

    def take():
        with lock:
            if next_index[0] >= len(keys):
                return None
            next_index[0] += 1
            return keys[next_index[0] - 1]

    def worker():
        connection = None
        while True:
            key = take()
            if key is None:
                break
            body = json.dumps({"meter": "api_calls", "quantity": 1, "idempotency_key": key})
            record = {"key": key}
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                connection.request(
                    "POST", f"/v1/tenants/{args.tenant}/consume", body=body,
                    headers={"Authorization": f"Bearer {args.api_key}",
                             "Content-Type": "application/json"})
                response = connection.getresponse()
                record["status"] = response.status
                record["body"] = json.loads(response.read() or b"null")
                record["retry_after"] = response.getheader("Retry-After")
            except (OSError, http.client.HTTPException, ValueError) as error:
                record["status"] = 0
                record["error"] = str(error)
                if connection is not None:
                    connection.close()
                connection = None
            with lock:
                out.write(json.dumps(record) + "\n")
                out.flush()

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
