"""What a resume may count as sent: the journal's parts, the store's ListParts and the
file's bytes, reconciled.

- A journaled part counts when ListParts shows it (same number, ETag and size).
- A file must be the file the parts came from: its fingerprint (size, mtime, a sample of
  its content) and every counted part's checksum must match its bytes.
- A part the store holds that the journal missed (acknowledged by the store, then the
  process died before it recorded it) is adopted when it matches the file's bytes for that
  part: by the checksum ListParts gives in the upload's algorithm (AWS S3), or, when the
  store lists none, by its ETag being the MD5 of those bytes (how AWS S3 without KMS,
  MinIO, Ceph and SeaweedFS make part ETags). No part the store holds is sent again.
"""

from __future__ import annotations

import hashlib
import os
import re

from s3stream.checksums import ChecksumAlgorithm, RunningChecksum, encode
from s3stream.engine.ledger import PartLedger
from s3stream.errors import SourceError
from s3stream.resume.info import ResumeInfo
from s3stream.store.types import PartRecord

READ_WINDOW = 1 << 20
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?')


def confirmed(info: ResumeInfo, listed: list[PartRecord]) -> ResumeInfo:
    """``info`` with only the journaled parts the store lists (number, ETag and size)."""
    on_server = {(p.number, p.etag, p.size) for p in listed}
    return info.with_parts(tuple(p for p in info.parts if (p.number, p.etag, p.size) in on_server))


def verify_file(info: ResumeInfo, fd: int, path: str) -> None:
    """Raise :class:`SourceError` unless the file is the one the counted parts came from."""
    fingerprint = info.source
    changed = fingerprint.differences(fd) if fingerprint is not None else []
    algorithm = info.algorithm
    if not changed and algorithm is not ChecksumAlgorithm.NONE:
        for part in info.parts:
            local = _read_part(fd, info, part.number, part.size, algorithm, md5=False)
            if local is None or local[0] != part.checksum:
                changed.append(f"the bytes of part {part.number}")
                break
    if changed:
        raise SourceError(
            f"{path} changed since upload {info.upload_id} started ({', '.join(changed)}): "
            "nothing was completed; restore the file, or give up with "
            f"`s3stream abort {info.upload_id}`"
        )


def adopt(info: ResumeInfo, listed: list[PartRecord], fd: int) -> ResumeInfo:
    """``info`` with the parts the store holds beyond the journal's, where they are the
    file's bytes (see the module's description)."""
    counted = {p.number for p in info.parts}
    ledger = PartLedger(info.plan)
    algorithm = info.algorithm
    adopted = []
    for part in listed:
        if part.number in counted or part.number > (info.plan.part_count or 0):
            continue
        if part.size != ledger.bounds(part.number)[1]:
            continue
        md5 = _MD5_ETAG.fullmatch(part.etag)
        if part.checksum is None and md5 is None:
            continue
        local = _read_part(fd, info, part.number, part.size, algorithm, md5=md5 is not None)
        if local is None:
            continue
        checksum, digest_md5 = local
        if (part.checksum is not None and part.checksum == checksum) or (
            part.checksum is None and md5 is not None and md5.group(1) == digest_md5
        ):
            adopted.append(PartRecord(part.number, part.size, part.etag, checksum))
    return info.with_parts((*info.parts, *adopted)) if adopted else info


def _read_part(
    fd: int, info: ResumeInfo, number: int, size: int, algorithm: ChecksumAlgorithm, *, md5: bool
) -> tuple[str | None, str | None] | None:
    """The encoded checksum (in ``algorithm``) and, if asked, the MD5 hex digest of part
    ``number``'s bytes in the file; ``None`` when the file ends before the part does."""
    running = RunningChecksum(algorithm) if algorithm is not ChecksumAlgorithm.NONE else None
    hashed = hashlib.md5(usedforsecurity=False) if md5 else None
    window = bytearray(min(READ_WINDOW, size))
    offset, done = info.plan.offset(number), 0
    with memoryview(window) as whole:
        while done < size:
            view = whole[: min(len(window), size - done)]
            n = os.preadv(fd, [view], offset + done)
            if n == 0:
                return None
            if running is not None:
                running.update(view[:n])
            if hashed is not None:
                hashed.update(view[:n])
            done += n
    checksum = encode(algorithm, running.digest()) if running is not None else None
    return checksum, hashed.hexdigest() if hashed is not None else None
