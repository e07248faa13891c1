"""A request-head timeout for uvicorn's h11 protocol (slowloris).

uvicorn times out only idle keep-alive connections: a client that connects and sends
nothing, or sends its request head one byte a second, holds its connection (and a file
descriptor) for as long as it likes. :class:`HeadTimeoutProtocol` is uvicorn's
:class:`~uvicorn.protocols.http.h11_impl.H11Protocol` plus one timer per connection, armed
while the server waits on the client with no application reading:

- from the moment the connection is made until the first request head is complete;
- from the first byte of a later request on a keep-alive connection until its head is
  complete (the silence before that byte is the keep-alive timeout's);
- after the application answered without reading the whole body (a 401, a 413), while
  uvicorn discards the rest, so that an unread body cannot trickle forever either.

When the timer fires the connection is closed, with a ``408 Request Timeout`` if some of a
request had arrived. A body the application does read has its own idle timeout
(``--body-timeout``, :class:`~s3stream.gateway.handler.body.RequestBody`).

uvicorn has no public hook for this, so the class extends uvicorn's ``H11Protocol`` (through
:class:`~s3stream.gateway.protocol.DirectBodyProtocol`, which hands request bodies to the
application without copies) and reads its state (``conn``, ``timeout_keep_alive_task``,
``transport``). That is tested with the uvicorn releases in :data:`TESTED_UVICORN` only, which
the ``server`` extra requires; :func:`head_timeout_protocol` refuses any other release (rather
than serve without the timeout, or with one that misreads uvicorn's state), unless the timeout
is off: then it is uvicorn's own protocol.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from s3stream.errors import ConfigError
from s3stream.gateway.protocol import DirectBodyProtocol

log = logging.getLogger("s3stream.gateway")

DEFAULT_HEADER_TIMEOUT = 10.0
TESTED_UVICORN = ((0, 30), (0, 55))
"""The uvicorn releases :class:`HeadTimeoutProtocol` is tested with: (major, minor) from the
first (included) to the second (excluded); the ``server`` extra asks for the same range."""

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 29\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request head not sent in time"
)


class HeadTimeoutProtocol(DirectBodyProtocol):
    """:class:`DirectBodyProtocol` that closes connections whose request head (or unread
    body) does not arrive within :attr:`header_timeout` seconds."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- uvicorn's hooks

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._update()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._update()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._update()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # ---------------------------------------------------------------- the timer

    def _partial_head(self) -> bool:
        """Bytes of a request head that h11 holds until the head is complete."""
        return self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])

    def _waiting_on_client(self) -> bool:
        """Is the server waiting for bytes that no application task will read?"""
        if self.transport.is_closing():
            return False
        their, ours = self.conn.their_state, self.conn.our_state
        if their is h11.IDLE:
            # a fresh connection, a head begun, or an idle connection that uvicorn's
            # keep-alive timer does not watch (it cancels it on every byte, also of a
            # discarded body, and re-arms it only when a response completes)
            return self._partial_head() or self.timeout_keep_alive_task is None
        return their is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE)

    def _update(self) -> None:
        if self._waiting_on_client():
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.header_timeout, self._expired)
        else:
            self._disarm()

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._partial_head():
            self.transport.write(_TIMEOUT_RESPONSE)
        client = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
        log.info("%sclosed: request not sent within %g s", client, self.header_timeout)
        self.transport.close()


def uvicorn_requirement() -> str:
    """:data:`TESTED_UVICORN` as a pip version specifier (``>=0.30,<0.55``)."""
    (low_major, low_minor), (high_major, high_minor) = TESTED_UVICORN
    return f">={low_major}.{low_minor},<{high_major}.{high_minor}"


def check_uvicorn(version: str) -> None:
    """Refuse a uvicorn release outside :data:`TESTED_UVICORN`, naming the fix."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    low, high = TESTED_UVICORN
    if not low <= numbers < high:
        tested = uvicorn_requirement()
        raise ConfigError(
            f"uvicorn {version} is not one the request-head timeout is tested with ({tested}): "
            f"pip install 'uvicorn{tested}', or serve without the timeout (--header-timeout 0)"
        )


def head_timeout_protocol(
    seconds: float, *, version: str = uvicorn.__version__
) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)``: h11 with direct bodies and a
    ``seconds`` request head timeout (``0``: no timeout). ``version`` is uvicorn's, checked by
    :func:`check_uvicorn`; outside the tested releases ``0`` gives uvicorn's own h11
    protocol, and any other timeout is refused."""
    if seconds <= 0:
        try:
            check_uvicorn(version)
        except ConfigError:
            return H11Protocol
        return DirectBodyProtocol
    check_uvicorn(version)
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"header_timeout": float(seconds)})


__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "TESTED_UVICORN",
    "HeadTimeoutProtocol",
    "check_uvicorn",
    "head_timeout_protocol",
    "uvicorn_requirement",
]
