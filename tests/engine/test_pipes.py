"""A pipe being uploaded gets a larger kernel buffer; other sources are left alone."""

from __future__ import annotations

import fcntl
import io
import os
import sys
import threading
from pathlib import Path

import pytest

from s3stream import S3StreamUploader
from s3stream.engine.pipes import PIPE_SIZE, enlarge_pipe
from s3stream.limits import MiB
from s3stream.store.memory import MemoryStore

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ")


def pipe_size(fd: int) -> int:
    size: int = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    return size


def test_a_pipe_is_enlarged_and_never_shrunk() -> None:
    r, w = os.pipe()
    with open(r, "rb", buffering=0) as reader, open(w, "wb", buffering=0) as writer:
        assert pipe_size(r) < PIPE_SIZE
        assert enlarge_pipe(reader) == PIPE_SIZE == pipe_size(w)
        assert enlarge_pipe(reader, size=64 * 1024) == PIPE_SIZE  # asked smaller: kept
        writer.write(b"still a pipe")
        assert reader.read(100) == b"still a pipe"


def test_files_and_buffers_are_not_pipes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with path.open("rb") as file:
        assert enlarge_pipe(file) is None
    assert enlarge_pipe(io.BytesIO(b"x")) is None
    assert enlarge_pipe([b"chunks"]) is None


def test_an_uploaded_pipe_is_read_through_the_larger_buffer() -> None:
    data = os.urandom(12 * MiB + 5)
    r, w = os.pipe()
    sizes: list[int] = []

    def produce() -> None:
        with open(w, "wb", buffering=0) as writer:
            writer.write(data[: 6 * MiB])
            sizes.append(pipe_size(w))  # the uploader is reading by now
            writer.write(data[6 * MiB :])

    producer = threading.Thread(target=produce)
    producer.start()
    store = MemoryStore()
    with open(r, "rb", buffering=0) as reader:
        S3StreamUploader(store=store).upload_stream(reader, "bucket", "k", part_size=5 * MiB)
    producer.join()
    assert sizes == [PIPE_SIZE]
    assert store.data("bucket", "k") == data
