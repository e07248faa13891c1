"""Readiness (``GET /ready``): can this gateway reach the store and write to its bucket?

Each check writes a tiny probe object (``{prefix}_ready/{process}``) and deletes it, within
``timeout`` seconds; a failure answers with one line that says what is wrong and what to
check. ``/health`` stays a liveness check that touches nothing.
"""

from __future__ import annotations

import asyncio
import secrets

from s3stream.errors import S3StreamError, StoreError
from s3stream.gateway.threads import StoreThreads
from s3stream.store.protocol import Objects

CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)


def reason(exc: BaseException, bucket: str, endpoint: str) -> str:
    """What a failed probe means, in one line."""
    if isinstance(exc, TimeoutError):
        return f"the store at {endpoint} did not answer in time"
    if isinstance(exc, StoreError):
        if exc.code == "NoSuchBucket":
            return f"bucket {bucket!r} does not exist at {endpoint}: create it"
        if exc.code in CREDENTIAL_CODES:
            return f"the store at {endpoint} rejected the credentials ({exc.code})"
        if exc.code == "AccessDenied" or exc.status == 403:
            return f"no permission to write to bucket {bucket!r} ({exc.code})"
        if exc.status is None:
            return f"the store at {endpoint} is unreachable ({exc.code})"
        return f"the store at {endpoint} failed: {exc.code} (HTTP {exc.status})"
    if isinstance(exc, S3StreamError):
        return f"the store at {endpoint} cannot be used: {exc}"
    return f"the readiness check failed: {type(exc).__name__}"


class Readiness:
    def __init__(
        self,
        objects: Objects,
        bucket: str,
        threads: StoreThreads,
        *,
        prefix: str = "",
        endpoint: str = "the store",
        timeout: float = 5.0,
    ) -> None:
        self.objects = objects
        self.bucket = bucket
        self.threads = threads
        self.key = f"{prefix}_ready/{secrets.token_hex(8)}"
        self.endpoint = endpoint
        self.timeout = timeout

    def _probe(self) -> None:
        self.objects.put(self.bucket, self.key, b"ready", content_type="text/plain")
        self.objects.delete(self.bucket, self.key)

    async def check(self) -> str | None:
        """``None`` when ready, else the reason it is not."""
        try:
            await asyncio.wait_for(self.threads.run(self._probe), self.timeout)
        except Exception as exc:
            return reason(exc, self.bucket, self.endpoint)
        return None
