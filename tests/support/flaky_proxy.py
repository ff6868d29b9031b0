#!/usr/bin/env python3
"""flaky_proxy: an HTTP/1.1 proxy that loses every Nth response, for SDK retry tests.

usage:
  python3 tests/support/flaky_proxy.py --target 127.0.0.1:PORT --drop-every N [--seed S] \\
      --port-file F

Listens on 127.0.0.1 on a free port and writes "127.0.0.1:PORT\\n" to F (atomically: a
temporary file renamed) once it accepts connections. Clients connect to it as if it were the
server. Each client connection gets its own connection to --target, and bytes are forwarded
unchanged both ways. Requests are numbered 1, 2, 3, ... across all connections, in the order the
proxy reads their headers. On every Nth one, it forwards the request, waits for the server's full
response, then closes the client's connection without sending any of it. The server has acted on
the request (committed the events), but the client sees a failure and retries with the same
idempotency keys, so the server gets duplicates that must count once. Which request is the first
dropped (1..N) is fixed by --seed (default 0), so a run can be repeated. --drop-every 0 never
drops.

On SIGTERM or SIGINT it prints one line to stderr and exits 0:
  flaky_proxy: dropped D of R responses
(D first, so `grep -o 'dropped [0-9]*'` reads it). Python 3 standard library only.

Framing: request bodies by Content-Length or chunked Transfer-Encoding. Responses by
Content-Length, chunked, none (HEAD, 1xx, 204, 304) or connection close. Interim 1xx responses
(100 Continue) are passed through at once and never dropped.
"""
import argparse
import os
import random
import signal
import socket
import sys
import threading

MAX_HEAD = 1 << 20


class Closed(Exception):
    """The peer closed the connection (or it broke) in the middle of a message."""


class Reader:
    """Buffered reads from a socket that return the raw bytes they consumed."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            raise Closed()
        self.buf += data

    def at_eof(self):
        """True when the peer closed the connection before sending anything more."""
        if self.buf:
            return False
        try:
            self._fill()
        except Closed:
            return True
        return False

    def until(self, delimiter):
        start = 0
        while True:
            index = self.buf.find(delimiter, start)
            if index >= 0:
                end = index + len(delimiter)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if len(self.buf) > MAX_HEAD:
                raise Closed()
            start = max(0, len(self.buf) - len(delimiter) + 1)
            self._fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def chunks(self, n):
        """Yields up to n bytes in pieces, as they arrive."""
        while n > 0:
            if not self.buf:
                self._fill()
            piece = bytes(self.buf[:n])
            del self.buf[:len(piece)]
            n -= len(piece)
            yield piece

    def to_eof(self):
        out = bytearray(self.buf)
        self.buf.clear()
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return bytes(out)
            out += data


def parse_head(head):
    """(first line, {lowercase name: value}) of a request or response head."""
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def is_chunked(headers):
    return "chunked" in headers.get("transfer-encoding", "").lower()


def chunked_body(reader):
    """Yields the raw bytes of a chunked body, trailers and final CRLF included."""
    while True:
        size_line = reader.until(b"\r\n")
        yield size_line
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:
                line = reader.until(b"\r\n")
                yield line
                if line == b"\r\n":
                    return
        yield from reader.chunks(size)
        yield reader.exactly(2)


class Proxy:
    def __init__(self, target, drop_every, seed):
        self.target = target
        self.drop_every = drop_every
        self.phase = random.Random(seed).randrange(drop_every) if drop_every > 0 else 0
        self.lock = threading.Lock()
        self.requests = 0
        self.dropped = 0

    def number_request(self):
        """The next request's fate: True to drop its response."""
        with self.lock:
            self.requests += 1
            return self.drop_every > 0 and (self.requests + self.phase) % self.drop_every == 0

    def count_drop(self):
        with self.lock:
            self.dropped += 1

    def serve(self, client):
        try:
            upstream = socket.create_connection(self.target)
        except OSError as error:
            print(f"flaky_proxy: cannot connect to {self.target}: {error}", file=sys.stderr)
            client.close()
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = []  # (method, drop) per forwarded request, in order
        ready = threading.Condition()
        done = threading.Event()

        def close_both():
            done.set()
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with ready:
                ready.notify_all()

        def requests():
            reader = Reader(client)
            try:
                while not reader.at_eof():
                    head = reader.until(b"\r\n\r\n")
                    first, headers = parse_head(head)
                    with ready:
                        pending.append((first.split(" ", 1)[0].upper(), self.number_request()))
                        ready.notify_all()
                    upstream.sendall(head)
                    if is_chunked(headers):
                        for piece in chunked_body(reader):
                            upstream.sendall(piece)
                    else:
                        for piece in reader.chunks(int(headers.get("content-length", "0"))):
                            upstream.sendall(piece)
                upstream.shutdown(socket.SHUT_WR)
            except (Closed, OSError, ValueError):
                close_both()

        thread = threading.Thread(target=requests, daemon=True)
        thread.start()
        reader = Reader(upstream)
        try:
            while not reader.at_eof():
                head = reader.until(b"\r\n\r\n")
                first, headers = parse_head(head)
                status = int(first.split(" ", 2)[1])
                if 100 <= status < 200 and status != 101:
                    client.sendall(head)  # interim: not the response the request waits for
                    continue
                with ready:
                    while not pending and not done.is_set():
                        ready.wait()
                    if not pending:
                        break
                    method, drop = pending.pop(0)
                response = bytearray(head)
                close_after = False
                if method == "HEAD" or status in (204, 304):
                    pass
                elif is_chunked(headers):
                    for piece in chunked_body(reader):
                        response += piece
                elif "content-length" in headers:
                    response += reader.exactly(int(headers["content-length"]))
                else:
                    response += reader.to_eof()
                    close_after = True
                if drop:
                    self.count_drop()
                    break
                client.sendall(response)
                if close_after or headers.get("connection", "").lower() == "close":
                    break
        except (Closed, OSError, ValueError, IndexError):
            pass
        close_both()
        thread.join()
        client.close()
        upstream.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT of the server")
    parser.add_argument("--drop-every", type=int, required=True, help="N: lose every Nth response")
    parser.add_argument("--seed", type=int, default=0, help="fixes which request is dropped first")
    parser.add_argument("--port-file", required=True, help='gets "127.0.0.1:PORT\\n"')
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    if not host or not port.isdigit() or args.drop_every < 0:
        parser.error("--target must be HOST:PORT and --drop-every >= 0")
    proxy = Proxy((host, int(port)), args.drop_every, args.seed)

    def stop(signum, frame):
        with proxy.lock:
            print(f"flaky_proxy: dropped {proxy.dropped} of {proxy.requests} responses",
                  file=sys.stderr, flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    temporary = args.port_file + ".tmp"
    with open(temporary, "w") as f:
        f.write(f"127.0.0.1:{listener.getsockname()[1]}\n")
    os.replace(temporary, args.port_file)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=proxy.serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
