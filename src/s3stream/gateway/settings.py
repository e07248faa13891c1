"""The gateway's protocol settings (what the tus handler enforces and advertises)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from s3stream.errors import ConfigError
from s3stream.limits import MAX_OBJECT_SIZE

TUS_VERSION = "1.0.0"
"""The tus protocol version the gateway speaks."""

Naming = Literal["unique", "exact"]

CHECKSUM_ALGORITHMS = ("sha1", "md5", "crc32c", "crc32", "sha256")


@dataclass(frozen=True, slots=True)
class TusSettings:
    base_path: str = "/files/"
    max_size: int = MAX_OBJECT_SIZE
    """``Tus-Max-Size``: larger ``Upload-Length`` s get 413."""
    max_metadata_bytes: int = 4096
    expiration: float | None = 24 * 3600.0
    """Seconds an unfinished upload lives after its last write; ``None``: forever."""
    checksum_algorithms: tuple[str, ...] = CHECKSUM_ALGORITHMS
    body_timeout: float = 30.0
    """A PATCH body that delivers nothing for this long ends (what arrived is kept)."""
    key_prefix: str = ""
    naming: Naming = "unique"
    """``unique``: ``name-<8 hex>.ext``; ``exact``: the file name as given."""
    no_clobber: bool = False
    """Refuse (409) to create an upload whose object key already exists."""
    max_uploads_per_owner: int = 32
    """Concurrent writing requests (PATCH, POST with a body) per token; more get 429."""
    trust_forwarded: bool = False
    """Build ``Location`` from ``X-Forwarded-Proto``/``X-Forwarded-Host`` (behind a proxy)."""

    def __post_init__(self) -> None:
        if not self.base_path.startswith("/") or not self.base_path.endswith("/"):
            raise ConfigError(f"base path {self.base_path!r} must start and end with '/'")
        if self.max_size < 0 or self.max_metadata_bytes < 0:
            raise ConfigError("size limits must not be negative")
        unknown = set(self.checksum_algorithms) - set(CHECKSUM_ALGORITHMS)
        if unknown:
            raise ConfigError(f"unsupported checksum algorithms: {', '.join(sorted(unknown))}")
        if self.key_prefix.startswith("/") or ".." in self.key_prefix.split("/"):
            raise ConfigError(f"key prefix {self.key_prefix!r} must be relative, without '..'")
        if self.naming not in ("unique", "exact"):
            raise ConfigError(f"naming {self.naming!r}: use unique or exact")
