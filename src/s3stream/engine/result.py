"""What a finished upload returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UploadResult:
    bucket: str
    key: str
    etag: str
    version_id: str | None
    size: int
    checksum_algorithm: str
    """``crc64nvme``, ``crc32c``, ``crc32``, ``sha256`` or ``none``."""
    checksum: str | None
    """Base64 as the store reports it (as s3stream computed it where the store keeps none);
    ``FULL_OBJECT`` CRCs equal a CRC of the whole object."""
    checksum_type: str | None
    parts: int
    """Parts uploaded; 1 for a single PutObject."""
    duration: float
    upload_id: str | None = None
    """The multipart upload id, or ``None`` when the object went up as one PutObject."""
    reused_bytes: int = 0
    """Bytes of parts uploaded before a resume and kept (0 for an upload done in one go)."""
    verified: str = "none"
    """What was checked: ``full-object`` (the whole object's checksum), ``parts`` (each
    part's checksum only), ``read-back`` (the object was read back and compared) or
    ``none``."""
    verified_by: str | None = None
    """Who checked it: ``store`` or ``s3stream`` (``None`` when nothing was)."""
