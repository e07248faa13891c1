"""Kept-alive HTTP(S) connections to the store, shared by the upload's threads.

Each request takes an idle connection (or opens one), sends its headers and then its body
in large pieces straight from the part buffer (no copies; the ssl module cuts the records),
and gives the connection back once the answer is read. A connection the store closed while
it sat idle is noticed before reuse and dropped, as urllib3 does.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Protocol

from s3stream.errors import StoreError
from s3stream.store.http.environment import HttpSettings, default_ca_bundle

READ_BLOCK = 1024 * 1024


class Body(Protocol):
    """A request body sent piece by piece (:class:`~s3stream.store.body.PartBody`,
    :class:`~s3stream.store.chunked.StreamedPartBody`)."""

    def __len__(self) -> int: ...

    def pieces(self) -> Iterator[bytes | memoryview]: ...


class Unreachable(OSError):
    """No connection to the store could be made (refused, no such host, timed out)."""

    def __init__(self, where: str, cause: OSError) -> None:
        super().__init__(f"could not connect to {where}: {cause}")
        self.timed_out = isinstance(cause, TimeoutError)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Message
    body: bytes


@dataclass(frozen=True, slots=True)
class Address:
    scheme: str
    hostname: str
    port: int


class Connections:
    """A pool of connections per address, with one TLS context for all."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_idle: int = 64,
    ) -> None:
        self.settings = settings
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_idle
        self._idle: dict[Address, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                if self.settings.verify:
                    cafile = self.settings.ca_bundle or default_ca_bundle()
                    context = ssl.create_default_context(cafile=cafile)
                else:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._context = context
            return self._context

    def _take(self, address: Address) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(address, [])
            while idle:
                kept = idle.pop()
                if kept.sock is not None and not _dropped(kept.sock):
                    return kept, True
                kept.close()
        conn: http.client.HTTPConnection
        if address.scheme == "https":
            conn = http.client.HTTPSConnection(
                address.hostname, address.port, timeout=self.connect_timeout, context=self._tls()
            )
        else:
            conn = http.client.HTTPConnection(
                address.hostname, address.port, timeout=self.connect_timeout
            )
        try:
            conn.connect()
        except ssl.SSLCertVerificationError:
            raise
        except OSError as exc:
            raise Unreachable(f"{address.scheme}://{address.hostname}:{address.port}", exc) from exc
        assert conn.sock is not None
        conn.sock.settimeout(self.read_timeout)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return conn, False

    def _give_back(self, address: Address, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(address, [])
            if len(idle) < self.max_idle:
                idle.append(conn)
                return
        conn.close()

    def _send(
        self,
        address: Address,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | Body | None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn, _ = self._take(address)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            if isinstance(body, bytes):
                conn.endheaders(body if body else None)
            else:
                conn.endheaders()
                if body is not None:
                    for piece in body.pieces():
                        conn.send(piece)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def request(
        self,
        address: Address,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | Body | None = None,
    ) -> Response:
        """Send a request and read the whole answer (the calls whose answers are small)."""
        conn, response = self._send(address, method, target, headers, body)
        try:
            data = response.read()
        except BaseException:
            conn.close()
            raise
        self._finish(address, conn, response)
        return Response(response.status, response.headers, data)

    def stream(
        self, address: Address, method: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, Message, Iterator[bytes]]:
        """Send a request and return the answer's status, headers and its body in blocks
        (the connection goes back to the pool once the body is read to its end)."""
        conn, response = self._send(address, method, target, headers, None)

        def blocks() -> Iterator[bytes]:
            done = False
            try:
                while block := response.read(READ_BLOCK):
                    yield block
                done = True
            finally:
                if done:
                    self._finish(address, conn, response)
                else:
                    conn.close()

        return response.status, response.headers, blocks()

    def _finish(
        self, address: Address, conn: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        if response.will_close:
            conn.close()
        else:
            self._give_back(address, conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle connection was closed by the store (it is readable: EOF or junk)."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def failure(operation: str, exc: BaseException) -> StoreError:
    """The :class:`StoreError` for a request that got no answer."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        return StoreError(
            f"{operation}: the store's TLS certificate is not trusted "
            f"(certificate verify failed: {reason})",
            code="SSLError",
            operation=operation,
        )
    if isinstance(exc, Unreachable):
        name = "ConnectTimeoutError" if exc.timed_out else "EndpointConnectionError"
        detail = str(exc)
    else:
        name = "ReadTimeoutError" if isinstance(exc, TimeoutError) else "ConnectionError"
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return StoreError(
        f"{operation}: {name}: {detail}",
        code=name,
        retryable=True,
        operation=operation,
    )
