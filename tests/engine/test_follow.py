"""Follow mode and re-read parts, against the in-memory store with a clock that only moves
when the engine sleeps (each sleep is a step of the scenario): no real waiting."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from s3stream import ConfigError, SourceError, UploadConfig
from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.engine.follow import FollowWriter
from s3stream.engine.rewrites import changed_parts
from s3stream.limits import MiB
from s3stream.store.memory import MemoryStore
from s3stream.store.types import PartRecord

PART = 5 * MiB
CRC = ChecksumAlgorithm.CRC64NVME


def test_changed_parts_finds_the_parts_whose_bytes_moved(tmp_path: Path) -> None:
    data = bytearray(os.urandom(3 * PART - 7))
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    offsets = {n: (n - 1) * PART for n in (1, 2, 3)}
    parts = []
    for n, offset in offsets.items():
        chunk = data[offset : offset + PART]
        found = digest(CRC, chunk)
        assert found is not None
        parts.append(PartRecord(n, len(chunk), "e", encode(CRC, found)))
    window = bytearray(MiB)
    fd = os.open(path, os.O_RDWR)
    try:
        assert changed_parts(fd, parts, offsets, CRC, window) == []
        os.pwrite(fd, b"\x00\x01", PART + 3 * MiB)
        assert changed_parts(fd, parts, offsets, CRC, window) == [parts[1]]
        os.truncate(fd, 2 * PART + 10)
        with pytest.raises(SourceError, match="truncated"):
            changed_parts(fd, parts, offsets, CRC, window)
    finally:
        os.close(fd)


class Scenario:
    """A fake clock; ``steps`` maps a time to what the recorder does then."""

    def __init__(self, steps: dict[float, Callable[[], object]]) -> None:
        self.now = 0.0
        self.steps = dict(sorted(steps.items()))

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for at in [t for t in self.steps if t <= self.now]:
            self.steps.pop(at)()


def follow_writer(store: MemoryStore, scenario: Scenario, **options: object) -> FollowWriter:
    config = UploadConfig().with_options(**{"part_size": PART, "concurrency": 2, **options})
    return FollowWriter(store, "b", "k", config, sleep=scenario.sleep, clock=scenario.clock)


def test_a_part_rewritten_during_a_pause_is_sent_again_before_completion(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rec.mp4"
    path.write_bytes(os.urandom(11 * MiB))
    store = MemoryStore()
    sent_by_idle: list[int] = []

    def rewrite_header() -> None:  # the muxer goes back to part 1
        with open(path, "r+b") as f:
            f.seek(36)
            f.write(b"\xff\xff\xff\xff")

    scenario = Scenario(
        {
            0.2: rewrite_header,
            2.8: lambda: sent_by_idle.append(store.calls.count("UploadPart")),
        }
    )
    fd = os.open(path, os.O_RDONLY)
    try:
        result = follow_writer(store, scenario).follow(fd, path, idle=3.0)
    finally:
        os.close(fd)
    assert store.data("b", "k") == path.read_bytes()
    # by the idle check (a second into the pause) parts 1 and 2 had gone out and part 1
    # again; part 3 (what the buffer held) went out at completion
    assert sent_by_idle == [3]
    assert store.calls.count("UploadPart") == 4 and result.parts == 3


def test_a_single_part_recording_is_read_again_before_its_put(tmp_path: Path) -> None:
    path = tmp_path / "rec.webm"
    path.write_bytes(os.urandom(3 * MiB))

    def rewrite_header() -> None:
        with open(path, "r+b") as f:
            f.write(b"header written at the end")

    store = MemoryStore()
    scenario = Scenario({0.4: rewrite_header})
    fd = os.open(path, os.O_RDONLY)
    try:
        follow_writer(store, scenario).follow(fd, path, idle=1.0)
    finally:
        os.close(fd)
    assert store.calls == ["PutObject"]
    assert store.data("b", "k") == path.read_bytes()


@pytest.mark.parametrize(
    ("act", "message"),
    [
        (lambda p: p.unlink(), "was deleted or moved away while it was followed"),
        (
            lambda p: (p.with_suffix(".new").write_bytes(b"x"), p.with_suffix(".new").replace(p)),
            "was replaced by another file while it was followed",
        ),
        (lambda p: os.truncate(p, MiB), "shrank from"),
    ],
    ids=["deleted", "replaced", "truncated"],
)
def test_a_followed_file_that_goes_away_completes_nothing(
    tmp_path: Path, act: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "rec.mkv"
    path.write_bytes(os.urandom(7 * MiB))
    store = MemoryStore()
    scenario = Scenario({0.4: lambda: act(path)})
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(SourceError, match=message):
            follow_writer(store, scenario).follow(fd, path, idle=5.0)
    finally:
        os.close(fd)
    assert "CreateMultipartUpload" in store.calls  # the upload had begun: it was aborted
    assert store.uploads == {} and store.objects == {}


def test_follow_mode_needs_part_checksums(tmp_path: Path) -> None:
    path = tmp_path / "rec.mp4"
    path.write_bytes(b"x")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(ConfigError, match="choose a checksum other than none"):
            follow_writer(MemoryStore(), Scenario({}), checksum="none").follow(fd, path, idle=1)
    finally:
        os.close(fd)
