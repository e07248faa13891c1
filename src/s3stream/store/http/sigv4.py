"""AWS Signature Version 4 for S3: request headers and presigned URLs.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html

S3's flavour: the path is signed as it is sent (encoded once, never normalised), and the
payload hash is a header of its own (``UNSIGNED-PAYLOAD`` over a checksummed body, or
``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` for an ``aws-chunked`` body with a checksum trailer).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_HEADERS = frozenset({"user-agent", "expect", "transfer-encoding", "x-amzn-trace-id"})
"""Headers a proxy may change or drop: left out of the signature (as the AWS SDKs do)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # the secret never shows
        return f"Credentials(access_key={self.access_key!r})"


def uri_encode(text: str, *, safe: str = "") -> str:
    """RFC 3986 percent-encoding of everything but the unreserved characters (and ``safe``)."""
    return quote(text, safe="-_.~" + safe)


def canonical_query(query: Iterable[tuple[str, str]]) -> str:
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


@functools.lru_cache(maxsize=16)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _stamp(now: dt.datetime) -> tuple[str, str]:
    """``(YYYYMMDD'T'HHMMSS'Z', YYYYMMDD)`` in UTC."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return stamp, stamp[:8]


class Signer:
    """Signs S3 requests for one region with one set of credentials."""

    def __init__(self, credentials: Credentials, region: str, service: str = "s3") -> None:
        self.credentials = credentials
        self.region = region
        self.service = service

    def _scope(self, date: str) -> str:
        return f"{date}/{self.region}/{self.service}/aws4_request"

    def _signature(self, date: str, stamp: str, canonical: str) -> str:
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"{ALGORITHM}\n{stamp}\n{self._scope(date)}\n{digest}"
        key = _signing_key(self.credentials.secret_key, date, self.region, self.service)
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    def sign(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: dict[str, str],
        payload_hash: str,
        now: dt.datetime | None = None,
    ) -> None:
        """Add ``x-amz-date``, ``x-amz-content-sha256``, the session token and
        ``Authorization`` to ``headers`` (which must hold ``host``). ``path`` is the encoded
        path as it is sent."""
        stamp, date = _stamp(now or dt.datetime.now(dt.UTC))
        headers["x-amz-date"] = stamp
        headers["x-amz-content-sha256"] = payload_hash
        if self.credentials.token:
            headers["x-amz-security-token"] = self.credentials.token
        signed = _canonical_headers(headers)
        names = ";".join(signed)
        lines = "".join(f"{name}:{value}\n" for name, value in signed.items())
        canonical = f"{method}\n{path}\n{canonical_query(query)}\n{lines}\n{names}\n{payload_hash}"
        signature = self._signature(date, stamp, canonical)
        headers["Authorization"] = (
            f"{ALGORITHM} Credential={self.credentials.access_key}/{self._scope(date)}, "
            f"SignedHeaders={names}, Signature={signature}"
        )

    def presign(
        self,
        method: str,
        host: str,
        path: str,
        query: Iterable[tuple[str, str]],
        expires_in: int,
        now: dt.datetime | None = None,
    ) -> str:
        """The query string of a presigned URL (only ``host`` signed, payload unsigned)."""
        stamp, date = _stamp(now or dt.datetime.now(dt.UTC))
        params = [
            *query,
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", f"{self.credentials.access_key}/{self._scope(date)}"),
            ("X-Amz-Date", stamp),
            ("X-Amz-Expires", str(expires_in)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if self.credentials.token:
            params.append(("X-Amz-Security-Token", self.credentials.token))
        text = canonical_query(params)
        canonical = f"{method}\n{path}\n{text}\nhost:{host}\n\nhost\n{UNSIGNED_PAYLOAD}"
        return f"{text}&X-Amz-Signature={self._signature(date, stamp, canonical)}"


def _canonical_headers(headers: Mapping[str, str]) -> dict[str, str]:
    found = {
        name.lower(): " ".join(str(value).split())
        for name, value in headers.items()
        if name.lower() not in UNSIGNED_HEADERS
    }
    return dict(sorted(found.items()))
