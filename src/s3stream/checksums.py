"""Per-part and whole-object checksums.

CRC32, CRC32C and CRC64NVME come from ``awscrt`` (hardware accelerated, tens of GB/s), and
combine: the engine computes each part's CRC in parallel and folds them into the CRC of the
whole object, which S3 stores as a ``FULL_OBJECT`` checksum and verifies on completion. The
same value is what any client computes over the downloaded bytes. SHA-256 cannot combine, so
it yields S3's ``COMPOSITE`` form (the hash of the part hashes, suffixed ``-N``).
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Buffer = bytes | bytearray | memoryview


class ChecksumAlgorithm(enum.Enum):
    CRC64NVME = "crc64nvme"
    CRC32C = "crc32c"
    CRC32 = "crc32"
    SHA256 = "sha256"
    NONE = "none"

    @classmethod
    def parse(cls, value: str | ChecksumAlgorithm) -> ChecksumAlgorithm:
        if isinstance(value, ChecksumAlgorithm):
            return value
        try:
            return cls(value.lower())
        except ValueError:
            names = ", ".join(a.value for a in cls)
            raise ValueError(f"unknown checksum {value!r}: choose one of {names}") from None

    @property
    def s3_name(self) -> str:
        """The name S3 uses (``ChecksumAlgorithm=CRC64NVME``, ``ChecksumCRC64NVME``)."""
        return self.name

    @property
    def full_object(self) -> bool:
        """True when part checksums combine into a checksum of the whole object."""
        return self in (
            ChecksumAlgorithm.CRC64NVME,
            ChecksumAlgorithm.CRC32C,
            ChecksumAlgorithm.CRC32,
        )


@dataclass(frozen=True, slots=True)
class PartDigest:
    """The raw checksum of one part: an int for CRCs, 32 bytes for SHA-256."""

    value: int | bytes
    size: int


_WIDTHS = {ChecksumAlgorithm.CRC64NVME: 8, ChecksumAlgorithm.CRC32C: 4, ChecksumAlgorithm.CRC32: 4}
"""Bytes of each CRC."""

Crc = Callable[..., int]


@functools.cache
def _crc(algorithm: ChecksumAlgorithm) -> tuple[Crc, Crc]:
    """``awscrt``'s CRC function and combine function for ``algorithm`` (loaded on first use,
    so that importing this module, as every command does, does not load the native library)."""
    from awscrt import checksums as crt

    name = algorithm.value
    return getattr(crt, name), getattr(crt, f"combine_{name}")


def digest(algorithm: ChecksumAlgorithm, data: Buffer) -> PartDigest | None:
    """Checksum one part (``None`` for ``NONE``)."""
    if algorithm is ChecksumAlgorithm.NONE:
        return None
    size = len(memoryview(data))
    if algorithm is ChecksumAlgorithm.SHA256:
        return PartDigest(hashlib.sha256(data).digest(), size)
    return PartDigest(_crc(algorithm)[0](data), size)


def encode(algorithm: ChecksumAlgorithm, part: PartDigest) -> str:
    """The base64 header value S3 expects for one part (or a single PutObject)."""
    if isinstance(part.value, bytes):
        return base64.b64encode(part.value).decode()
    return base64.b64encode(part.value.to_bytes(_WIDTHS[algorithm], "big")).decode()


def combine(algorithm: ChecksumAlgorithm, parts: Sequence[PartDigest]) -> str:
    """The object's checksum as S3 reports it after CompleteMultipartUpload: the CRC of the
    whole object (``FULL_OBJECT``), or for SHA-256 the :func:`composite`."""
    if algorithm is ChecksumAlgorithm.SHA256:
        return composite(algorithm, parts)
    combine_func = _crc(algorithm)[1]
    total = 0
    for i, part in enumerate(parts):
        assert isinstance(part.value, int)
        total = part.value if i == 0 else combine_func(total, part.value, part.size)
    return encode(algorithm, PartDigest(total, sum(p.size for p in parts)))


def composite(algorithm: ChecksumAlgorithm, parts: Sequence[PartDigest]) -> str:
    """S3's ``COMPOSITE`` checksum of a multipart object: the checksum of the parts' raw
    checksums, one after the other, suffixed ``-N`` (N parts)."""
    joined = b"".join(base64.b64decode(encode(algorithm, p)) for p in parts)
    whole = digest(algorithm, joined)
    assert whole is not None, "no composite without an algorithm"
    return f"{encode(algorithm, whole)}-{len(parts)}"


class RunningChecksum:
    """A checksum fed piece by piece (for a part streamed while its bytes arrive)."""

    def __init__(self, algorithm: ChecksumAlgorithm) -> None:
        if algorithm is ChecksumAlgorithm.NONE:
            raise ValueError("no checksum to run")
        self.algorithm = algorithm
        self.size = 0
        self._crc = 0
        self._sha = hashlib.sha256() if algorithm is ChecksumAlgorithm.SHA256 else None

    def update(self, data: Buffer) -> None:
        if self._sha is not None:
            self._sha.update(data)
        else:
            self._crc = _crc(self.algorithm)[0](data, self._crc)
        self.size += len(memoryview(data))

    def digest(self) -> PartDigest:
        value = self._sha.digest() if self._sha is not None else self._crc
        return PartDigest(value, self.size)


def encoded_length(algorithm: ChecksumAlgorithm) -> int:
    """Characters of a base64 header value of ``algorithm`` (for trailer lengths)."""
    width = 32 if algorithm is ChecksumAlgorithm.SHA256 else _WIDTHS[algorithm]
    return len(base64.b64encode(bytes(width)))


def decode(algorithm: ChecksumAlgorithm, value: str, size: int) -> PartDigest:
    """The inverse of :func:`encode`: a part's digest from its base64 header value."""
    raw = base64.b64decode(value)
    if algorithm is ChecksumAlgorithm.SHA256:
        return PartDigest(raw, size)
    return PartDigest(int.from_bytes(raw, "big"), size)
