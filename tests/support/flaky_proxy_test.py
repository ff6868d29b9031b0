#!/usr/bin/env python3
"""Self-check of tests/support/flaky_proxy.py (ctest: support.flaky_proxy, label unit).

A local http.server is the target. The proxy must: drop exactly every Nth response, with the
first drop fixed by the seed; forward all other responses byte-for-byte (Content-Length,
chunked and empty bodies, binary bytes, chunked request bodies); let the dropped requests reach
the server; close a keep-alive connection when it drops one of its responses; and report the
count on SIGTERM.
"""
import http.client
import http.server
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
import unittest

PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flaky_proxy.py")
BINARY = bytes(range(256)) * 4


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "target/1"
    sys_version = ""
    lock = threading.Lock()
    count = 0

    def date_time_string(self, timestamp=None):
        return "Sun, 22 Nov 2026 12:00:00 GMT"  # fixed, so two answers compare byte-for-byte

    def log_message(self, *args):
        pass

    def _counted(self):
        with Handler.lock:
            Handler.count += 1

    def do_GET(self):
        self._counted()
        if self.path == "/plain":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BINARY)))
            self.end_headers()
            self.wfile.write(BINARY)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", BINARY[:300]):
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
        else:
            self.send_response(204)
            self.end_headers()

    def do_POST(self):
        self._counted()
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.read(2)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(201)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def request_bytes(kind):
    head = b"Host: t\r\nConnection: close\r\n"
    if kind == "post":
        return b"POST /echo HTTP/1.1\r\n" + head + b"Content-Length: %d\r\n\r\n" % len(BINARY) + BINARY
    if kind == "post-chunked":
        return (b"POST /echo HTTP/1.1\r\n" + head + b"Transfer-Encoding: chunked\r\n\r\n"
                b"5\r\nabcde\r\n100\r\n" + bytes(range(256)) + b"\r\n0\r\n\r\n")
    return b"GET /%s HTTP/1.1\r\n" % kind.encode() + head + b"\r\n"


def roundtrip(address, data):
    """Sends one request on a fresh connection; the raw bytes until the peer closes."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(data)
        out = b""
        while True:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                return out
            out += piece
        return out


class FlakyProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        cls.server.daemon_threads = True
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.target = "127.0.0.1:%d" % cls.server.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def start_proxy(self, drop_every, seed):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen([sys.executable, PROXY, "--target", self.target, "--drop-every",
                                 str(drop_every), "--seed", str(seed), "--port-file", port_file],
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):  # written atomically once listening
            self.assertIsNone(proc.poll(), "proxy exited")
            self.assertLess(time.monotonic(), deadline, "no port file")
            time.sleep(0.02)
        with open(port_file) as f:
            text = f.read()
        self.assertRegex(text, r"^127\.0\.0\.1:\d+\n$")
        host, port = text.strip().split(":")
        return proc, (host, int(port))

    def stop_proxy(self, proc):
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 0, err)
        return err

    def test_drops_every_nth_and_forwards_the_rest_byte_for_byte(self):
        n, seed, total = 3, 7, 30
        proc, address = self.start_proxy(n, seed)
        kinds = ["plain", "chunked", "post", "post-chunked", "empty"]
        server_before = Handler.count
        dropped = []
        for i in range(1, total + 1):
            data = request_bytes(kinds[i % len(kinds)])
            direct = roundtrip(("127.0.0.1", self.server.server_address[1]), data)
            self.assertTrue(direct.startswith(b"HTTP/1.1 2"), direct[:100])
            proxied = roundtrip(address, data)
            if proxied == b"":
                dropped.append(i)
            else:
                self.assertEqual(proxied, direct, f"request {i} ({kinds[i % len(kinds)]})")
        phase = random.Random(seed).randrange(n)
        self.assertEqual(dropped, [i for i in range(1, total + 1) if (i + phase) % n == 0])
        self.assertEqual(len(dropped), total // n)
        # Dropped requests reached the server too: it answered all of them, twice.
        self.assertEqual(Handler.count - server_before, 2 * total)
        err = self.stop_proxy(proc)
        self.assertIn(f"flaky_proxy: dropped {total // n} of {total} responses", err)

    def test_keep_alive_connection_closed_on_a_drop(self):
        proc, address = self.start_proxy(2, 0)
        outcomes = []
        conn = http.client.HTTPConnection(*address, timeout=10)
        for _ in range(10):
            try:
                conn.request("POST", "/echo", body=b"payload")
                response = conn.getresponse()
                self.assertEqual(response.read(), b"payload")
                outcomes.append("ok")
            except (http.client.RemoteDisconnected, ConnectionError):
                outcomes.append("lost")
                conn.close()
                conn = http.client.HTTPConnection(*address, timeout=10)
        conn.close()
        phase = random.Random(0).randrange(2)
        expected = ["lost" if (i + phase) % 2 == 0 else "ok" for i in range(1, 11)]
        self.assertEqual(outcomes, expected)
        self.assertIn("flaky_proxy: dropped 5 of 10 responses", self.stop_proxy(proc))

    def test_drop_every_zero_never_drops(self):
        proc, address = self.start_proxy(0, 0)
        for _ in range(5):
            self.assertTrue(roundtrip(address, request_bytes("plain")).startswith(b"HTTP/1.1 200"))
        self.assertIn("flaky_proxy: dropped 0 of 5 responses", self.stop_proxy(proc))


if __name__ == "__main__":
    unittest.main(verbosity=2)
