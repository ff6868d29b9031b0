"""UUIDv7 idempotency keys (RFC 9562), as producers/uuid.h makes them.

48-bit Unix milliseconds, version 7, a 12-bit counter in rand_a (started at a random value below
1024 each new millisecond, so it has room to count), variant 0b10, 62 random bits from the
operating system's CSPRNG. Keys from one generator increase strictly, also within a millisecond
and when the clock steps back (the last millisecond is reused; a counter overflow borrows the
next one). Thread-safe: one lock per generator.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["Uuid7Generator", "uuid7", "uuid7_from"]


def uuid7_from(unix_ms: int, counter: int, random62: int) -> str:
    """The pure form: the text of the UUIDv7 with these fields."""
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (counter & 0xFFF) << 64
    value |= 0b10 << 62
    value |= random62 & ((1 << 62) - 1)
    hex_digits = f"{value:032x}"
    h = hex_digits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Uuid7Generator:
    def __init__(self, clock_ms=None) -> None:
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> str:
        random_bytes = os.urandom(10)
        random62 = int.from_bytes(random_bytes[:8], "big")
        start = int.from_bytes(random_bytes[8:], "big") % 1024
        with self._lock:
            now_ms = self._clock_ms()
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._counter = start
            else:  # same millisecond, or the clock stepped back: count on in the last one
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms += 1
                    self._counter = start
            return uuid7_from(self._last_ms, self._counter, random62)


_default = Uuid7Generator()


def uuid7() -> str:
    """A new UUIDv7 text (lowercase, 36 characters), strictly increasing in this process."""
    return _default()
