"""The narrow store interface: only the S3 calls s3stream makes.

The engine and its tests see these types, never botocore's. :mod:`s3stream.store.boto.store`
implements it on botocore; tests add an in-memory fake and run one conformance suite on both.
Implementations translate every failure into :class:`~s3stream.errors.StoreError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from s3stream.checksums import ChecksumAlgorithm

OnSent = Callable[[int], None]
"""Called with byte counts as a request body goes out (for progress)."""


@dataclass(frozen=True, slots=True)
class PartReceipt:
    """An acknowledged part: what CompleteMultipartUpload needs, plus what resume checks."""

    part_number: int
    etag: str
    size: int
    checksum: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    etag: str
    version_id: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None
    size: int | None = None
    metadata: Mapping[str, str] | None = None
    """User metadata (``x-amz-meta-*``), where the call returns it (HeadObject)."""


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """An incomplete multipart upload, as ListMultipartUploads reports it."""

    key: str
    upload_id: str
    initiated: dt.datetime


@dataclass(frozen=True, slots=True)
class ObjectOptions:
    """Attributes set when an object is created."""

    content_type: str | None = None
    metadata: Mapping[str, str] | None = None


class PartSource(Protocol):
    """One part's bytes, read piece by piece: possibly still arriving (a part streamed to
    the store while its bytes are received, the gateway's PATCH bodies), or read from a file
    as they are sent (:class:`~s3stream.engine.files.FileRange`). Every byte stays readable
    until the part is acknowledged, so a failed attempt is retried from the start."""

    @property
    def size(self) -> int: ...

    def wait_view(self, start: int, limit: int) -> memoryview:
        """Bytes from ``start``, at most ``limit``, blocking until a useful amount is there;
        raises :class:`~s3stream.errors.SourceError` when they will never arrive."""
        ...


class ObjectStore(Protocol):
    def create_multipart_upload(
        self, bucket: str, key: str, *, checksum: ChecksumAlgorithm, options: ObjectOptions
    ) -> str:
        """Start a multipart upload and return its id."""
        ...

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
    ) -> PartReceipt:
        """Upload a part whose bytes are all there (``body``: in memory, or a source that
        can read any of them again), with its checksum in a header."""
        ...

    def upload_part_stream(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: PartSource,
        *,
        checksum: ChecksumAlgorithm,
    ) -> PartReceipt:
        """Upload a part whose bytes may still be arriving; its checksum is computed as the
        bytes go out and sent after them (a trailer), and returned in the receipt."""
        ...

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[PartReceipt],
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        if_none_match: bool = False,
    ) -> ObjectInfo: ...

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None: ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartReceipt]:
        """All parts the server holds for the upload (paginated until complete)."""
        ...

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]: ...

    def put_object(
        self,
        bucket: str,
        key: str,
        body: memoryview,
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        options: ObjectOptions,
        if_none_match: bool = False,
        on_sent: OnSent | None = None,
    ) -> ObjectInfo: ...

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's attributes with its checksum, or ``None`` if there is no such key."""
        ...

    def presign(
        self, method: Literal["GET", "PUT"], bucket: str, key: str, expires_in: int
    ) -> str: ...
