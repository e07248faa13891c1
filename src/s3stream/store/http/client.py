"""S3 requests on the native transport: addressed, signed, sent, and their refusals read.

One :class:`S3Client` per store: it knows where a bucket lives (the endpoint's path style
or virtual hosts; on AWS the bucket's region, learnt from a redirect when the configured one
is wrong), signs each request with SigV4 and turns any answer but a success into s3stream's
exceptions (:mod:`s3stream.store.failures`).
"""

from __future__ import annotations

import hashlib
import http.client
import platform
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message

from s3stream.errors import StoreError
from s3stream.store.failures import refusal
from s3stream.store.http.connections import Address, Body, Connections, failure
from s3stream.store.http.environment import HttpSettings
from s3stream.store.http.sigv4 import EMPTY_SHA256, Signer, canonical_query, uri_encode
from s3stream.store.http.wire import error_of
from s3stream.store.types import OVERWRITE, PutMode

USER_AGENT = f"s3stream python/{platform.python_version()}"
REDIRECTS = frozenset({301, 307, 400})
"""Answers AWS gives a request signed for the wrong region (with the bucket's region)."""
_DNS_LABELS = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


SUBRESOURCES = frozenset({"uploads"})
"""Query keys sent bare (``?uploads``), as the AWS SDKs send them and as proxies and request
rules written for them expect; the signature covers them as ``uploads=`` all the same."""


def request_query(query: Sequence[tuple[str, str]]) -> str:
    """The query string as sent: SigV4's canonical order and encoding, sub-resources bare."""
    canonical = canonical_query(query)
    return (
        "&".join(
            pair[:-1] if pair.endswith("=") and pair[:-1] in SUBRESOURCES else pair
            for pair in canonical.split("&")
        )
        if canonical
        else ""
    )


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Message
    body: bytes


@dataclass(frozen=True, slots=True)
class Target:
    address: Address
    host: str
    path: str

    def url(self, query: str = "") -> str:
        text = f"{self.address.scheme}://{self.host}{self.path}"
        return f"{text}?{query}" if query else text


def virtual_hostable(bucket: str, *, tls: bool) -> bool:
    """Whether ``bucket`` can be a host name label (a dotted name breaks TLS's wildcard)."""
    return (
        bool(_DNS_LABELS.fullmatch(bucket)) and "--" not in bucket and not (tls and "." in bucket)
    )


