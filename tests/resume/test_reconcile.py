"""What a resume counts as sent: journal, ListParts and the file's bytes reconciled."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3stream import ResumeInfo, SourceError, SourceFingerprint
from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.limits import MiB
from s3stream.resume.reconcile import adopt, confirmed, verify_file
from s3stream.store.types import PartRecord

PART = 5 * MiB
CRC = ChecksumAlgorithm.CRC64NVME


def crc(data: bytes) -> str:
    found = digest(CRC, data)
    assert found is not None
    return encode(CRC, found)


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


@pytest.fixture
def upload(tmp_path: Path) -> Iterator[tuple[ResumeInfo, bytes, int]]:
    data = os.urandom(5 * PART + 99)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    info = ResumeInfo(
        bucket="b",
        key="k",
        upload_id="u",
        part_size=PART,
        size=len(data),
        max_parts=10_000,
        growing=False,
        checksum_algorithm="crc64nvme",
        source=SourceFingerprint.of_file(path, fd),
    )
    yield info, data, fd
    os.close(fd)


def test_parts_the_journal_missed_are_adopted_when_they_are_the_files_bytes(
    upload: tuple[ResumeInfo, bytes, int],
) -> None:
    info, data, fd = upload
    p = [data[i * PART : (i + 1) * PART] for i in range(6)]
    journaled = PartRecord(1, PART, md5_etag(p[0]), crc(p[0]))
    info = info.with_parts((journaled,))
    listed = [
        journaled,
        PartRecord(2, PART, '"not-an-md5"', crc(p[1])),  # the store lists the checksum: it decides
        PartRecord(3, PART, md5_etag(p[2])),  # no checksum listed: the ETag is the MD5
        PartRecord(4, PART, md5_etag(b"other bytes")),  # another file's part
        PartRecord(5, PART, "abc-2", None),  # neither checksum nor MD5 ETag: cannot tell
        PartRecord(6, len(p[5]), md5_etag(p[5]), crc(p[5])),  # the last part, 99 bytes
        PartRecord(7, 10, md5_etag(b"x" * 10)),  # beyond the plan
    ]
    info = confirmed(info, listed)
    verify_file(info, fd, "f.bin")
    adopted = adopt(info, listed, fd)
    assert [q.number for q in adopted.parts] == [1, 2, 3, 6]
    assert adopted.parts[2] == PartRecord(3, PART, md5_etag(p[2]), crc(p[2]))  # its checksum
    assert adopted.uploaded_bytes == 3 * PART + len(p[5])


def test_a_listed_part_of_the_wrong_size_or_checksum_is_not_adopted(
    upload: tuple[ResumeInfo, bytes, int],
) -> None:
    info, data, fd = upload
    p1 = data[:PART]
    listed = [
        PartRecord(1, PART - 1, md5_etag(p1[:-1]), crc(p1[:-1])),
        PartRecord(2, PART, md5_etag(data[PART : 2 * PART]), crc(b"not these bytes")),
    ]
    assert adopt(info, listed, fd).parts == ()


def test_a_journaled_part_the_store_does_not_confirm_no_longer_counts(
    upload: tuple[ResumeInfo, bytes, int],
) -> None:
    info, data, _ = upload
    p1 = data[:PART]
    info = info.with_parts((PartRecord(1, PART, '"e1"', crc(p1)), PartRecord(2, PART, '"e2"')))
    assert [q.number for q in confirmed(info, [PartRecord(1, PART, '"e1"')]).parts] == [1]


def test_a_journaled_part_whose_bytes_changed_refuses_the_file(
    upload: tuple[ResumeInfo, bytes, int],
) -> None:
    info, _, fd = upload
    info = info.with_parts((PartRecord(1, PART, '"e1"', crc(b"other")),))
    with pytest.raises(SourceError, match="the bytes of part 1"):
        verify_file(info, fd, "f.bin")
