"""A fault-injecting HTTP/1.1 proxy for tests: sits between a client and the S3 store.

Every request is shown to a *policy* (``policy(RequestInfo) -> Fault | None``) which may inject a
fault: reset the connection before or during the request body, answer an S3-style error
without forwarding, stall, cut the response short, or forward the request without some of its
headers (a store that ignores them). Keep-alive connections are followed
request by request, ``Expect: 100-continue`` is honoured, and bodies are streamed.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import NamedTuple, Self
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

__all__ = [
    "Fault",
    "FaultProxy",
    "Injected",
    "Policy",
    "RequestInfo",
    "every_nth",
    "first_k_matching",
]

log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
_BUFFER_SIZE = 256 * 1024
_MAX_HEAD_SIZE = 64 * 1024
_ACCEPT_POLL = 0.1
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class RequestInfo:
    """One request as seen by the proxy; header names are lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    request_index: int


@dataclass(frozen=True)
class Fault:
    """A fault to inject into one request; build it with the class methods."""

    kind: str
    after_bytes: int = 0
    seconds: float = 0.0
    status: int = 0
    code: str = ""
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def reset_before(cls) -> Fault:
        """Reset the client connection (RST) once the request head is read; nothing is forwarded."""
        return cls("reset_before")

    @classmethod
    def reset_mid_body(cls, after_bytes: int) -> Fault:
        """Forward the head and at most *after_bytes* of the body, then reset both sides."""
        return cls("reset_mid_body", after_bytes=after_bytes)

    @classmethod
    def reply(
        cls, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> Fault:
        """Answer with an S3 XML error (e.g. 503 SlowDown) instead of forwarding."""
        return cls("reply", status=status, code=code, message=message, headers=headers or {})

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Wait *seconds* before forwarding the request.

        Like a slow network, the request still reaches the server after the stall, even if the
        client has given up waiting by then.
        """
        return cls("stall", seconds=seconds)

    @classmethod
    def strip_headers(cls, *names: str) -> Fault:
        """Forward the request without the headers *names* (as a store that ignores them)."""
        return cls("strip", headers={name.lower(): "" for name in names})

    @classmethod
    def truncate_response(cls, after_bytes: int) -> Fault:
        """Forward the request, relay only *after_bytes* of the response (head included), reset.

        ``truncate_response(0)``: the server handles the request but the client never hears back.
        """
        return cls("truncate_response", after_bytes=after_bytes)


Policy = Callable[[RequestInfo], Fault | None]


class Injected(NamedTuple):
    """Record of one injected fault."""

    request_index: int
    kind: str
    method: str
    path: str


def every_nth(
    n: int, fault_factory: Callable[[], Fault], methods: Iterable[str] = ("PUT",)
) -> Policy:
    """Inject a fault into every *n*-th request whose method is in *methods*."""
    wanted = frozenset(m.upper() for m in methods)
    counter = itertools.count(1)
    lock = threading.Lock()

    def policy(request: RequestInfo) -> Fault | None:
        if request.method not in wanted:
            return None
        with lock:
            seen = next(counter)
        return fault_factory() if seen % n == 0 else None

    return policy


def first_k_matching(
    k: int, predicate: Callable[[RequestInfo], bool], fault_factory: Callable[[], Fault]
) -> Policy:
    """Inject a fault into the first *k* requests for which *predicate* is true."""
    remaining = k
    lock = threading.Lock()

    def policy(request: RequestInfo) -> Fault | None:
        nonlocal remaining
        if not predicate(request):
            return None
        with lock:
            if remaining <= 0:
                return None
            remaining -= 1
        return fault_factory()

    return policy


class _ProtocolError(Exception):
    """The peer sent something this proxy cannot follow, or vanished mid-message."""


class _Truncated(Exception):
    """The response byte budget of a truncate_response fault is spent."""


class _Conn:
    """A socket with a read buffer, for parsing HTTP heads and streaming bodies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = bytearray()
        self.budget: int | None = None
        self._chunk = bytearray(_BUFFER_SIZE)
        self._view = memoryview(self._chunk)

    def read_until(self, delimiter: bytes) -> bytes | None:
        """Bytes up to and including *delimiter*; None on EOF before any byte."""
        while True:
            end = self.pending.find(delimiter)
            if end >= 0:
                end += len(delimiter)
                data = bytes(self.pending[:end])
                del self.pending[:end]
                return data
            if len(self.pending) > _MAX_HEAD_SIZE:
                raise _ProtocolError("HTTP head too large")
            n = self.sock.recv_into(self._chunk)
            if n == 0:
                if self.pending:
                    raise _ProtocolError("connection closed inside an HTTP head")
                return None
            self.pending += self._view[:n]

    def read_head(self) -> bytes | None:
        """A request or response head (through the blank line); None on clean EOF."""
        return self.read_until(b"\r\n\r\n")

    def read_some(self, limit: int) -> memoryview:
        """Up to *limit* bytes (buffered first); empty at EOF. Valid until the next read."""
        if self.pending:
            take = min(limit, len(self.pending))
            self._chunk[:take] = self.pending[:take]
            del self.pending[:take]
            return self._view[:take]
        n = self.sock.recv_into(self._chunk, min(limit, _BUFFER_SIZE))
        return self._view[:n]

    def send(self, data: bytes | memoryview) -> None:
        """Send *data*, honouring the byte budget of a truncate_response fault."""
        if self.budget is not None and len(data) > self.budget:
            self.sock.sendall(data[: self.budget])
            self.budget = 0
            raise _Truncated
        self.sock.sendall(data)
        if self.budget is not None:
            self.budget -= len(data)

    def has_input(self) -> bool:
        """Whether bytes (or EOF) are ready to be read without blocking."""
        return bool(self.pending) or bool(select.select([self.sock], [], [], 0)[0])


@dataclass
class _Message:
    """Parsed start line and headers of a request or response head."""

    head: bytes
    start: list[str]
    headers: dict[str, str]

    @classmethod
    def parse(cls, head: bytes) -> _Message:
        lines = head.decode("latin-1").split("\r\n")
        start = lines[0].split(" ", 2)
        if len(start) < 2:
            raise _ProtocolError(f"bad HTTP start line: {lines[0]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _ProtocolError(f"bad HTTP header line: {line!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return cls(head, start, headers)

    def without(self, names: Iterable[str]) -> _Message:
        """This request with the headers ``names`` (lower-case) left out."""
        drop = set(names)
        lines = self.head.decode("latin-1").split("\r\n")
        kept = [lines[0]] + [
            line
            for line in lines[1:]
            if line and line.partition(":")[0].strip().lower() not in drop
        ]
        head = ("\r\n".join(kept) + "\r\n\r\n").encode("latin-1")
        return _Message.parse(head)

    def wants_close(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()

    def is_chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None else None


def _reset(sock: socket.socket) -> None:
    """Close *sock* abortively: SO_LINGER 0 makes the kernel send RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _copy(src: _Conn, dst: _Conn | None, size: int) -> None:
    """Stream exactly *size* bytes from *src* to *dst* (None: discard them)."""
    while size > 0:
        data = src.read_some(size)
        if not data:
            raise _ProtocolError("connection closed inside a message body")
        if dst is not None:
            dst.send(data)
        size -= len(data)


def _copy_chunked(src: _Conn, dst: _Conn | None) -> None:
    """Stream a chunked body (size lines, data and trailers) from *src* to *dst*."""
    while True:
        line = src.read_until(b"\r\n")
        if line is None:
            raise _ProtocolError("connection closed inside a chunked body")
        if dst is not None:
            dst.send(line)
        size = int(line.split(b";", 1)[0], 16)
        if size == 0:
            break
        _copy(src, dst, size + 2)
    while True:
        trailer = src.read_until(b"\r\n")
        if trailer is None:
            raise _ProtocolError("connection closed inside chunked trailers")
        if dst is not None:
            dst.send(trailer)
        if trailer == b"\r\n":
            return


def _copy_until_close(src: _Conn, dst: _Conn) -> None:
    while data := src.read_some(_BUFFER_SIZE):
        dst.send(data)


def _copy_body(src: _Conn, dst: _Conn | None, message: _Message) -> None:
    """Stream the body of a request *message* (Content-Length or chunked)."""
    if message.is_chunked():
        _copy_chunked(src, dst)
    else:
        _copy(src, dst, message.content_length() or 0)


def _error_response(request: _Message, fault: Fault, request_index: int, close: bool) -> bytes:
    """An S3-style XML error response for a reply fault."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message>"
        f"<Resource>{escape(request.start[1])}</Resource>"
        f"<RequestId>faultproxy-{request_index}</RequestId></Error>"
    ).encode()
    headers = {
        "Content-Type": "application/xml",
        "Content-Length": str(len(body)),
        "x-amz-request-id": f"faultproxy-{request_index}",
        **fault.headers,
    }
    if close:
        headers["Connection"] = "close"
    reason = _REASONS.get(fault.status, "Error")
    head = f"HTTP/1.1 {fault.status} {reason}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    return head.encode("latin-1") + (b"" if request.start[0] == "HEAD" else body)


class FaultProxy:
    """Threaded TCP proxy on 127.0.0.1 forwarding HTTP/1.1 to *target_url*, injecting faults."""

    def __init__(self, target_url: str, policy: Policy | None = None) -> None:
        parts = urlsplit(target_url)
        if parts.hostname not in (_HOST, "localhost") or parts.port is None:
            raise ValueError(f"target must be http://127.0.0.1:PORT, not {target_url!r}")
        self._target = (_HOST, parts.port)
        self.policy = policy
        self.injected: list[Injected] = []
        self._requests = itertools.count()
        self._request_count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` to point clients at."""
        if self._listener is None:
            raise RuntimeError("proxy not started")
        return f"http://{_HOST}:{self._port}"

    @property
    def request_count(self) -> int:
        """Requests seen so far (faulted or not)."""
        return self._request_count

    @property
    def open_connections(self) -> int:
        """Sockets open right now, client and store sides: 0 once every request a client
        sent (a killed one's included) has been answered or cut."""
        with self._lock:
            return len(self._sockets)

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1 and start accepting connections."""
        listener = socket.socket()
        listener.bind((_HOST, 0))
        listener.listen(128)
        listener.settimeout(_ACCEPT_POLL)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._stopping.clear()
        self._spawn(self._accept_loop, listener)

    def stop(self) -> None:
        """Stop accepting, cut all open connections and wait for the worker threads."""
        self._stopping.set()
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------

    def _spawn(self, target: Callable[[socket.socket], None], sock: socket.socket) -> None:
        thread = threading.Thread(target=target, args=(sock,), daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._track(client)
            self._spawn(self._serve, client)

    def _connect_upstream(self) -> _Conn:
        sock = socket.create_connection(self._target)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._track(sock)
        return _Conn(sock)

    def _decide(self, request: _Message) -> tuple[int, Fault | None]:
        with self._lock:
            index = next(self._requests)
            self._request_count = index + 1
        method, path = request.start[0], request.start[1]
        policy = self.policy
        fault = policy(RequestInfo(method, path, request.headers, index)) if policy else None
        if fault is not None:
            with self._lock:
                self.injected.append(Injected(index, fault.kind, method, path))
            log.info("request %d %s %s: injecting %s", index, method, path, fault.kind)
        return index, fault

    def _serve(self, client_sock: socket.socket) -> None:
        """Handle one client connection, request by request."""
        client = _Conn(client_sock)
        upstream: _Conn | None = None
        try:
            while not self._stopping.is_set():
                head = client.read_head()
                if head is None:
                    return
                request = _Message.parse(head)
                index, fault = self._decide(request)
                kind = fault.kind if fault is not None else None
                if kind == "reset_before":
                    _reset(client_sock)
                    return
                if fault is not None and kind == "reply":
                    if not self._reply(client, request, fault, index):
                        return
                    continue
                if fault is not None and kind == "stall" and self._stopping.wait(fault.seconds):
                    return
                if fault is not None and kind == "strip":
                    request = request.without(fault.headers)
                if upstream is None or upstream.has_input():
                    if upstream is not None:
                        self._close(upstream)
                    upstream = self._connect_upstream()
                if not self._forward(client, upstream, request, fault):
                    return
        except (OSError, _ProtocolError) as exc:
            log.debug("connection ended: %r", exc)
        finally:
            self._close(client)
            if upstream is not None:
                self._close(upstream)

    def _close(self, conn: _Conn) -> None:
        self._untrack(conn.sock)
        conn.sock.close()

    def _reply(self, client: _Conn, request: _Message, fault: Fault, index: int) -> bool:
        """Answer with an error; return whether the connection can carry more requests."""
        expects_continue = "100-continue" in request.headers.get("expect", "").lower()
        if not expects_continue:
            _copy_body(client, None, request)
        close = expects_continue or request.wants_close()
        client.send(_error_response(request, fault, index, close))
        if close:
            client.sock.shutdown(socket.SHUT_WR)
        return not close

    def _forward(
        self, client: _Conn, upstream: _Conn, request: _Message, fault: Fault | None
    ) -> bool:
        """Forward one exchange; return whether both connections can carry more requests."""
        upstream.send(request.head)
        early: bytes | None = None
        if "100-continue" in request.headers.get("expect", "").lower():
            early = self._await_continue(client, upstream)
        if early is None:
            if fault is not None and fault.kind == "reset_mid_body":
                self._forward_prefix(client, upstream, request, fault.after_bytes)
                return False
            try:
                _copy_body(client, upstream, request)
            except OSError:
                # The server may have answered early and stopped reading: relay that answer.
                if not upstream.has_input():
                    raise
                self._relay_response(client, upstream, request)
                return False
        if fault is not None and fault.kind == "truncate_response":
            client.budget = fault.after_bytes
            try:
                self._relay_response(client, upstream, request, early)
            except _Truncated:
                _reset(upstream.sock)
                _reset(client.sock)
            return False
        keep = self._relay_response(client, upstream, request, early)
        return keep and early is None and not request.wants_close()

    def _forward_prefix(
        self, client: _Conn, upstream: _Conn, request: _Message, after_bytes: int
    ) -> None:
        """Forward at most *after_bytes* of the request body, then reset both connections."""
        length = request.content_length()
        limit = after_bytes if length is None else min(after_bytes, length)
        try:
            _copy(client, upstream, limit)
        finally:
            _reset(upstream.sock)
            _reset(client.sock)

    def _await_continue(self, client: _Conn, upstream: _Conn) -> bytes | None:
        """Wait for ``100 Continue`` (relayed) or the client's body; return an early final head."""
        while not client.pending:
            readable, _, _ = select.select([client.sock, upstream.sock], [], [])
            if upstream.sock in readable:
                head = upstream.read_head()
                if head is None:
                    raise _ProtocolError("server closed the connection before answering")
                if _Message.parse(head).start[1] != "100":
                    return head
                client.send(head)
                return None
            if client.sock in readable:
                return None
        return None

    def _relay_response(
        self, client: _Conn, upstream: _Conn, request: _Message, head: bytes | None = None
    ) -> bool:
        """Relay the response (after any 1xx); return whether it allows keep-alive."""
        while True:
            if head is None:
                head = upstream.read_head()
                if head is None:
                    raise _ProtocolError("server closed the connection without a response")
            response = _Message.parse(head)
            client.send(head)
            status = int(response.start[1])
            if status >= 200:
                break
            head = None
        if request.start[0] == "HEAD" or status in (204, 304):
            return not response.wants_close()
        if response.is_chunked():
            _copy_chunked(upstream, client)
        elif (length := response.content_length()) is not None:
            _copy(upstream, client, length)
        else:
            _copy_until_close(upstream, client)
            return False
        return not response.wants_close()
