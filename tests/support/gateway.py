"""Shared helpers for the gateway tests (no tests here): a tus client over any HTTP client,
a settable clock, and the in-memory / S3 gateway builders used by the conformance suite."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from s3stream.embedded import EmbeddedS3
from s3stream.gateway import GatewayOptions, Hooks, TusSettings, UploadStore, build_app
from s3stream.gateway.lease import Leases
from s3stream.gateway.model import Upload
from s3stream.gateway.s3store.store import S3UploadStore
from s3stream.limits import MiB
from s3stream.store.boto import BotoObjects, BotoStore, make_client
from s3stream.store.profiles import SEAWEEDFS

with warnings.catch_warnings():  # starlette suggests httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["TestClient"]

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"


class Clock:
    """A wall clock tests move by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


@dataclass
class Tus:
    """A tiny tus client for protocol tests (any httpx-compatible client)."""

    http: Any
    base: str = "/files/"
    token: str | None = None

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = dict(TUS)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def create(
        self,
        length: int | None,
        *,
        meta: str | None = None,
        body: bytes | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(length)
        if meta is not None:
            headers["Upload-Metadata"] = meta
        if body is not None:
            headers["Content-Type"] = OCTET
        headers.update(extra or {})
        response: httpx.Response = self.http.post(
            self.base, headers=self.headers(headers), content=body
        )
        return response

    def new(self, length: int | None, **kwargs: Any) -> str:
        response = self.create(length, **kwargs)
        assert response.status_code == 201, response.text
        location: str = response.headers["Location"]
        return location

    def patch(
        self,
        url: str,
        offset: int,
        data: bytes,
        extra: Mapping[str, str] | None = None,
        content_type: str = OCTET,
    ) -> httpx.Response:
        headers = {"Upload-Offset": str(offset), "Content-Type": content_type, **(extra or {})}
        response: httpx.Response = self.http.patch(url, headers=self.headers(headers), content=data)
        return response

    def head(self, url: str) -> httpx.Response:
        response: httpx.Response = self.http.head(url, headers=self.headers())
        return response

    def delete(self, url: str) -> httpx.Response:
        response: httpx.Response = self.http.delete(url, headers=self.headers())
        return response

    def upload(self, data: bytes, chunk: int, **kwargs: Any) -> str:
        url = self.new(len(data), **kwargs)
        offset = 0
        while offset < len(data):
            response = self.patch(url, offset, data[offset : offset + chunk])
            assert response.status_code == 204, response.text
            offset = int(response.headers["Upload-Offset"])
        return url


def upload_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Gateway:
    """An app over one upload store plus a way to read what it stored."""

    store: UploadStore
    read_object: Callable[[str], bytes]
    object_exists: Callable[[str], bool]
    clock: Clock
    make_app: Callable[..., Any]

    def upload(self, url: str) -> Upload:
        return asyncio.run(self.store.get(upload_id(url)))

    def object_of(self, url: str) -> bytes:
        return self.read_object(self.upload(url).key)

    def app(
        self,
        settings: TusSettings | None = None,
        *,
        hooks: Hooks | None = None,
        tokens: tuple[str, ...] = (),
        **options: Any,
    ) -> Any:
        return self.make_app(settings, hooks=hooks, tokens=tokens, **options)


def app_factory(store: UploadStore, clock: Clock) -> Callable[..., Any]:
    def make(
        settings: TusSettings | None = None,
        *,
        hooks: Hooks | None = None,
        tokens: tuple[str, ...] = (),
        **options: Any,
    ) -> Any:
        gateway_options = GatewayOptions(
            tokens=tokens, hooks=hooks or Hooks(), sweep_interval=None, clock=clock, **options
        )
        return build_app(store, settings or TusSettings(), gateway_options)

    return make


def make_s3_store(
    server: EmbeddedS3, bucket: str, endpoint_url: str | None = None, **kwargs: Any
) -> S3UploadStore:
    """An S3 upload store on the embedded SeaweedFS (or a proxy of it at ``endpoint_url``),
    with 5 MiB parts unless told."""
    client = make_client(
        endpoint_url=endpoint_url or server.endpoint_url,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
    )
    store = BotoStore(client)
    kwargs.setdefault("part_size", 5 * MiB)
    return S3UploadStore(store, BotoObjects(store.client), bucket, **kwargs)


def leases(store: S3UploadStore) -> Leases:
    """The store's leases in the bucket (of a store whose conditional writes hold)."""
    assert isinstance(store.leases, Leases)
    return store.leases


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def gateway_command(endpoint_url: str, bucket: str, port: int, *args: str) -> list[str]:
    """``python -m s3stream.gateway`` (``s3stream serve``) on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "s3stream.cli",
        "serve",
        "--endpoint-url",
        endpoint_url,
        "--bucket",
        bucket,
        "--port",
        str(port),
        "--log-level",
        "warning",
        *args,
    ]


def wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout: float = 30) -> bool:
    """Wait until the gateway at ``url`` answers ``/health``; False on a timeout; raises
    when the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def stop_gateway(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (a clean shutdown), SIGKILL if it has not ended within 10 s."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class StoreEndpoint(Protocol):
    """Where a gateway process finds its store (the embedded store, one of a cluster's S3
    servers)."""

    @property
    def endpoint_url(self) -> str: ...

    def env(self) -> dict[str, str]: ...


class GatewayProcess:
    """``s3stream serve`` on 127.0.0.1 against a store (a real uvicorn process)."""

    def __init__(
        self, server: StoreEndpoint, bucket: str, *args: str, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = gateway_command(server.endpoint_url, bucket, self.port, *args)
        self.env = {**os.environ, **server.env()}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> GatewayProcess:
        self.proc = subprocess.Popen(self.args, env=self.env)
        if wait_healthy(self.proc, self.url):
            return self
        self.stop()
        raise RuntimeError("gateway did not come up within 30 s")

    def stop(self) -> None:
        stop_gateway(self.proc)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_asgi(
    server: EmbeddedS3,
    prefix: str,
    *flags: str,
    bucket: str = "test",
    endpoint_url: str | None = None,
    secret_key: str | None = None,
) -> Any:
    """The ASGI app `s3stream serve` builds from ``flags`` over ``server`` (the real wiring,
    without a process); ``endpoint_url`` and ``secret_key`` replace the server's (to make a
    store unreachable, or credentials wrong)."""
    from s3stream.cli.main import build_parser
    from s3stream.cli.serving import build_from_args

    args = build_parser().parse_args(["serve", "--bucket", bucket, "--prefix", prefix, *flags])
    client = make_client(
        endpoint_url=endpoint_url or server.endpoint_url,
        region=server.region,
        access_key=server.access_key,
        secret_key=secret_key or server.secret_key,
        connect_timeout=1,
    )
    app, _, _ = build_from_args(args, BotoStore(client), capabilities=SEAWEEDFS)
    return app


def serve_app(server: EmbeddedS3, prefix: str, *flags: str, **kwargs: Any) -> TestClient:
    """:func:`serve_asgi` as a test client."""
    return TestClient(serve_asgi(server, prefix, *flags, **kwargs))
