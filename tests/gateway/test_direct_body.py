"""The gateway's HTTP protocol (:class:`~s3stream.gateway.protocol.DirectBodyProtocol`) on a
real uvicorn server on 127.0.0.1 and real sockets: bodies arrive intact and mostly without
uvicorn's copies, keep-alive and pipelined requests (a body piece that carries the next
request), a client gone mid-body, and reading pausing for a slow application."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from s3stream.embedded import EmbeddedS3
from s3stream.gateway import MemoryUploadStore, protocol
from s3stream.gateway.protocol import QUEUE_LIMIT, DirectBodyProtocol, direct_bodies
from s3stream.gateway.timeouts import HeadTimeoutProtocol, head_timeout_protocol
from s3stream.limits import MiB
from tests.support.gateway import (
    OCTET,
    TUS,
    Clock,
    Tus,
    app_factory,
    free_port,
    make_s3_store,
    upload_id,
)

READ_SIZE = 256 * 1024
"""At most what asyncio's transport hands over per read."""


class Served:
    """``app`` on a uvicorn server in a thread, with ``base`` (a DirectBodyProtocol) recording
    every connection's protocol in :attr:`protocols`."""

    def __init__(self, app: Any, base: type[DirectBodyProtocol] = DirectBodyProtocol) -> None:
        self.protocols: list[DirectBodyProtocol] = []
        protocols = self.protocols

        def __init__(this: Any, *args: Any, **kwargs: Any) -> None:
            base.__init__(this, *args, **kwargs)
            protocols.append(this)

        recording = type("Recording", (base,), {"__init__": __init__})
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, http=recording, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def patch_head(url: str, offset: int, length: int) -> bytes:
    path = "/" + url.split("/", 3)[3] if url.startswith("http") else url
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTET}
    return head("PATCH", path, {**headers, "Content-Length": str(length)})


