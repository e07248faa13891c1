"""What the store calls take and return: part records, object information, write modes
(object attributes are in :mod:`s3stream.store.attributes`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from s3stream.checksums import ChecksumAlgorithm, PartDigest, decode


@dataclass(frozen=True, slots=True)
class PartRecord:
    """One part the store acknowledged: what CompleteMultipartUpload needs (number, ETag),
    what resume checks (size), and the part's checksum as the store reports it (base64,
    in the upload's algorithm; ``None`` without one). The engine, the gateway, the journal
    and ListParts all use this one type."""

    number: int
    size: int
    etag: str
    checksum: str | None = None

    def digest(self, algorithm: ChecksumAlgorithm) -> PartDigest | None:
        """The part's raw checksum, to combine into the object's; ``None`` without one."""
        if algorithm is ChecksumAlgorithm.NONE or self.checksum is None:
            return None
        return decode(algorithm, self.checksum, self.size)


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
class PutMode:
    """What a write does about an object already under its key.

    ``overwrite`` replaces it; ``create`` writes only where there is none
    (``If-None-Match: *``; a taken key raises :class:`~s3stream.errors.AlreadyExists`);
    ``replace`` writes only over the version with ETag ``etag`` (``If-Match``; another
    version raises :class:`~s3stream.errors.PreconditionFailed`).
    """

    kind: Literal["overwrite", "create", "replace"] = "overwrite"
    etag: str | None = None

    @classmethod
    def replacing(cls, etag: str) -> PutMode:
        return cls("replace", etag)


OVERWRITE = PutMode()
CREATE = PutMode("create")


@dataclass(frozen=True, slots=True)
class Blob:
    """A whole small object and its ETag."""

    data: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class Listed:
    """An object as ListObjectsV2 reports it."""

    key: str
    size: int


@dataclass(frozen=True, slots=True)
class PresignedPost:
    """A browser form upload (S3's POST policy): POST ``fields`` and then the file, as
    ``multipart/form-data``, to ``url``."""

    url: str
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CorsRule:
    """One rule of a bucket's CORS configuration."""

    origins: tuple[str, ...]
    methods: tuple[str, ...] = ("GET", "PUT", "POST", "HEAD")
    allowed_headers: tuple[str, ...] = ("*",)
    expose_headers: tuple[str, ...] = ("ETag",)
    max_age: int | None = 3000
    id: str | None = None

    def allows(self, origin: str, method: str = "PUT", expose: str = "ETag") -> bool:
        """Whether a browser on ``origin`` may send ``method`` and read ``expose`` from the
        answer (S3's ``*`` wildcard, one per origin pattern, included)."""
        return (
            any(_origin_matches(pattern, origin) for pattern in self.origins)
            and method.upper() in (m.upper() for m in self.methods)
            and expose.lower() in (h.lower() for h in self.expose_headers)
        )


def _origin_matches(pattern: str, origin: str) -> bool:
    if "*" not in pattern:
        return pattern.rstrip("/") == origin.rstrip("/")
    head, _, tail = pattern.partition("*")
    return origin.startswith(head) and origin.endswith(tail) and len(origin) >= len(pattern) - 1
