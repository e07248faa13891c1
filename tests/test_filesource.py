"""File parts streamed through a small window: the reader, and the engine using it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3stream import S3StreamUploader
from s3stream.chunked import CHUNK
from s3stream.errors import SourceError
from s3stream.filesource import FileRange
from s3stream.limits import MiB
from tests.fakes import MemoryStore


def _file(tmp_path: Path, data: bytes) -> int:
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    return fd


def test_a_range_is_read_through_its_window_and_again_on_a_retry(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    fd = _file(tmp_path, data)
    sent: list[int] = []
    try:
        source = FileRange(fd, 1_000, 7_000, bytearray(3_000), sent.append)
        for attempt in range(2):  # the second: a retried request starts over
            got = bytearray()
            while len(got) < source.size:
                view = source.wait_view(len(got), 5_000)
                assert len(view) <= 3_000  # never more than the window
                got += view
            assert bytes(got) == data[1_000:8_000], attempt
        assert sum(sent) == 7_000  # bytes are counted once, not once per attempt
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


@pytest.mark.parametrize("streams", [True, False])
def test_file_parts_stream_through_windows_when_the_store_allows(
    tmp_path: Path, streams: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that takes streamed parts gets every part of a file streamed, the upload
    holding a window per part in flight; one that needs signed payloads gets whole parts."""
    part = 5 * MiB
    data = os.urandom(3 * part + 123)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    store = MemoryStore(streams_parts=streams)
    seen: list[tuple[str, int]] = []
    original = store.upload_part_stream

    def counted(*args: object, **kwargs: object) -> object:
        seen.append(("stream", args[3]))  # type: ignore[arg-type]
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "upload_part_stream", counted)
    result = S3StreamUploader(store=store).upload_file(
        path, "bucket", "key", part_size=part, concurrency=2
    )
    assert store.data("bucket", "key") == data and result.parts == 4
    assert len(seen) == (4 if streams else 0)


@pytest.mark.parametrize("streams", [True, False])
def test_a_file_truncated_during_its_upload_fails_cleanly(
    tmp_path: Path, streams: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file shrinks once parts are going up: a SourceError naming it (not retried as a
    store failure), and nothing left in the store."""
    part = 5 * MiB
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(3 * part))
    store = MemoryStore(streams_parts=streams)
    original = store.create_multipart_upload

    def shrink(*args: object, **kwargs: object) -> str:
        os.truncate(path, part + CHUNK)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "create_multipart_upload", shrink)
    with pytest.raises(SourceError, match="truncated"):
        S3StreamUploader(store=store).upload_file(
            path, "bucket", "key", part_size=part, concurrency=1
        )
    assert store.uploads == {} and store.objects == {}