class Responses:
    """HTTP/1.1 responses read one after another from a socket (Content-Length bodies)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed with {self.buffer!r} unread")
        self.buffer += chunk

    def next(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        raw, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        headers["body"] = self.buffer[:length].decode("latin-1")
        self.buffer = self.buffer[length:]
        return int(lines[0].split()[1]), headers


@pytest.fixture
def memory() -> Iterator[tuple[MemoryUploadStore, Any]]:
    store = MemoryUploadStore(lock_wait=0.5)
    yield store, app_factory(store, Clock())()


def test_only_tested_h11_releases_get_direct_bodies() -> None:
    assert protocol.ENABLED and direct_bodies()
    assert not direct_bodies("0.13.0") and not direct_bodies("0.17.0") and not direct_bodies("1.0")
    assert issubclass(head_timeout_protocol(10), DirectBodyProtocol)


@pytest.mark.parametrize("base", [DirectBodyProtocol, HeadTimeoutProtocol])
def test_patches_on_one_keep_alive_connection_arrive_intact_and_directly(
    memory: tuple[MemoryUploadStore, Any], base: type[DirectBodyProtocol]
) -> None:
    store, app = memory
    data = os.urandom(12 * MiB + 12345)
    with Served(app, base) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        tus = Tus(http)
        url = tus.new(len(data))
        offset = 0
        for size in (5 * MiB, 8 * MiB + 7, len(data)):
            response = tus.patch(url, offset, data[offset:size])
            assert response.status_code == 204, response.text
            offset = int(response.headers["Upload-Offset"])
            assert offset == size
        assert tus.head(url).headers["Upload-Offset"] == str(len(data))
        assert len(served.protocols) == 1  # one connection for all five requests
        # most of the body went around h11's buffer and uvicorn's copies
        assert served.protocols[0].direct_bytes > len(data) // 2
    key = store.uploads[upload_id(url)].upload.key
    assert sha(store.objects[key]) == sha(data)


def test_without_a_tested_h11_it_is_uvicorns_way(
    memory: tuple[MemoryUploadStore, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protocol, "ENABLED", False)
    store, app = memory
    data = os.urandom(3 * MiB + 1)
    with Served(app) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        url = Tus(http).upload(data, chunk=2 * MiB)
        assert served.protocols and all(p.direct_bytes == 0 for p in served.protocols)
    assert sha(store.objects[store.uploads[upload_id(url)].upload.key]) == sha(data)


def test_pipelined_patches_and_a_piece_that_carries_the_next_request(
    memory: tuple[MemoryUploadStore, Any],
) -> None:
    store, app = memory
    first, second = os.urandom(3 * MiB + 5), os.urandom(2 * MiB + 3)
    data = first + second
    with Served(app) as served:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            url = Tus(http).new(len(data) + 10)
        path = "/" + url.split("/", 3)[3]
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            responses = Responses(sock)
            sock.sendall(patch_head(path, 0, len(first)) + first[:-100])
            time.sleep(0.5)  # the server has read all that, as pieces of the body
            # one send: the end of the first body, the second request, its body, a third
            # request (HEAD) right behind it
            third = head("HEAD", path, TUS)
            sock.sendall(first[-100:] + patch_head(path, len(first), len(second)) + second + third)
            status, headers = responses.next()
            assert (status, headers["upload-offset"]) == (204, str(len(first))), headers
            status, headers = responses.next()
            assert (status, headers["upload-offset"]) == (204, str(len(data))), headers
            # HEAD: no body even with a Content-Length
            while b"\r\n\r\n" not in responses.buffer:
                responses._fill()
            assert responses.buffer.startswith(b"HTTP/1.1 200")
            assert f"upload-offset: {len(data)}".encode() in responses.buffer.lower()
        [connection] = [p for p in served.protocols if p.direct_bytes]
        assert connection.direct_bytes >= len(first) - 100 - 64 * 1024
    assert bytes(store.uploads[upload_id(url)].data) == data


def test_a_client_gone_mid_body_leaves_the_upload_resumable(
    s3server: EmbeddedS3, bucket: str, unique_key: str, s3client: Any
) -> None:
    store = make_s3_store(s3server, bucket, key_prefix=f"{unique_key}/", lock_wait=0.5)
    app = app_factory(store, Clock())()
    data = os.urandom(16 * MiB + 99)
    sent = 12 * MiB + 4321
    with Served(app) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        tus = Tus(http)
        url = tus.new(len(data))
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            sock.sendall(patch_head(url, 0, len(data)) + data[:sent])
            deadline = time.monotonic() + 20
            while served.protocols[-1].direct_bytes < sent - 2 * MiB:
                assert time.monotonic() < deadline, served.protocols[-1].direct_bytes
                time.sleep(0.05)
        # resume from the offset the gateway stored, once it has let go of the upload
        deadline = time.monotonic() + 30
        while True:
            offset = int(tus.head(url).headers["Upload-Offset"])
            response = tus.patch(url, offset, data[offset:])
            if response.status_code == 204 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert response.status_code == 204, response.text
        assert 0 < offset <= sent  # some of what arrived was kept, nothing that did not
        assert response.headers["Upload-Offset"] == str(len(data))
        key = asyncio.run(store.get(upload_id(url))).key
    stored = s3client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert sha(stored) == sha(data)


def test_a_slow_application_pauses_reading() -> None:
    """While the application reads nothing, at most QUEUE_LIMIT plus one read of body waits in
    the server and the socket is not read; then every byte arrives, in order."""
    go = threading.Event()
    size = 48 * MiB

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        digest = hashlib.sha256()
        more, received = True, 0
        while more:
            if received >= MiB:  # then it stalls, mid-body
                while not go.is_set():
                    await asyncio.sleep(0.02)
            message = await receive()
            assert message["type"] == "http.request"
            digest.update(message["body"])
            received += len(message["body"])
            more = message["more_body"]
        body = digest.hexdigest().encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    data = os.urandom(size)
    request = head("PUT", "/", {"Content-Length": str(size)})
    with Served(app) as served, socket.create_connection(("127.0.0.1", served.port)) as sock:
        sender = threading.Thread(target=sock.sendall, args=(request + data,), daemon=True)
        sender.start()
        time.sleep(1.5)
        [connection] = served.protocols
        body = connection._body
        assert body is not None
        assert connection.flow.read_paused
        assert QUEUE_LIMIT < body.queued <= QUEUE_LIMIT + READ_SIZE
        assert sender.is_alive()  # the client is blocked: the server stopped reading
        go.set()
        sender.join(30)
        sock.settimeout(30)
        status, headers = Responses(sock).next()
        assert (status, headers["body"]) == (200, sha(data))
        assert connection.direct_bytes > size // 2
