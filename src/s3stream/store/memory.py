"""An in-memory store implementing both store protocols, shipped as a test double.

It checks what S3 checks (part and whole-object checksums, the 5 MiB part minimum, part
order, conditional writes) and raises the same typed outcomes as the botocore store, so
code above the store layer can be tested without a server (as httpx ships a mock
transport). The store conformance suite holds it to the real stores' behaviour; it is never
the only test of a path.

``hook`` is called before every operation with its name and arguments and may raise to
inject a fault; ``calls`` lists the operations in order.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from s3stream.checksums import ChecksumAlgorithm, combine, composite, digest, encode
from s3stream.errors import (
    AlreadyExists,
    NoSuchUpload,
    NotFound,
    PreconditionFailed,
    StoreError,
)
from s3stream.limits import MIN_PART_SIZE
from s3stream.store.attributes import NO_REQUEST_OPTIONS, ObjectOptions, RequestOptions
from s3stream.store.profiles import AWS
from s3stream.store.protocol import OnSent, PartSource
from s3stream.store.types import (
    OVERWRITE,
    Blob,
    CorsRule,
    Listed,
    ObjectInfo,
    PartRecord,
    PresignedPost,
    PutMode,
    UploadInfo,
)

Hook = Callable[[str, dict[str, object]], None]
"""Called before each operation with its name and arguments; may raise to inject a fault."""

READ_BLOCK = 1024 * 1024


def read_source(source: PartSource) -> bytes:
    """All of a part source's bytes, as a store receives them."""
    data = bytearray()
    while len(data) < source.size:
        data += source.wait_view(len(data), source.size - len(data))
    return bytes(data)