class S3Client:
    def __init__(
        self, settings: HttpSettings, *, connect_timeout: float, read_timeout: float
    ) -> None:
        self.settings = settings
        self.connections = Connections(
            settings, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        endpoint = settings.endpoint
        self.endpoint_url: str | None = endpoint.url if endpoint is not None else None
        self._regions: dict[str, str] = {}
        self._signers: dict[str, Signer] = {}
        self._lock = threading.Lock()

    def _region(self, bucket: str) -> str:
        return self._regions.get(bucket, self.settings.region)

    def signer(self, region: str) -> Signer:
        with self._lock:
            found = self._signers.get(region)
            if found is None:
                found = self._signers[region] = Signer(self.settings.credentials, region)
            return found

    def target(self, bucket: str, key: str = "") -> Target:
        path = "/" + uri_encode(key, safe="/") if key else ""
        endpoint = self.settings.endpoint
        style = self.settings.addressing
        if endpoint is None:
            base = f"s3.{self._region(bucket)}.amazonaws.com"
            if style != "path" and virtual_hostable(bucket, tls=True):
                return Target(
                    Address("https", f"{bucket}.{base}", 443), f"{bucket}.{base}", path or "/"
                )
            return Target(Address("https", base, 443), base, f"/{bucket}{path}")
        if style == "virtual" and virtual_hostable(bucket, tls=endpoint.scheme == "https"):
            hostname = f"{bucket}.{endpoint.hostname}"
            return Target(
                Address(endpoint.scheme, hostname, endpoint.port),
                f"{bucket}.{endpoint.host}",
                f"{endpoint.path}{path or '/'}",
            )
        address = Address(endpoint.scheme, endpoint.hostname, endpoint.port)
        return Target(address, endpoint.host, f"{endpoint.path}/{bucket}{path}")

    def _prepare(
        self,
        method: str,
        bucket: str,
        key: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        payload: str,
    ) -> tuple[Target, str, dict[str, str]]:
        target = self.target(bucket, key)
        sent = {"Host": target.host, "User-Agent": USER_AGENT, **headers}
        self.signer(self._region(bucket)).sign(method, target.path, query, sent, payload)
        text = request_query(query)
        return target, f"{target.path}?{text}" if text else target.path, sent

    def call(
        self,
        operation: str,
        method: str,
        bucket: str,
        key: str = "",
        *,
        query: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | Body | None = None,
        payload: str | None = None,
        mode: PutMode = OVERWRITE,
    ) -> Answer:
        """Send one request and return the store's successful answer (or raise its
        refusal). ``payload`` is the signed payload hash: by default the SHA-256 of a
        ``bytes`` body; a streamed body passes ``UNSIGNED-PAYLOAD`` (it has a checksum)."""
        if payload is None:
            assert body is None or isinstance(body, bytes)
            payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        extra = dict(headers or {})
        if body is not None:
            extra["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            target, path, sent = self._prepare(method, bucket, key, query, extra, payload)
            try:
                answer = self.connections.request(target.address, method, path, sent, body)
            except (OSError, http.client.HTTPException) as exc:
                raise failure(operation, exc) from exc
            if answer.status < 300:
                return Answer(answer.status, answer.headers, answer.body)
            if attempt == 1 and self._redirected(
                bucket, answer.status, answer.headers, answer.body
            ):
                continue
            raise self.refused(operation, answer.status, answer.headers, answer.body, mode)
        raise AssertionError("unreachable")

    def open(
        self, operation: str, bucket: str, key: str, headers: Mapping[str, str] | None = None
    ) -> tuple[Message, Iterator[bytes]]:
        """GET an object: its headers and its body in blocks."""
        for attempt in (1, 2):
            target, path, sent = self._prepare("GET", bucket, key, (), headers or {}, EMPTY_SHA256)
            try:
                status, answer_headers, blocks = self.connections.stream(
                    target.address, "GET", path, sent
                )
                if status < 300:
                    return answer_headers, _guarded(operation, blocks)
                body = b"".join(blocks)
            except (OSError, http.client.HTTPException) as exc:
                raise failure(operation, exc) from exc
            if attempt == 1 and self._redirected(bucket, status, answer_headers, body):
                continue
            raise self.refused(operation, status, answer_headers, body)
        raise AssertionError("unreachable")

    def _redirected(self, bucket: str, status: int, headers: Message, body: bytes) -> bool:
        """On AWS, whether the answer named the bucket's region (now used for it)."""
        if self.settings.endpoint is not None or status not in REDIRECTS:
            return False
        region = headers.get("x-amz-bucket-region")
        if not region:
            found = error_of(body)
            region = found[2] if found else None
        if not region or region == self._region(bucket):
            return False
        with self._lock:
            self._regions[bucket] = region
        return True

    @staticmethod
    def refused(
        operation: str, status: int, headers: Message, body: bytes, mode: PutMode = OVERWRITE
    ) -> StoreError:
        found = error_of(body)
        if found is not None and found[0]:
            code, message = found[0], found[1] or http.client.responses.get(status, "")
        else:  # a HEAD answer has no body: the status is all there is
            code, message = str(status), http.client.responses.get(status, "error")
        return refusal(operation, code, status, message, mode)

    def presign(
        self,
        method: str,
        bucket: str,
        key: str,
        expires_in: int,
        query: Sequence[tuple[str, str]] = (),
    ) -> str:
        target = self.target(bucket, key)
        signed = self.signer(self._region(bucket)).presign(
            method, target.host, target.path, query, expires_in
        )
        return target.url(signed)

    def close(self) -> None:
        self.connections.close()


def _guarded(operation: str, blocks: Iterator[bytes]) -> Iterator[bytes]:
    """An answer's body whose connection failures are s3stream's."""
    try:
        yield from blocks
    except (OSError, http.client.HTTPException) as exc:
        raise failure(operation, exc) from exc
