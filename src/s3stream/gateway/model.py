"""What the tus handler and the upload stores exchange: uploads, new uploads, chunk bodies.

These types know nothing of HTTP or S3. ``metadata`` keeps the ``Upload-Metadata`` pairs as
sent (base64 values, or ``None`` for a key without value) so HEAD echoes them exactly.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from s3stream.gateway.errors import bad_request

Metadata = Mapping[str, str | None]
"""``Upload-Metadata`` pairs: key to base64 value (``None`` when the key has no value)."""

ProgressFn = Callable[[int], None]
"""Called with the upload's new offset as bytes arrive."""


@dataclass(frozen=True, slots=True)
class NewUpload:
    """A creation request, validated by the handler."""

    size: int | None
    """``None``: deferred length (``Upload-Defer-Length: 1``)."""
    metadata: Metadata = field(default_factory=dict)
    owner: str = ""
    expires: float | None = None
    """Unix time after which the unfinished upload is gone (``None``: never)."""
    partial: bool = False
    """``Upload-Concat: partial``: a piece of a later final upload, stored out of sight."""


@dataclass(frozen=True, slots=True)
class Upload:
    """One upload as the handler sees it (a snapshot; stores keep their own state)."""

    id: str
    size: int | None
    offset: int
    metadata: Metadata
    owner: str
    created: float
    expires: float | None
    key: str
    """Where the finished object is (or will be) stored."""
    partial: bool = False
    final: bool = False
    partials: tuple[str, ...] = ()
    finished: bool = False

    def expired(self, now: float) -> bool:
        return not self.finished and self.expires is not None and now >= self.expires

    @property
    def filename(self) -> str | None:
        return metadata_value(self.metadata, "filename")


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A finished upload's object as the store has it."""

    size: int
    checksum: str | None
    """The stored whole-object checksum (base64), when the store keeps one."""
    checksum_algorithm: str | None
    url: str
    """A presigned GET."""


class ChunkBody(Protocol):
    """A request body handed to a store: iterate it, then ask whether it may be kept.

    Iteration ends early (without an error) when the client disconnects or stalls past the
    read timeout; ``verify()`` then raises if the chunk must be discarded (a checksum was
    given and cannot be, or was not, matched).
    """

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def verify(self) -> None: ...

    @property
    def received(self) -> int: ...

    @property
    def expected(self) -> int | None:
        """The declared length (``Content-Length``), if any."""
        ...

    @property
    def checked(self) -> bool:
        """A checksum covers the whole chunk: none of it may be kept before ``verify()``."""
        ...


# ------------------------------------------------------------------ Upload-Metadata

_KEY_RE = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")  # printable ASCII without space and comma


def parse_metadata(header: str | None) -> dict[str, str | None]:
    """Parse ``Upload-Metadata`` (``key b64,key2,key3 b64``); 400 on a malformed header."""
    result: dict[str, str | None] = {}
    if not header or not header.strip():
        return result
    for item in header.split(","):
        parts = item.strip().split(" ")
        if len(parts) > 2 or not parts[0] or not _KEY_RE.match(parts[0]):
            raise bad_request(f"malformed Upload-Metadata pair {item.strip()!r}")
        key = parts[0]
        if key in result:
            raise bad_request(f"duplicate Upload-Metadata key {key!r}")
        value = parts[1] if len(parts) == 2 and parts[1] else None
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise bad_request(f"Upload-Metadata value of {key!r} is not base64") from None
        result[key] = value
    return result


def format_metadata(metadata: Metadata) -> str:
    return ",".join(k if v is None else f"{k} {v}" for k, v in metadata.items())


def metadata_value(metadata: Metadata, key: str) -> str | None:
    """A metadata value decoded as UTF-8 (``None`` when missing or not text)."""
    raw = metadata.get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(raw).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def encode_metadata(values: Mapping[str, str]) -> dict[str, str | None]:
    """The inverse of :func:`metadata_value` for building metadata in code and tests."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


# ------------------------------------------------------------------ object keys

_MIME_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")


def content_type_or_none(value: str | None) -> str | None:
    """A client's content type when it is a plain ``type/subtype`` (else ``None``)."""
    return value if value is not None and _MIME_RE.match(value) else None


def sanitize_filename(name: str, max_bytes: int = 200) -> str:
    """A safe object-key tail from a client's file name.

    Keeps the base name only (no directories, so no ``..`` and no leading ``/``), drops
    control and format characters, collapses whitespace, and bounds the length in bytes.
    Returns ``""`` when nothing usable is left.
    """
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(
        c for c in name if unicodedata.category(c)[0] != "C" and c not in "\u2028\u2029"
    )
    cleaned = " ".join(cleaned.split()).strip(" .")
    if cleaned in ("", ".", ".."):
        return ""
    encoded = cleaned.encode()
    if len(encoded) > max_bytes:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and 0 < len(ext.encode()) <= 16:
            room = max_bytes - len(ext.encode()) - 1
            cleaned = _truncate(stem, room) + "." + ext
        else:
            cleaned = _truncate(cleaned, max_bytes)
    return cleaned


def _truncate(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode("utf-8", errors="ignore")


def with_suffix(filename: str, suffix: str) -> str:
    """``report.pdf`` + ``ab12`` -> ``report-ab12.pdf`` (the extension stays last)."""
    stem, dot, ext = filename.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16:
        return f"{stem}-{suffix}.{ext}"
    return f"{filename}-{suffix}"
