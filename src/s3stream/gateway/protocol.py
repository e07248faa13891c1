"""The gateway's HTTP/1.1 protocol: uvicorn's h11 protocol, with request bodies handed to the
application as the socket delivers them.

uvicorn's h11 protocol copies every body byte four times before the application sees it
(into h11's buffer, out of it as an event, into the request's buffer, out of it as the ASGI
message) and stops reading after each 64 KiB until the application asks for more. For the
gateway, whose work is moving request bodies into the store, that was a third of its CPU.
:class:`DirectBodyProtocol` leaves everything to uvicorn and h11 except the middle of a body
framed by ``Content-Length``: there each piece the transport reads goes to the application
as it is (the ASGI ``receive`` of that request returns it, no copy), h11's count of the bytes
still to come is moved on by as much, and h11 itself sees the end of the body (so keep-alive,
pipelining and the end-of-message bookkeeping stay uvicorn's and h11's). Up to
:data:`QUEUE_LIMIT` bytes wait for the application before reading pauses (back-pressure).

The first bytes of a body that come with the request head, chunked bodies, a body whose last
piece carries the next request, and bodies after the response has started all take uvicorn's
way. The class reads h11's and uvicorn's private state (h11's reader and buffer, uvicorn's
request cycle), so it is used only with the uvicorn releases it is tested with (see
:mod:`.timeouts`), and with an h11 outside :data:`TESTED_H11` (or whose reader is not the one
it knows) it steps aside: every byte takes uvicorn's way.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import h11
from h11 import _readers
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

TESTED_H11 = ((0, 14), (0, 17))
"""The h11 releases whose private state the protocol reads: (major, minor) from the first
(included) to the second (excluded)."""

_CONTENT_LENGTH_READER: Any = getattr(_readers, "ContentLengthReader", None)
"""h11's reader of ``Content-Length`` bodies (None, in an h11 without it: uvicorn's way)."""


def direct_bodies(version: str = getattr(h11, "__version__", "0")) -> bool:
    """Can bodies be handed over directly with this h11 (``version``)? Else uvicorn's way."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    low, high = TESTED_H11
    return (
        low <= numbers < high
        and _CONTENT_LENGTH_READER is not None
        and hasattr(_CONTENT_LENGTH_READER(1), "_remaining")
        and hasattr(h11.Connection(h11.SERVER), "_receive_buffer")
        and hasattr(h11.Connection(h11.SERVER), "_reader")
    )


QUEUE_LIMIT = 1024 * 1024
"""Body bytes read ahead of the application before the connection stops reading."""


class _Body:
    """One request's body pieces, between the protocol and the application's ``receive``."""

    def __init__(self, protocol: DirectBodyProtocol, cycle: RequestResponseCycle) -> None:
        self.protocol = protocol
        self.cycle = cycle
        self.pieces: deque[bytes] = deque()
        self.queued = 0
        self.uvicorn_receive = cycle.receive

    def take(self, data: bytes) -> bool:
        """Hand ``data`` to the application if it is the middle of a ``Content-Length`` body
        (False: it takes uvicorn's way)."""
        cycle, conn = self.cycle, self.protocol.conn
        reader: Any = conn._reader
        if (
            type(reader) is not _CONTENT_LENGTH_READER
            or conn.their_state is not h11.SEND_BODY
            or cycle.response_started
            or cycle.disconnected
            or cycle.waiting_for_100_continue
            or cycle.body
            or conn._receive_buffer
            or len(data) > reader._remaining
        ):
            return False
        reader._remaining -= len(data)
        self.protocol.direct_bytes += len(data)
        self.pieces.append(data)
        self.queued += len(data)
        if self.queued > QUEUE_LIMIT:
            cycle.flow.pause_reading()
        cycle.message_event.set()
        if reader._remaining == 0:
            self.protocol.handle_events()  # h11 ends the message: uvicorn's receive says so
        return True

    async def receive(self) -> Any:
        """The request's ASGI ``receive``: the pieces handed over, else uvicorn's (which
        reports the rest: the end of the body, a disconnect, bytes that took its way)."""
        cycle = self.cycle
        if not self.pieces and self._streaming():
            cycle.flow.resume_reading()
            await cycle.message_event.wait()
        if self.pieces and not cycle.response_complete:
            data = self.pieces.popleft()
            self.queued -= len(data)
            if self.queued <= QUEUE_LIMIT and len(cycle.body) <= HIGH_WATER_LIMIT:
                cycle.flow.resume_reading()
            if not self.pieces and self._streaming():
                cycle.message_event.clear()  # else it stays set for what uvicorn will report
            return {"type": "http.request", "body": data, "more_body": True}
        return await self.uvicorn_receive()

    def _streaming(self) -> bool:
        """More of the body may come as pieces (uvicorn has nothing else to say yet)."""
        cycle = self.cycle
        return (
            cycle.more_body
            and not cycle.body
            and not cycle.disconnected
            and not cycle.response_complete
            and not cycle.waiting_for_100_continue
        )

    def drop(self) -> None:
        """The response is complete: pieces nobody read are discarded, as uvicorn would."""
        self.pieces.clear()
        self.queued = 0


class DirectBodyProtocol(H11Protocol):
    """:class:`H11Protocol` that hands the middle of ``Content-Length`` bodies to the
    application without copying or pausing after every 64 KiB (with an h11 it does not
    know, :data:`ENABLED` is False and it is uvicorn's :class:`H11Protocol`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body: _Body | None = None
        self.direct_bytes = 0
        """Body bytes handed over directly on this connection (the rest took uvicorn's way)."""

    def data_received(self, data: bytes) -> None:
        body = self._body
        if body is not None and body.cycle is self.cycle and body.take(data):
            self._unset_keepalive_if_required()
            return
        super().data_received(data)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        cycle = self.cycle
        if cycle is not before and cycle is not None and ENABLED:
            # a new request: its application task has not run yet, so it will read the body
            # through this receive (an instance attribute shadows uvicorn's method)
            self._body = _Body(self, cycle)
            cycle.receive = self._body.receive  # type: ignore[method-assign]

    def on_response_complete(self) -> None:
        if self._body is not None and self._body.cycle is self.cycle:
            self._body.drop()
        super().on_response_complete()


ENABLED = direct_bodies()
"""Does :class:`DirectBodyProtocol` hand bodies over directly (the installed h11 is tested)?"""

__all__ = ["ENABLED", "QUEUE_LIMIT", "TESTED_H11", "DirectBodyProtocol", "direct_bodies"]
