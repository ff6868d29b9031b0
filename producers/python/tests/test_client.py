"""The client against an in-process fake ledger: batching, verdicts, retries after dropped
answers and 5xx/429 (same keys: counted once), the bounded queue, send(), close()."""

import datetime as dt
import threading
import unittest
from decimal import Decimal

import usage_ledger as ul
from tests.fake_server import FakeLedger

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.ledger = FakeLedger()
        self.addCleanup(self.ledger.close)

    def client(self, **options):
        options.setdefault("backoff_initial", 0.001)
        options.setdefault("backoff_max", 0.01)
        client = ul.Client(self.ledger.url, "key", **options)
        self.addCleanup(client.close)
        return client

    def test_record_batches_and_returns_verdicts(self):
        client = self.client(batch_size=50)
        pendings = [
            client.record("acme", "tokens", Decimal("1.5"), idempotency_key=f"k{i}", timestamp=NOW)
            for i in range(200)
        ]
        self.assertTrue(client.flush(30))
        verdicts = [pending.result(0) for pending in pendings]
        self.assertEqual({verdict.status for verdict in verdicts}, {"accepted"})
        self.assertEqual(len(self.ledger.entries), 200)
        self.assertLessEqual(self.ledger.requests, 200)
        canonical = self.ledger.entries[("acme", "k0")]
        self.assertIn('"quantity":"1.5"', canonical)
        # The same key and payload again: a duplicate; another payload: a conflict.
        again = client.record("acme", "tokens", "1.500", idempotency_key="k0", timestamp=NOW)
        other = client.record("acme", "tokens", 2, idempotency_key="k1", timestamp=NOW)
        self.assertEqual(again.result(10).status, "duplicate")
        self.assertEqual(other.result(10).status, "conflict")
        self.assertTrue(again.result().ok)
        self.assertFalse(other.result().ok)

    def test_defaults_uuid7_key_and_now(self):
        client = self.client()
        pending = client.record("acme", "tokens", 3)
        verdict = pending.result(10)
        self.assertEqual(verdict.status, "accepted")
        self.assertRegex(
            pending.idempotency_key,
            r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        canonical = self.ledger.entries[("acme", pending.idempotency_key)]
        self.assertIn(f'"timestamp":"{NOW.year:04d}-', canonical)

    def test_retries_dropped_answers_and_errors_with_the_same_keys(self):
        self.ledger.faults = ["drop", 503, 429, "drop", None, "pending", "drop"]
        client = self.client(batch_size=10)
        pendings = [
            client.record("acme", "tokens", 1, idempotency_key=f"r{i}", timestamp=NOW)
            for i in range(40)
        ]
        self.assertTrue(client.flush(30))
        statuses = [pending.result(0).status for pending in pendings]
        self.assertTrue(all(status in ("accepted", "duplicate") for status in statuses), statuses)
        self.assertIn("duplicate", statuses)  # the dropped answers' events came back as duplicates
        self.assertEqual(len(self.ledger.entries), 40)
        self.assertGreaterEqual(client.stats()["retries"], 5)

    def test_gives_up_after_max_retries(self):
        self.ledger.faults = [503] * 10
        client = self.client(max_retries=2)
        verdict = client.record("acme", "tokens", 1, timestamp=NOW).result(10)
        self.assertEqual(verdict.status, "failed")
        self.assertIn("gave up after 3 attempts", verdict.error)
        self.assertEqual(self.ledger.requests, 3)

    def test_unretryable_answer_fails_at_once(self):
        client = ul.Client(self.ledger.url, "wrong-key")
        self.addCleanup(client.close)
        verdict = client.record("acme", "tokens", 1).result(10)
        self.assertEqual(verdict.status, "failed")
        self.assertIn("HTTP 401", verdict.error)
        self.assertEqual(self.ledger.requests, 1)

    def test_invalid_events_are_refused_before_queueing(self):
        client = self.client()
        cases = [
            (("Acme!", "tokens", 1), {}, "bad_tenant"),
            (("acme", "Tokens", 1), {}, "bad_meter"),
            (("acme", "tokens", 1.5), {}, "bad_quantity"),
            (("acme", "tokens", "-1"), {}, "bad_quantity"),
            (("acme", "tokens", Decimal("0.0000001")), {}, "bad_quantity"),
            (("acme", "tokens", Decimal("NaN")), {}, "bad_quantity"),
            (("acme", "tokens", 1), {"timestamp": dt.datetime(2026, 1, 1)}, "bad_timestamp"),
            (("acme", "tokens", 1), {"timestamp": NOW - dt.timedelta(days=36)}, "bad_timestamp"),
            (("acme", "tokens", 1), {"idempotency_key": ""}, "bad_key"),
            (("acme", "tokens", 1), {"subject": "x" * 129}, "bad_subject"),
            (("acme", "tokens", 1), {"properties": {"a": [1]}}, "bad_properties"),
            (
                ("acme", "tokens", 1),
                {"properties": {str(i): i for i in range(17)}},
                "bad_properties",
            ),
        ]
        for args, kwargs, reason in cases:
            with self.subTest(reason=reason, args=args, kwargs=kwargs):
                with self.assertRaises(ul.InvalidEvent) as raised:
                    client.record(*args, **kwargs)
                self.assertEqual(raised.exception.reason, reason)
        self.assertEqual(self.ledger.requests, 0)
        self.assertEqual(client.stats()["unsettled"], 0)

    def test_queue_full(self):
        gate = threading.Event()
        original = self.ledger.server.RequestHandlerClass.do_POST

        def slow(handler):
            gate.wait(30)
            original(handler)

        self.ledger.server.RequestHandlerClass.do_POST = slow
        client = self.client(max_queue=5, batch_size=1)
        pendings = [client.record("acme", "tokens", 1, timestamp=NOW) for _ in range(5)]
        with self.assertRaises(ul.QueueFull):
            client.record("acme", "tokens", 1, timestamp=NOW)
        gate.set()
        self.assertTrue(client.flush(30))
        self.assertEqual({pending.result(0).status for pending in pendings}, {"accepted"})
        client.record("acme", "tokens", 1, timestamp=NOW).result(10)

    def test_send_is_synchronous_and_reports_invalid_events_by_position(self):
        client = self.client(batch_size=3)
        events = [
            {
                "tenant_id": "acme",
                "meter": "tokens",
                "quantity": i,
                "idempotency_key": f"s{i}",
                "timestamp": NOW,
            }
            for i in range(7)
        ]
        events.insert(2, {"tenant_id": "acme", "meter": "tokens", "quantity": "x"})
        events.insert(4, {"tenant_id": "acme", "meter": "tokens", "quantity": 1, "colour": "red"})
        verdicts = client.send(events)
        self.assertEqual(
            [verdict.status for verdict in verdicts],
            ["accepted"] * 2 + ["invalid", "accepted", "invalid"] + ["accepted"] * 4,
        )
        self.assertEqual(verdicts[2].reason, "bad_quantity")
        self.assertEqual(verdicts[4].reason, "unknown_field")
        self.assertEqual(self.ledger.requests, 3)
        self.assertEqual(client.send(events[:2])[1].status, "duplicate")

    def test_close_flushes_and_refuses_more(self):
        with ul.Client(self.ledger.url, "key") as client:
            pending = client.record("acme", "tokens", 1)
        self.assertEqual(pending.result(0).status, "accepted")
        with self.assertRaises(ul.ClientClosed):
            client.record("acme", "tokens", 1)

    def test_close_with_an_unreachable_server_fails_what_is_left(self):
        self.ledger.close()
        client = ul.Client(
            self.ledger.url,
            "key",
            backoff_initial=0.05,
            backoff_max=0.05,
            max_retries=1000,
            timeout=1,
        )
        pendings = [client.record("acme", "tokens", 1) for _ in range(3)]
        self.assertFalse(client.close(timeout=0.2))
        for pending in pendings:
            self.assertEqual(pending.result(0).status, "failed")

    def test_a_path_prefix_and_wait_are_kept(self):
        self.assertEqual(
            ul.client._Http("http://h:1/api/", "k", 1, "acknowledged").path,
            "/api/v1/events?wait=acknowledged",
        )


class UuidTest(unittest.TestCase):
    def test_uuid7_increases_within_a_millisecond_and_when_the_clock_steps_back(self):
        clock = [1_000]
        generate = ul.uuid7.__globals__["Uuid7Generator"](lambda: clock[0])
        keys = [generate() for _ in range(5000)]  # more than 4096: borrows the next millisecond
        clock[0] = 10
        keys.append(generate())
        self.assertEqual(keys, sorted(keys))
        self.assertEqual(len(set(keys)), len(keys))
        self.assertTrue(all(key[14] == "7" and key[19] in "89ab" for key in keys))
        self.assertEqual(
            ul.uuid7.__globals__["uuid7_from"](0x0123456789AB, 0xCDE, 0),
            "01234567-89ab-7cde-8000-000000000000",
        )


if __name__ == "__main__":
    unittest.main()