@dataclass
class _Upload:
    key: str
    checksum: ChecksumAlgorithm
    options: ObjectOptions
    initiated: dt.datetime
    key_md5: str | None = None
    """The SSE-C key's MD5 when the upload is encrypted with a customer key."""
    full_object: bool = True
    parts: dict[int, tuple[bytes, PartRecord]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Object:
    data: bytes
    info: ObjectInfo
    options: ObjectOptions
    key_md5: str | None = None


CAPABILITIES = replace(
    AWS,
    name="memory",
    addressing="path",
    sources={"all": "s3stream.store.memory: implements S3 as AWS documents it"},
)
"""What the in-memory store does: everything S3 documents."""


class MemoryStore:
    """Objects and multipart uploads in dicts, for any number of buckets."""

    capabilities = CAPABILITIES

    def __init__(self, hook: Hook | None = None) -> None:
        self.objects: dict[tuple[str, str], _Object] = {}
        self.uploads: dict[str, _Upload] = {}
        self.calls: list[str] = []
        self.cors: dict[str, tuple[CorsRule, ...]] = {}
        self.hook = hook
        self.endpoint_url: str | None = None
        self.request = NO_REQUEST_OPTIONS
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    def with_request_options(self, request: RequestOptions) -> MemoryStore:
        """A view of the same objects and uploads whose calls carry ``request``."""
        view = copy.copy(self)
        view.request = request
        return view

    # ------------------------------------------------------------------ helpers

    def _enter(self, operation: str, **args: object) -> None:
        with self._lock:
            self.calls.append(operation)
        if self.hook is not None:
            self.hook(operation, args)

    def _upload(self, upload_id: str) -> _Upload:
        try:
            return self.uploads[upload_id]
        except KeyError:
            raise NoSuchUpload("no such upload", code="NoSuchUpload", status=404) from None

    def _admit(self, bucket: str, key: str, mode: PutMode) -> None:
        """Raise what S3 answers a conditional write that finds the key as it is."""
        found = self.objects.get((bucket, key))
        if mode.kind == "create" and found is not None:
            raise AlreadyExists("an object exists", code="PreconditionFailed", status=412)
        if mode.kind == "replace" and (found is None or found.info.etag != mode.etag):
            raise PreconditionFailed("another version", code="PreconditionFailed", status=412)

    def _store(self, bucket: str, key: str, data: bytes, info: ObjectInfo, options: Any) -> None:
        self.objects[(bucket, key)] = _Object(data, info, options, self._key_md5())

    def _key_md5(self) -> str | None:
        key = self.request.sse_customer_key
        return None if key is None else key.md5

    def _check_key(self, encrypted_with: str | None) -> None:
        """Refuse, as S3 does, a call about an SSE-C upload or object without its key (or
        with another), and a customer key for one that has none."""
        if self._key_md5() != encrypted_with:
            raise StoreError(
                "the SSE-C key does not match the object's encryption",
                code="InvalidRequest" if encrypted_with else "InvalidArgument",
                status=400,
            )

    @staticmethod
    def _check(algorithm: ChecksumAlgorithm, data: bytes, value: str | None) -> str | None:
        found = digest(algorithm, data)
        actual = encode(algorithm, found) if found else None
        if value is not None and value != actual:
            raise StoreError("checksum mismatch", code="BadDigest", status=400)
        return actual

    @staticmethod
    def _etag(data: bytes) -> str:
        return f'"{hashlib.md5(data).hexdigest()}"'

    def data(self, bucket: str, key: str) -> bytes:
        """The bytes of an object (KeyError when there is none)."""
        return self.objects[(bucket, key)].data

    def options(self, bucket: str, key: str) -> ObjectOptions:
        """The attributes an object was created with."""
        return self.objects[(bucket, key)].options

    # ------------------------------------------------------------------ ObjectStore

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        checksum: ChecksumAlgorithm,
        options: ObjectOptions,
        full_object: bool = True,
    ) -> str:
        self._enter("CreateMultipartUpload", bucket=bucket, key=key, full_object=full_object)
        upload_id = f"upload-{next(self._ids)}"
        full = full_object and checksum.full_object
        with self._lock:
            self.uploads[upload_id] = _Upload(
                key, checksum, options, dt.datetime.now(dt.UTC), self._key_md5(), full
            )
        return upload_id

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: memoryview | PartSource,
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        on_sent: OnSent | None = None,
    ) -> PartRecord:
        data = bytes(body) if isinstance(body, memoryview) else read_source(body)
        self._enter("UploadPart", part_number=part_number, size=len(data), on_sent=on_sent)
        with self._lock:
            upload = self._upload(upload_id)
            self._check_key(upload.key_md5)
            if on_sent is not None:
                on_sent(len(data))
            actual = self._check(checksum, data, checksum_value)
            record = PartRecord(part_number, len(data), self._etag(data), actual)
            upload.parts[part_number] = (data, record)
        return record

    def upload_part_stream(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: PartSource,
        *,
        checksum: ChecksumAlgorithm,
    ) -> PartRecord:
        data = read_source(source)
        part = digest(checksum, data)
        value = None if part is None else encode(checksum, part)
        return self.upload_part(
            bucket,
            key,
            upload_id,
            part_number,
            memoryview(data),
            checksum=checksum,
            checksum_value=value,
        )

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[PartRecord],
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        mode: PutMode = OVERWRITE,
    ) -> ObjectInfo:
        self._enter("CompleteMultipartUpload", parts=len(parts))
        with self._lock:
            upload = self._upload(upload_id)
            self._check_key(upload.key_md5)
            self._admit(bucket, key, mode)
            numbers = [p.number for p in parts]
            if not parts or numbers != sorted(set(numbers)):
                raise StoreError("bad part list", code="InvalidPartOrder", status=400)
            held = [upload.parts.get(n) for n in numbers]
            if any(h is None or h[1].etag != p.etag for h, p in zip(held, parts, strict=True)):
                raise StoreError("a listed part is missing", code="InvalidPart", status=400)
            chunks = [h[0] for h in held if h is not None]
            if any(len(c) < MIN_PART_SIZE for c in chunks[:-1]):
                raise StoreError("a part is too small", code="EntityTooSmall", status=400)
            data = b"".join(chunks)
            value: str | None = None
            kind = "FULL_OBJECT" if upload.full_object else "COMPOSITE"
            if checksum is not ChecksumAlgorithm.NONE:
                digests = [d for c in chunks if (d := digest(checksum, c)) is not None]
                whole = combine if upload.full_object else composite
                value = whole(checksum, digests) if digests else None
                if upload.full_object and checksum_value is not None and checksum_value != value:
                    raise StoreError("object checksum mismatch", code="BadDigest", status=400)
            del self.uploads[upload_id]
            etag = f'"{hashlib.md5(b"".join(h[1].etag.encode() for h in held if h)).hexdigest()}'
            info = ObjectInfo(f'{etag}-{len(parts)}"', None, value, kind, len(data))
            self._store(bucket, key, data, info, upload.options)
        return info

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._enter("AbortMultipartUpload")
        with self._lock:
            self._upload(upload_id)
            del self.uploads[upload_id]

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartRecord]:
        self._enter("ListParts")
        with self._lock:
            upload = self._upload(upload_id)
            self._check_key(upload.key_md5)
            return [record for _, (_, record) in sorted(upload.parts.items())]

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        self._enter("ListMultipartUploads")
        with self._lock:
            return [
                UploadInfo(u.key, uid, u.initiated)
                for uid, u in self.uploads.items()
                if u.key.startswith(prefix)
            ]

    def put_object(
        self,
        bucket: str,
        key: str,
        body: memoryview,
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        options: ObjectOptions,
        mode: PutMode = OVERWRITE,
        on_sent: OnSent | None = None,
    ) -> ObjectInfo:
        self._enter("PutObject", size=len(body))
        data = bytes(body)
        with self._lock:
            self._admit(bucket, key, mode)
            if on_sent is not None:
                on_sent(len(data))
            actual = self._check(checksum, data, checksum_value)
            info = ObjectInfo(self._etag(data), None, actual, "FULL_OBJECT", len(data))
            self._store(bucket, key, data, info, options)
        return info

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        self._enter("HeadObject")
        found = self.objects.get((bucket, key))
        if found is None:
            return None
        self._check_key(found.key_md5)
        return ObjectInfo(
            found.info.etag,
            found.info.version_id,
            found.info.checksum,
            found.info.checksum_type,
            len(found.data),
            dict(found.options.metadata or {}),
        )

    def presign(self, method: Literal["GET", "PUT"], bucket: str, key: str, expires_in: int) -> str:
        return f"memory://{bucket}/{key}?method={method}&expires={expires_in}"

    # ------------------------------------------------------------------ Objects

    def get(self, bucket: str, key: str) -> Blob | None:
        self._enter("GetObject", key=key)
        found = self.objects.get((bucket, key))
        return None if found is None else Blob(found.data, found.info.etag)

    def read_into(self, bucket: str, key: str, view: memoryview) -> int:
        found = self.get(bucket, key)
        if found is None:
            raise NotFound(f"GetObject: NoSuchKey: {key}", code="NoSuchKey", status=404)
        if len(found.data) > len(view):
            raise StoreError(f"{key} is larger than expected", code="SizeMismatch")
        view[: len(found.data)] = found.data
        return len(found.data)

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        found = self.get(bucket, key)
        if found is None:
            raise NotFound(f"GetObject: NoSuchKey: {key}", code="NoSuchKey", status=404)
        for start in range(0, len(found.data), READ_BLOCK):
            yield found.data[start : start + READ_BLOCK]

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes | memoryview,
        *,
        mode: PutMode = OVERWRITE,
        content_type: str | None = None,
    ) -> str:
        self._enter("PutObject", key=key, size=len(body))
        data = bytes(body)
        with self._lock:
            self._admit(bucket, key, mode)
            info = ObjectInfo(self._etag(data), None, None, None, len(data))
            self._store(bucket, key, data, info, ObjectOptions(content_type=content_type))
        return info.etag

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        self._enter("DeleteObject", key=key)
        with self._lock:
            found = self.objects.get((bucket, key))
            if found is None:
                return
            if if_match is not None and found.info.etag != if_match:
                raise PreconditionFailed("another version", code="PreconditionFailed", status=412)
            del self.objects[(bucket, key)]

    def list(self, bucket: str, prefix: str) -> list[Listed]:
        self._enter("ListObjectsV2", prefix=prefix)
        with self._lock:
            found = [
                Listed(k, len(o.data))
                for (b, k), o in self.objects.items()
                if b == bucket and k.startswith(prefix)
            ]
        return sorted(found, key=lambda item: item.key)

    def copy_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source_key: str,
        byte_range: tuple[int, int] | None = None,
    ) -> PartRecord:
        self._enter("UploadPartCopy", part_number=part_number)
        with self._lock:
            upload = self._upload(upload_id)
            source = self.objects.get((bucket, source_key))
            if source is None:
                raise NotFound(f"UploadPartCopy: NoSuchKey: {source_key}", code="NoSuchKey")
            data = source.data
            if byte_range is not None:
                data = data[byte_range[0] : byte_range[1] + 1]
            actual = digest(upload.checksum, data)
            value = encode(upload.checksum, actual) if actual else None
            record = PartRecord(part_number, len(data), self._etag(data), value)
            upload.parts[part_number] = (data, record)
        return record

    def presign_request(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        query = "&".join(
            f"{k}={v}" for k, v in sorted(params.items()) if k not in ("Bucket", "Key")
        )
        return f"memory://{params['Bucket']}/{params['Key']}?op={operation}&{query}"

    def presign_post(
        self,
        bucket: str,
        key: str,
        *,
        fields: dict[str, str],
        max_size: int,
        expires_in: int,
    ) -> PresignedPost:
        return PresignedPost(
            f"memory://{bucket}/", {**fields, "key": key, "policy": f"max={max_size}"}
        )

    def get_cors(self, bucket: str) -> tuple[CorsRule, ...]:
        self._enter("GetBucketCors")
        return tuple(self.cors.get(bucket, ()))

    def put_cors(self, bucket: str, rules: Sequence[CorsRule]) -> None:
        self._enter("PutBucketCors")
        self.cors[bucket] = tuple(rules)
