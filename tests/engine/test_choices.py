"""The engine's choices from store capabilities: the checksum and what carries it, the part
plan, no-clobber; and what the result says was verified (on the in-memory store)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from s3stream import S3StreamUploader, UploadConfig, UploadFailed
from s3stream.checksums import ChecksumAlgorithm
from s3stream.engine.choices import checksum_use, for_store
from s3stream.errors import ConfigError
from s3stream.limits import MiB
from s3stream.store.memory import MemoryStore
from s3stream.store.profiles import profile

CRC64, CRC32C, CRC32, SHA256 = (
    ChecksumAlgorithm.CRC64NVME,
    ChecksumAlgorithm.CRC32C,
    ChecksumAlgorithm.CRC32,
    ChecksumAlgorithm.SHA256,
)


@pytest.mark.parametrize(
    ("name", "algorithm", "sent", "whole"),
    [
        ("aws", CRC64, True, "full_object"),
        ("minio", CRC64, True, "full_object"),
        ("r2", CRC64, True, "full_object"),
        ("ceph", CRC32C, True, "composite"),
        ("b2", CRC64, False, "none"),
        ("gcs", CRC64, False, "none"),
        ("generic", CRC64, False, "none"),
    ],
)
def test_the_best_checksum_the_store_verifies(
    name: str, algorithm: ChecksumAlgorithm, sent: bool, whole: str
) -> None:
    use = checksum_use(None, profile(name))
    assert (use.algorithm, use.sent, use.whole) == (algorithm, sent, whole)
    assert use.store_verifies is sent


def test_what_the_store_verified_follows_the_checksum_use() -> None:
    assert checksum_use(None, profile("aws")).verification(multipart=True) == (
        "full-object",
        "store",
    )
    assert checksum_use(None, profile("ceph")).verification(multipart=True) == ("parts", "store")
    assert checksum_use(None, profile("ceph")).verification(multipart=False) == (
        "full-object",
        "store",
    )
    assert checksum_use(None, profile("b2")).verification(multipart=True) == ("none", None)


def test_a_checksum_the_user_chose_wins_and_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="s3stream.engine.choices")
    b2 = profile("b2")
    use = checksum_use(CRC32, b2)
    assert (use.algorithm, use.sent, use.store_verifies) == (CRC32, True, False)
    checksum_use(CRC32, b2)
    said = [r.getMessage() for r in caplog.records if "refuses crc32 checksum" in r.getMessage()]
    assert said == ["the store refuses crc32 checksum headers (store profile b2): the setting wins"]
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_the_plan_follows_the_store_unless_told(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="s3stream.engine.choices")
    r2 = profile("r2")
    config, _ = for_store(UploadConfig(), r2)
    assert (config.max_parts, config.equal_parts) == (10_000, True)
    plan, _ = config.resolve(None)
    assert not plan.growing  # equal parts: a stream of unknown length keeps its part size
    told, _ = for_store(UploadConfig(equal_parts=False), r2)
    assert told.equal_parts is False and told.resolve(None)[0].growing
    assert any("needs parts of equal size" in r.getMessage() for r in caplog.records)
    generic, _ = for_store(UploadConfig(part_size=5 * MiB), profile("generic"))
    plan, _ = generic.resolve(6 * 1024 * MiB)
    assert plan.max_parts == 1_000 and plan.part_count is not None and plan.part_count <= 1_000


def test_no_clobber_is_refused_where_the_store_would_overwrite() -> None:
    for name in ("b2", "gcs", "generic", "ceph"):
        with pytest.raises(ConfigError) as info:
            for_store(UploadConfig(no_clobber=True), profile(name))
        assert "--no-clobber" in str(info.value) and "\n" not in str(info.value)
    for_store(UploadConfig(no_clobber=True), profile("aws"))


def test_results_say_what_was_verified_and_by_whom() -> None:
    memory = MemoryStore()
    uploader = S3StreamUploader(store=memory, journal=False)
    data = b"x" * (6 * MiB)
    multipart = uploader.upload_stream([data], "bucket", "m", part_size=5 * MiB)
    assert (multipart.parts, multipart.verified, multipart.verified_by) == (
        2,
        "full-object",
        "store",
    )
    single = uploader.upload_stream([b"small"], "bucket", "s")
    assert (single.verified, single.verified_by) == ("full-object", "store")
    checked = uploader.upload_stream([data], "bucket", "v", part_size=5 * MiB, verify=True)
    assert (checked.verified, checked.verified_by) == ("read-back", "s3stream")
    sha = uploader.upload_stream([data], "bucket", "sha", part_size=5 * MiB, checksum="sha256")
    assert (sha.verified, sha.checksum_type) == ("parts", "COMPOSITE")
    assert sha.checksum is not None and sha.checksum.endswith("-2")
    with pytest.raises(ConfigError, match="verify compares checksums"):
        uploader.upload_stream([data], "bucket", "n", checksum="none", verify=True)


class Corrupting(MemoryStore):
    """Reads every object back with its first byte wrong (what a read-back must catch)."""

    def iter_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        for number, block in enumerate(super().iter_chunks(bucket, key)):
            yield b"!" + block[1:] if number == 0 else block


def test_a_read_back_that_differs_deletes_the_object_and_fails() -> None:
    store = Corrupting()
    uploader = S3StreamUploader(store=store, journal=False)
    with pytest.raises(
        UploadFailed, match="read back: part 1 of s3://bucket/k has crc64nvme"
    ) as info:
        uploader.upload_stream([b"y" * (6 * MiB)], "bucket", "k", part_size=5 * MiB, verify=True)
    assert ("bucket", "k") not in store.objects
    notes = getattr(info.value.__cause__, "__notes__", [])
    assert "s3://bucket/k was deleted: upload it again" in notes
