"""The reply bytes kept for a key that captures its bodies (ApiKey.capture_bodies; docs/gateway.md,
"Capture"): the relay hands each chunk to `add`, as it does for the response cache's Capture, and the
gateway hands what was kept, with the request's body, to the ledger writer's process, which assembles,
redacts, caps and stores it (usage/exchanges.py). Nothing is parsed here, and nothing exists for a key that
does not capture.
"""

from __future__ import annotations

# The first CAPTURE_MAX_BYTES × RAW_FACTOR bytes of a reply are kept: a stream's events wrap every few
# characters of text in ~150 bytes of JSON, so the assembled text of that much stream fits the stored cap.
RAW_FACTOR = 16


class Kept:
    """A reply's first `limit` bytes; past them (`overflow`) only its last two chunks (`tail`: a stream's
    usage and end). Feeds the response cache's Capture too, when the request has one."""

    __slots__ = ("limit", "parts", "size", "overflow", "previous", "last", "cache", "cached")

    def __init__(self, limit: int, cache_capture=None) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.previous = self.last = b""
        self.cache = cache_capture
        self.cached = cache_capture is not None  # the reply says "x-tokenledger-cache: miss"

    def add(self, chunk: bytes) -> None:
        if self.cache is not None:
            self.cache.add(chunk)
        if self.overflow:
            self.previous, self.last = self.last, chunk
            return
        room = self.limit - self.size
        self.size += len(chunk)
        if len(chunk) > room:
            self.overflow = True
            self.parts.append(chunk[:room])
            self.last = chunk
            return
        self.parts.append(chunk)

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)

    @property
    def tail(self) -> bytes:
        return self.previous + self.last if self.overflow else b""
