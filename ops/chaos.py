#!/usr/bin/env python3
"""A seeded crash simulation of the whole system (ops/chaos runs it; README "Chaos").

Processes, each a real `usage-ledger` on loopback:
  broker   `usage-ledger broker`: the Kafka the others share (never killed: it keeps its
           messages in memory, as a replicated cluster keeps them across one process's death)
  up       `up --bootstrap-file`: the ledger, a projection and the query API; answers
           POST /v1/events?wait=committed once the ledger's fsynced commit holds the events
  project  `project --assign-all`: a second projection and query API; answers plain
           POST /v1/events (202: in Kafka)
Two HTTP clients send batches of generated events (one to `up` with wait=committed, one to
`project`), each retrying a batch with the same keys and payloads until it gets an answer, and
now and then re-sending an answered batch (duplicates). Meanwhile a schedule drawn from the seed
kills `up` or `project` with SIGKILL after a random delay and restarts it at once.

At the end (everything restarted, clients done, then stopped cleanly) it checks:
  - the ledger holds every event exactly once: `stats` accepted == events sent, no conflict, no
    dead letter; `export ledger` has each key once with the payload sent;
  - every `accepted` answer to wait=committed is among them;
  - `verify` passes;
  - both projections' day counters equal the sums computed here from the events sent;
  - `replay --verify` of each projection store equals it.
The seed fixes the kill schedule and the events; the operating system still decides how the
processes interleave, so a failure is reproduced by running the same command again (it prints
it), perhaps a few times.
"""
import argparse
import collections
import decimal
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ADMIN = "chaos-admin"
TENANTS = ["acme", "globex", "initech", "umbrella"]
METERS = ["api_calls", "tokens"]


def log(text):
    print(f"chaos: {text}", flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proc:
    """A restartable child process; its output is appended to WORK/<name>.log."""

    def __init__(self, name, argv, work):
        self.name, self.argv, self.work = name, argv, work
        self.process = None
        self.starts = 0

    def start(self):
        out = open(os.path.join(self.work, self.name + ".log"), "ab")
        out.write(f"--- start {self.starts}\n".encode())
        out.flush()
        self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.starts += 1

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout=120):
        """SIGINT and wait; the exit status (a clean stop is 0)."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return "did not stop in %d s" % timeout

    def tail(self, lines=30):
        path = os.path.join(self.work, self.name + ".log")
        with open(path, "rb") as handle:
            return b"".join(handle.readlines()[-lines:]).decode(errors="replace")


def request(port, method, path, body=None, timeout=30):
    """(status, parsed JSON or text); raises OSError / HTTPException when there is no answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": "Bearer " + ADMIN}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text
    finally:
        connection.close()


class Client(threading.Thread):
    """Sends batches until told to stop; every batch is retried until it is answered."""

    def __init__(self, name, port, path, rng, events, accepted_answers, stop):
        super().__init__(daemon=True)
        self.name_, self.port, self.path, self.rng = name, port, path, rng
        self.events, self.accepted_answers, self.stop = events, accepted_answers, stop
        self.answered = []  # batches answered, to send again as duplicates
        self.counts = collections.Counter()
        self.error = None

    def make_batch(self):
        batch = []
        for _ in range(self.rng.randint(1, 20)):
            index = len(self.events)
            quantity = str(decimal.Decimal(self.rng.randint(1, 5000)) / (10 if index % 3 else 1))
            event = {
                "tenant_id": self.rng.choice(TENANTS),
                "meter": self.rng.choice(METERS),
                "quantity": quantity,
                "idempotency_key": f"{self.name_}-{index}",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                + ".%06dZ" % self.rng.randint(0, 999_999),
            }
            self.events.append(event)
            batch.append(event)
        return batch

    def send(self, batch, duplicate):
        body = json.dumps(batch)
        while True:  # until answered: the same keys and payloads every time
            try:
                status, answer = request(self.port, "POST", self.path, body)
            except (OSError, http.client.HTTPException):
                self.counts["no_answer"] += 1
                time.sleep(0.05)  # the process is down or restarting: retry
                continue
            if status in (503, 504):  # not decided (the ledger stopped, a timeout): retry
                self.counts[f"retry_{status}"] += 1
                time.sleep(0.05)
                continue
            if status not in (200, 202):
                raise RuntimeError(f"{self.name_}: {status} {answer} for {body[:300]}")
            for event, verdict in zip(batch, answer["events"]):
                self.counts[verdict["status"]] += 1
                if verdict["status"] == "accepted":
                    self.accepted_answers.add(event["idempotency_key"])
                elif verdict["status"] not in ("duplicate", "queued"):
                    raise RuntimeError(f"{self.name_}: {verdict} for {event}")
            if not duplicate:
                self.answered.append(batch)
            return

    def run(self):
        try:
            while not self.stop.is_set():
                if self.answered and self.rng.random() < 0.1:
                    self.send(self.rng.choice(self.answered), duplicate=True)
                else:
                    self.send(self.make_batch(), duplicate=False)
        except Exception as error:  # reported by the main thread
            self.error = error


