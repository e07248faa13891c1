"""A PATCH body read straight from ASGI ``receive``: never held whole, with an idle timeout,
a length limit and the tus checksum computed as the bytes pass.

The timeout costs nothing per chunk: one timer per body re-arms itself from the start of the
pending ``receive()``, and cancels the reading task only when the client really stalled
(inside ``receive()``; time the consumer spends on a chunk never counts).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import zlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from awscrt import checksums as crt

from s3stream.gateway.errors import bad_request, checksum_mismatch, too_large

Receive = Any  # the ASGI receive callable


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, name: str) -> None:
        self._name = name
        self._value = 0

    def update(self, data: bytes) -> None:
        if self._name == "crc32c":
            self._value = crt.crc32c(data, self._value)
        else:
            self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def _hasher(algorithm: str) -> _Hasher:
    if algorithm in ("crc32c", "crc32"):
        return _Crc(algorithm)
    return hashlib.new(algorithm)


class ChecksumCheck:
    """``Upload-Checksum: <algorithm> <base64 digest>`` checked over the chunk."""

    def __init__(self, algorithm: str, expected: bytes) -> None:
        self.algorithm = algorithm
        self.expected = expected
        self._hasher = _hasher(algorithm)

    @classmethod
    def parse(cls, header: str | None, supported: tuple[str, ...]) -> ChecksumCheck | None:
        if header is None:
            return None
        algorithm, _, value = header.strip().partition(" ")
        algorithm = algorithm.lower()
        if not value.strip():
            raise bad_request("Upload-Checksum needs an algorithm and a base64 digest")
        if algorithm not in supported:
            raise bad_request(
                f"unsupported checksum algorithm {algorithm!r}: use one of {', '.join(supported)}"
            )
        try:
            expected = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("Upload-Checksum value is not base64") from None
        return cls(algorithm, expected)

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def matches(self) -> bool:
        return self._hasher.digest() == self.expected


class RequestBody:
    """The request body as an async iterator of chunks (a :class:`ChunkBody`).

    ``limit`` bytes at most (more is a 413); iteration ends quietly when the client
    disconnects or sends nothing for ``timeout`` seconds, and ``complete`` says whether the
    whole body arrived.
    """

    def __init__(
        self,
        receive: Receive,
        *,
        timeout: float,
        limit: int | None = None,
        checksum: ChecksumCheck | None = None,
        empty: bool = False,
        expected: int | None = None,
    ) -> None:
        self._receive = receive
        self._expected = 0 if empty else expected
        self._timeout = timeout
        self._limit = limit
        self._checksum = checksum
        self._done = empty
        self.complete = empty
        self.disconnected = False
        self.timed_out = False
        self._received = 0

    @property
    def received(self) -> int:
        return self._received

    @property
    def expected(self) -> int | None:
        return self._expected

    @property
    def checked(self) -> bool:
        return self._checksum is not None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._done:
            return
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        waiting_since: float | None = None  # the pending receive()'s start; None: not reading
        fired = False
        handle: asyncio.TimerHandle | None = None

        def watchdog() -> None:
            # only time spent waiting on the client counts: a store that takes its time with
            # the chunks (back-pressure) is not a stalled client, and cancelling the task
            # anywhere but in receive() would tear the store's write apart
            nonlocal handle, fired
            if waiting_since is not None and loop.time() - waiting_since >= self._timeout:
                fired = True
                task.cancel()
            else:
                since = loop.time() if waiting_since is None else waiting_since
                handle = loop.call_at(since + self._timeout, watchdog)

        handle = loop.call_at(loop.time() + self._timeout, watchdog)
        try:
            while True:
                waiting_since = loop.time()
                try:
                    message = await self._receive()
                except asyncio.CancelledError:
                    if fired:
                        task.uncancel()
                        self.timed_out = True
                        return
                    raise
                finally:
                    waiting_since = None
                if message["type"] == "http.disconnect":
                    self.disconnected = True
                    return
                data: bytes = message.get("body", b"")
                if data:
                    if self._limit is not None and self._received + len(data) > self._limit:
                        raise too_large("the body goes past the upload's length")
                    self._received += len(data)
                    if self._checksum is not None:
                        self._checksum.update(data)
                    yield data
                if not message.get("more_body", False):
                    self.complete = True
                    return
        finally:
            self._done = True
            if handle is not None:
                handle.cancel()

    def verify(self) -> None:
        """Raise when the chunk must be discarded (460 for a checksum that fails to match)."""
        if self._checksum is None:
            return
        if not self.complete or not self._checksum.matches():
            raise checksum_mismatch()
