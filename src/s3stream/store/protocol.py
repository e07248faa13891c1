"""The narrow store interface: only the S3 calls s3stream makes, in two small protocols.

:class:`ObjectStore` lists what the engine needs (multipart uploads, a single PutObject,
HeadObject, presigned GET/PUT). :class:`Objects` lists what the gateway needs beyond that:
small objects read and written on conditions (its upload state and leases), listing,
server-side part copies and presigned requests of any kind. Code above this layer sees
these types, never botocore's: :mod:`s3stream.store.boto` implements both protocols on
botocore and translates every failure into the one exception tree
(:class:`~s3stream.errors.StoreError` and its typed outcomes), and
:class:`~s3stream.store.memory.MemoryStore` implements both in memory. One conformance suite
(``tests/store/test_conformance.py``) runs against every implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from s3stream.checksums import ChecksumAlgorithm
from s3stream.store.attributes import ObjectOptions, RequestOptions
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

OnSent = Callable[[int], None]
"""Called with byte counts as a request body goes out (for progress, and a bandwidth limit,
which may block it). A callback with a ``send_block`` attribute (bytes) asks for the body to
be handed to the socket in pieces of at most that size."""


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
    """The calls the multipart engine makes."""

    endpoint_url: str | None
    """Where the store is (``None``: AWS's default endpoint, or no network store); resume
    checks that an upload is continued at the store it lives in."""

    def with_request_options(self, request: RequestOptions) -> ObjectStore:
        """This store with ``request``'s headers on every call (the SSE-C key, requester
        pays, the expected bucket owner): the store of one object's calls."""
        ...

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        checksum: ChecksumAlgorithm,
        options: ObjectOptions,
        full_object: bool = True,
    ) -> str:
        """Start a multipart upload and return its id; with a CRC ``checksum`` its object gets
        a full-object checksum (``full_object``), else the ``COMPOSITE`` of the parts'."""
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
    ) -> PartRecord:
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
    ) -> PartRecord:
        """Upload a part whose bytes may still be arriving; its checksum is computed as the
        bytes go out and sent after them (a trailer), and returned in the record."""
        ...

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
        """Complete with ``parts`` (in order); ``checksum_value``, when given, is the
        whole object's full-object checksum for the store to verify."""
        ...

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Abort; :class:`~s3stream.errors.NoSuchUpload` when there is no such upload."""
        ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartRecord]:
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
        mode: PutMode = OVERWRITE,
        on_sent: OnSent | None = None,
    ) -> ObjectInfo: ...

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's attributes with its checksum, or ``None`` if there is no such key."""
        ...

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        """Stream the object in blocks (:class:`~s3stream.errors.NotFound` if none)."""
        ...

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        """Delete the object (nothing happens when there is none); with ``if_match`` only
        that version."""
        ...

    def presign(
        self, method: Literal["GET", "PUT"], bucket: str, key: str, expires_in: int
    ) -> str: ...


@runtime_checkable
class Objects(Protocol):
    """Whole-object calls beyond the engine's, for the gateway: its upload state and leases
    are small objects written on conditions (``mode``), and concatenation copies parts."""

    def get(self, bucket: str, key: str) -> Blob | None:
        """The whole (small) object and its ETag, or ``None`` when there is none."""
        ...

    def read_into(self, bucket: str, key: str, view: memoryview) -> int:
        """Read the object into ``view`` (it must fit); return the byte count."""
        ...

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        """Stream the object in blocks."""
        ...

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes | memoryview,
        *,
        mode: PutMode = OVERWRITE,
        content_type: str | None = None,
    ) -> str:
        """Write the object and return its ETag; ``mode`` decides what happens to one that
        is there (:class:`~s3stream.errors.AlreadyExists`,
        :class:`~s3stream.errors.PreconditionFailed`)."""
        ...

    def delete(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        """Delete the object (nothing happens when there is none); with ``if_match`` only
        that version (:class:`~s3stream.errors.PreconditionFailed` for another)."""
        ...

    def list(self, bucket: str, prefix: str) -> list[Listed]: ...

    def copy_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source_key: str,
        byte_range: tuple[int, int] | None = None,
    ) -> PartRecord:
        """UploadPartCopy of ``source_key`` (``byte_range`` inclusive) as one part."""
        ...

    def presign_request(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        """A presigned URL for ``put_object``, ``upload_part`` or ``get_object``."""
        ...

    def presign_post(
        self,
        bucket: str,
        key: str,
        *,
        fields: dict[str, str],
        max_size: int,
        expires_in: int,
    ) -> PresignedPost:
        """A POST policy for one object at ``key``: the form must carry ``fields`` as given
        and a file of at most ``max_size`` bytes (the store refuses a larger one)."""
        ...


@runtime_checkable
class BucketCors(Protocol):
    """A bucket's CORS rules: what lets a browser page upload straight into the bucket."""

    def get_cors(self, bucket: str) -> tuple[CorsRule, ...]:
        """The bucket's rules (none when it has none)."""
        ...

    def put_cors(self, bucket: str, rules: Sequence[CorsRule]) -> None:
        """Replace the bucket's rules (none: remove its CORS configuration)."""
        ...
