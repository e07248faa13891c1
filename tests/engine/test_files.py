"""File parts read through a small window: the reader, and the engine using it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3stream import S3StreamUploader
from s3stream.engine.buffers import BufferPool
from s3stream.engine.files import WINDOW, FileRange
from s3stream.errors import SourceError
from s3stream.limits import MiB
from s3stream.store.memory import MemoryStore


def _file(tmp_path: Path, data: bytes) -> int:
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return os.open(path, os.O_RDONLY)


def test_a_range_is_read_through_its_window_as_often_as_asked(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    fd = _file(tmp_path, data)
    try:
        source = FileRange(fd, 1_000, 7_000, bytearray(3_000))
        for attempt in range(2):  # checksum pass and send, or a retried request
            got = bytearray()
            while len(got) < source.size:
                view = source.wait_view(len(got), 5_000)
                assert len(view) <= 3_000  # never more than the window
                got += view
            assert bytes(got) == data[1_000:8_000], attempt
        assert bytes(source.wait_view(6_500, 100)) == data[7_500:7_600]
    finally:
        os.close(fd)


def test_a_file_that_shrank_is_a_source_error(tmp_path: Path) -> None:
    fd = _file(tmp_path, os.urandom(4_000))
    try:
        source = FileRange(fd, 0, 6_000, bytearray(8_192))
        with pytest.raises(SourceError, match="truncated"):
            source.wait_view(0, 6_000)
    finally:
        os.close(fd)


def test_file_parts_go_up_from_windows_not_part_buffers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every part of a multipart file reaches the store as a source read from the file,
    the upload's pool holding one window per part in flight."""
    part = 5 * MiB
    data = os.urandom(3 * part + 123)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    store = MemoryStore()
    bodies: list[type] = []
    original = store.upload_part

    def recorded(*args: object, **kwargs: object) -> object:
        bodies.append(type(args[4]))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "upload_part", recorded)
    lent: list[int] = []
    acquire = BufferPool.acquire

    def counted(pool: BufferPool, size: int, timeout: float | None = None) -> bytearray | None:
        lent.append(size)
        return acquire(pool, size, timeout)

    monkeypatch.setattr(BufferPool, "acquire", counted)
    result = S3StreamUploader(store=store).upload_file(
        path, "bucket", "key", part_size=part, concurrency=2
    )
    assert store.data("bucket", "key") == data and result.parts == 4
    assert bodies == [FileRange] * 4
    assert lent and max(lent) == WINDOW  # a window per part, never a part


def test_a_file_truncated_during_its_upload_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file shrinks once parts are going up: a SourceError naming it (not retried as a
    store failure), and nothing left in the store."""
    part = 5 * MiB
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(3 * part))
    store = MemoryStore()
    original = store.create_multipart_upload

    def shrink(*args: object, **kwargs: object) -> str:
        os.truncate(path, part + WINDOW)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "create_multipart_upload", shrink)
    with pytest.raises(SourceError, match="truncated"):
        S3StreamUploader(store=store).upload_file(
            path, "bucket", "key", part_size=part, concurrency=1
        )
    assert store.uploads == {} and store.objects == {}
