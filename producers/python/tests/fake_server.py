"""A stand-in for POST /v1/events (stdlib only), for the client's unit tests: it keeps the
first canonical event of each (tenant, key) and answers accepted / duplicate / conflict /
invalid like `usage-ledger up` with wait=committed. Faults on request: `drop` (close without
answering after recording), `pending` (record, answer 504 with every event pending), an HTTP
status (answer it without recording)."""

import http.server
import json
import threading

import usage_ledger as ul


class FakeLedger:
    def __init__(self, api_key="key"):
        self.api_key = api_key
        self.lock = threading.Lock()
        self.entries = {}  # (tenant, key) -> canonical
        self.requests = 0
        self.faults = []  # per request, in order: None, "drop", or an HTTP status (int)
        self.bodies = []
        handler = self._handler()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _verdict(self, event):
        try:
            canonical = ul.canonical_event(event)
        except ul.InvalidEvent as invalid:
            return {"status": "invalid", "error": f"{invalid.reason}: {invalid.detail}"}
        identity = (event["tenant_id"], event["idempotency_key"])
        known = self.entries.get(identity)
        if known is None:
            self.entries[identity] = canonical
            return {
                "status": "accepted",
                "ledger_partition": 0,
                "ledger_sequence": len(self.entries) - 1,
            }
        return {"status": "duplicate" if known == canonical else "conflict"}

    def _handler(self):
        ledger = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, answer, headers=()):
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with ledger.lock:
                    ledger.requests += 1
                    fault = ledger.faults.pop(0) if ledger.faults else None
                    ledger.bodies.append(body)
                if self.headers.get("Authorization") != f"Bearer {ledger.api_key}":
                    self._reply(401, {"error": "unauthorized", "detail": "bad key"})
                    return
                if isinstance(fault, int):
                    self._reply(
                        fault,
                        {"error": "injected", "detail": str(fault)},
                        [("Retry-After", "0")] if fault == 429 else [],
                    )
                    return
                events = ul.loads_event(body)
                with ledger.lock:
                    answers = [
                        dict(index=index, **ledger._verdict(event))
                        for index, event in enumerate(events)
                    ]
                if fault == "pending":  # committed, but the verdicts came too late (504)
                    for answer in answers:
                        answer.update(status="pending", error="not committed by the ledger in time")
                    self._reply(504, {"durability": "ledger", "events": answers})
                    return
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if all(answer["status"] == "invalid" for answer in answers):
                    self._reply(
                        400,
                        {
                            "error": "invalid_events",
                            "detail": "every event is invalid",
                            "events": answers,
                        },
                    )
                    return
                self._reply(200, {"durability": "ledger", "events": answers})

        return Handler