def run_checked(argv, what):
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{what} exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def wait_for(what, predicate, seconds):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s: {what}")
        time.sleep(0.2)


def day_sums(events):
    sums = collections.defaultdict(decimal.Decimal)
    for event in events:
        sums[(event["tenant_id"], event["meter"], event["timestamp"][:10])] += decimal.Decimal(
            event["quantity"])
    return sums


def counters_of(binary, data_dir):
    out = run_checked([binary, "export", "counters", "--data-dir", data_dir, "--window", "day"],
                      "export counters " + data_dir)
    sums = {}
    for line in out.splitlines():
        cell = json.loads(line)
        sums[(cell["tenant_id"], cell["meter"], cell["period_start"][:10])] = decimal.Decimal(
            cell["sum"])
    return sums


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="the usage-ledger binary")
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs to deal (default 100)")
    parser.add_argument("--seed", type=int, help="the schedule's seed (default: random, printed)")
    parser.add_argument("--min-delay", type=float, default=0.2, help="seconds between kills, min")
    parser.add_argument("--max-delay", type=float, default=1.5, help="seconds between kills, max")
    parser.add_argument("--work", help="working directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    log(f"seed {seed}; reproduce with: ops/chaos --kills {args.kills} --seed {seed}")
    rng = random.Random(seed)
    work = args.work or tempfile.mkdtemp(prefix="usage-ledger-chaos-")
    os.makedirs(work, exist_ok=True)
    binary = os.path.abspath(args.bin)
    bootstrap = os.path.join(work, "bootstrap")
    up_port, project_port = free_port(), free_port()
    limits = ["--rate-limit", "1000000", "--rate-burst", "1000000", "--admin-key", ADMIN]
    broker = Proc("broker", [binary, "broker", "--bootstrap-file", bootstrap, "--partitions", "4"],
                  work)
    up = Proc("up", [binary, "up", "--bootstrap-file", bootstrap, "--data-dir",
                     os.path.join(work, "up"), "--listen", f"127.0.0.1:{up_port}"] + limits, work)
    project = Proc("project", [binary, "project", "--bootstrap-file", bootstrap, "--data-dir",
                               os.path.join(work, "project"), "--assign-all", "--listen",
                               f"127.0.0.1:{project_port}"] + limits, work)
    processes = [broker, up, project]
    stop = threading.Event()
    ok = False
    started = time.monotonic()
    try:
        broker.start()
        wait_for("the broker's bootstrap file", lambda: os.path.exists(bootstrap), 60)
        up.start()
        project.start()
        events_up, events_project, accepted = [], [], set()
        clients = [
            Client("c", up_port, "/v1/events?wait=committed", random.Random(rng.random()),
                   events_up, accepted, stop),
            Client("p", project_port, "/v1/events", random.Random(rng.random()),
                   events_project, set(), stop),
        ]
        for client in clients:
            client.start()
        kills = collections.Counter()
        for number in range(1, args.kills + 1):
            target = rng.choice([up, project])
            time.sleep(rng.uniform(args.min_delay, args.max_delay))
            for client in clients:
                if client.error:
                    raise AssertionError(f"client failed: {client.error}")
            target.kill()
            kills[target.name] += 1
            target.start()
            if number % 10 == 0 or number == args.kills:
                log(f"{number}/{args.kills} kills ({dict(kills)}), "
                    f"{len(events_up) + len(events_project)} events so far")
        stop.set()
        for client in clients:
            client.join(timeout=300)
            if client.is_alive() or client.error:
                raise AssertionError(f"client {client.name_} did not finish: {client.error}")
        events = events_up + events_project
        log(f"clients done: {len(events)} events; answers {dict(clients[0].counts)} (committed), "
            f"{dict(clients[1].counts)} (plain)")

        def ledger_has_all():
            stats = json.loads(run_checked([binary, "stats", "--data-dir",
                                            os.path.join(work, "up")], "stats"))
            return stats["accepted"] >= len(events)

        wait_for("the ledger holding every event", ledger_has_all, 180)

        def applied(port):
            def check():
                try:
                    status, body = request(port, "GET", "/readyz", timeout=5)
                except (OSError, http.client.HTTPException):
                    return False
                # ledger_lag is -1 where no ledger store is beside the projection (`project`)
                return status == 200 and body["lag"] == 0 and body.get("ledger_lag", 0) <= 0
            return check

        wait_for("up's projection caught up", applied(up_port), 180)
        wait_for("the projection caught up", applied(project_port), 180)
        for process in (project, up):
            status = process.stop()
            if status != 0:
                raise AssertionError(f"{process.name} stopped with {status}")

        # The ledger: every event once, with its payload; every accepted answer among them.
        ledger_dir = os.path.join(work, "up")
        stats = json.loads(run_checked([binary, "stats", "--data-dir", ledger_dir], "stats"))
        if stats["accepted"] != len(events) or stats["conflict"] != 0 or stats["dead_lettered"]:
            raise AssertionError(f"stats {stats} for {len(events)} events sent")
        entries = collections.Counter()
        payload = {e["idempotency_key"]: e for e in events}
        for line in run_checked([binary, "export", "ledger", "--data-dir", ledger_dir],
                                "export ledger").splitlines():
            entry = json.loads(line)
            event = entry.get("event", entry)
            key = event["idempotency_key"]
            entries[key] += 1
            sent = payload.get(key)
            if sent is None or decimal.Decimal(event["quantity"]) != decimal.Decimal(
                    sent["quantity"]) or event["tenant_id"] != sent["tenant_id"]:
                raise AssertionError(f"ledger entry {entry} does not match what was sent: {sent}")
        doubled = [key for key, count in entries.items() if count != 1]
        missing = [key for key in payload if key not in entries]
        if doubled or missing:
            raise AssertionError(f"{len(doubled)} keys doubled ({doubled[:5]}), "
                                 f"{len(missing)} missing ({missing[:5]})")
        if not accepted <= set(entries):
            raise AssertionError("an accepted answer's event is not in the ledger")
        run_checked([binary, "verify", "--data-dir", ledger_dir], "verify")
        # The projections: day counters equal the sums of the events sent; replay agrees.
        expected = day_sums(events)
        for name in ("up", "project"):
            data_dir = os.path.join(work, name)
            got = counters_of(binary, data_dir)
            if got != dict(expected):
                diff = {k: (expected.get(k), got.get(k)) for k in set(expected) | set(got)
                        if expected.get(k) != got.get(k)}
                raise AssertionError(f"{name}'s counters differ (expected, got): {diff}")
            replay_out = os.path.join(work, "replay-" + name)
            run_checked([binary, "replay", "--out", replay_out, "--ledger-dir", ledger_dir,
                         "--verify", data_dir], "replay --verify " + name)
        elapsed = time.monotonic() - started
        log(f"PASS seed {seed}: {sum(kills.values())} kills ({dict(kills)}), {len(events)} events "
            f"({len(accepted)} accepted with wait=committed), {stats['duplicate']} duplicates "
            f"counted once, verify ok, counters and replays exact; {elapsed:.0f} s")
        ok = True
    except AssertionError as failure:
        log(f"FAIL seed {seed}: {failure}")
        for process in processes:
            log(f"--- {process.name} (last lines)\n{process.tail()}")
    finally:
        stop.set()
        for process in processes:
            if process.process and process.process.poll() is None:
                process.process.kill()
                process.process.wait()
        if args.keep or not ok:
            log(f"working directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not ok:
        log(f"reproduce with: ops/chaos --kills {args.kills} --seed {seed}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
