"""An upload's state as the S3 upload store keeps it: one JSON object in the bucket.

Layout under the store's ``state_prefix``::

    {id}.info           JSON: length, offset, metadata, owner, expiry, object key,
                        multipart upload id, the parts (number, ETag, size, checksum), staging
    {id}.part.{n}       a staged tail shorter than S3's 5 MiB part minimum
    {id}.lock           the cross-process lease of the upload's current writer
    {id}.partial        the object of a finished partial upload (concatenation)

The ``.info`` object is the commit point: every write of it is conditional on the ETag it was
read with, so a writer that lost its lease cannot overwrite a newer state.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from s3stream.checksums import ChecksumAlgorithm, PartDigest, encode
from s3stream.engine.retry import RetryPolicy, call_with_retry
from s3stream.errors import AlreadyExists, PreconditionFailed, StoreError
from s3stream.gateway.errors import HTTPError, not_found
from s3stream.gateway.model import Upload
from s3stream.gateway.threads import StoreThreads
from s3stream.store.protocol import Objects
from s3stream.store.types import CREATE, OVERWRITE, PartRecord, PutMode

STATE_VERSION = 2
"""Version 1 kept part checksums as integers (CRCs); version 2 as S3's base64 values."""

ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

READ_RETRY = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=1.0)
"""Reading an upload's state (and deleting what it no longer needs) is retried briefly: a
503 to HEAD makes tus-js-client give the upload up and start over, and a delete given up
leaves an object behind."""


def info_key(state_prefix: str, upload_id: str) -> str:
    return f"{state_prefix}{upload_id}.info"


def lease_key(state_prefix: str, upload_id: str) -> str:
    return f"{state_prefix}{upload_id}.lock"


def staged_prefix(state_prefix: str, upload_id: str) -> str:
    return f"{state_prefix}{upload_id}.part."


def retention(upload: Upload) -> float:
    """How long a finished upload's state stays (so HEAD still answers): as long as an
    unfinished upload would have lived, at least an hour."""
    if upload.expires is None:
        return 3600.0
    return max(3600.0, upload.expires - upload.created)


@dataclass(slots=True)
class UploadState:
    upload: Upload
    mpu: str | None = None
    """The multipart upload's id, once there is one."""
    parts: list[PartRecord] = field(default_factory=list)
    """The recorded parts: always 1..n without a gap."""
    staged_key: str | None = None
    staged_size: int = 0
    etag: str = ""
    """ETag of the ``.info`` object this state was read from (not stored)."""

    @property
    def parts_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    def to_json(self) -> bytes:
        u = self.upload
        return json.dumps(
            {
                "version": STATE_VERSION,
                "id": u.id,
                "size": u.size,
                "offset": u.offset,
                "metadata": dict(u.metadata),
                "owner": u.owner,
                "created": u.created,
                "expires": u.expires,
                "key": u.key,
                "partial": u.partial,
                "final": u.final,
                "partials": list(u.partials),
                "finished": u.finished,
                "mpu": self.mpu,
                "parts": [[p.number, p.etag, p.size, p.checksum] for p in self.parts],
                "staged": None
                if self.staged_key is None
                else {"key": self.staged_key, "size": self.staged_size},
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, etag: str, algorithm: ChecksumAlgorithm) -> UploadState:
        """Read a state of any version (``algorithm``: how version 1 stored checksums)."""
        d = json.loads(data)
        upload = Upload(
            id=d["id"],
            size=d["size"],
            offset=d["offset"],
            metadata=d["metadata"],
            owner=d["owner"],
            created=d["created"],
            expires=d["expires"],
            key=d["key"],
            partial=d["partial"],
            final=d["final"],
            partials=tuple(d["partials"]),
            finished=d["finished"],
        )
        staged = d.get("staged")
        return cls(
            upload=upload,
            mpu=d.get("mpu"),
            parts=[_part(p, algorithm) for p in d.get("parts", [])],
            staged_key=None if staged is None else staged["key"],
            staged_size=0 if staged is None else int(staged["size"]),
            etag=etag,
        )


def _part(fields: list[Any], algorithm: ChecksumAlgorithm) -> PartRecord:
    number, etag, size, checksum = fields
    if isinstance(checksum, int):  # version 1: the CRC as a number
        checksum = encode(algorithm, PartDigest(checksum, size))
    return PartRecord(number, size, etag, checksum)


class StateObjects:
    """Reads and writes upload states and staged tails in the bucket, under ``prefix``."""

    def __init__(
        self,
        objects: Objects,
        bucket: str,
        prefix: str,
        threads: StoreThreads,
        algorithm: ChecksumAlgorithm,
        *,
        conditional: bool = True,
    ) -> None:
        self.objects = objects
        self.bucket = bucket
        self.prefix = prefix
        self.threads = threads
        self.algorithm = algorithm
        self.conditional = conditional
        """Whether states are written on condition (else: one gateway instance, whose
        in-process locks serialise the writers)."""

    def check_id(self, upload_id: str) -> None:
        """404 for an id this store never makes (it becomes part of object keys)."""
        if not ID_RE.match(upload_id):
            raise not_found()

    async def load(self, upload_id: str) -> UploadState:
        self.check_id(upload_id)
        key = info_key(self.prefix, upload_id)
        blob = await self.threads.run(
            call_with_retry,
            lambda: self.objects.get(self.bucket, key),
            READ_RETRY,
            describe=f"GetObject {key}",
        )
        if blob is None:
            raise not_found()
        return UploadState.from_json(blob.data, blob.etag, self.algorithm)

    async def save(self, state: UploadState, *, create: bool = False) -> None:
        """Write ``state`` on condition that nobody wrote it since it was read (409)."""
        mode = CREATE if create else PutMode.replacing(state.etag)
        if not self.conditional:
            mode = OVERWRITE
        try:
            state.etag = await self.threads.run(
                self.objects.put,
                self.bucket,
                info_key(self.prefix, state.upload.id),
                state.to_json(),
                mode=mode,
                content_type="application/json",
            )
        except (PreconditionFailed, AlreadyExists) as exc:
            raise HTTPError(
                409, "Conflict", "the upload was changed by another request; retry"
            ) from exc

    async def remove(self, upload_id: str) -> None:
        await self.delete(info_key(self.prefix, upload_id))

    async def delete(self, key: str) -> None:
        await self.threads.run(
            call_with_retry,
            lambda: self.objects.delete(self.bucket, key),
            READ_RETRY,
            describe=f"DeleteObject {key}",
        )

    async def stage(self, upload_id: str, view: memoryview) -> str:
        """Store a tail shorter than a part as a new staged object; return its key."""
        key = f"{staged_prefix(self.prefix, upload_id)}{secrets.token_hex(6)}"
        await self.threads.run(self.objects.put, self.bucket, key, view)
        return key

    async def read_staged(self, state: UploadState, buf: bytearray) -> int:
        """Read the staged tail into the start of ``buf``; its size must be the recorded one."""
        assert state.staged_key is not None
        with memoryview(buf)[: state.staged_size] as view:
            got = await self.threads.run(
                self.objects.read_into, self.bucket, state.staged_key, view
            )
        if got != state.staged_size:
            raise StoreError(
                f"staged chunk {state.staged_key} has {got} bytes, expected {state.staged_size}",
                code="SizeMismatch",
            )
        return got

    async def delete_staged(self, upload_id: str) -> None:
        """Delete the upload's staged tails, also any a crash or a failed state write left
        unrecorded."""
        prefix = staged_prefix(self.prefix, upload_id)
        for item in await self.threads.run(self.objects.list, self.bucket, prefix):
            await self.delete(item.key)
