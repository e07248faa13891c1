"""The memory bound ``read_buffer + (concurrency + 1) x part_size``, measured on real uploads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3stream import S3StreamUploader
from s3stream.embedded import EmbeddedS3
from s3stream.engine.files import WINDOW
from s3stream.limits import MiB

pytestmark = pytest.mark.slow
TOTAL = 256 * MiB


def test_traced_allocations_stay_within_the_formula(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every Python allocation during a 256 MiB stream, against the formula (no part copies)."""
    part_size, concurrency, read_buffer = 5 * MiB, 2, 1 * MiB
    block = bytes(range(256)) * (read_buffer // 256)  # the source's own chunk, reused

    def source() -> Iterator[bytes]:
        for _ in range(TOTAL // read_buffer):
            yield block

    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    uploader = S3StreamUploader()
    # one small upload first: one-time costs (service model, endpoint rules, connection pool)
    # are not what the formula bounds
    uploader.upload_stream([block] * 11, bucket, f"{unique_key}-warmup", part_size=part_size)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        session = uploader.open_upload(
            bucket, unique_key, part_size=part_size, concurrency=concurrency
        )
        for chunk in source():
            session.write(chunk)
        result = session.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    formula = (concurrency + 1) * part_size  # read_buffer is the source's block, made before
    assert result.size == TOTAL and result.parts == TOTAL // part_size + 1
    assert session.peak_buffered_bytes <= formula
    # the part buffers plus at most 1 MiB of everything else (botocore, threads, bookkeeping)
    assert peak - before <= formula + 1 * MiB, f"peak {peak - before} > formula {formula}"
    head = s3client.head_object(Bucket=bucket, Key=unique_key)
    assert head["ContentLength"] == TOTAL


def test_a_file_upload_holds_a_window_per_part_in_flight(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parts of a file are read as they are sent: a 64 MiB file in 16 MiB parts, four in
    flight, allocates four windows and bookkeeping, not one part."""
    part_size, concurrency = 16 * MiB, 4
    path = tmp_path / "source.bin"
    with open(path, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(MiB))
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    uploader = S3StreamUploader()
    uploader.upload_stream([b"warm-up"], bucket, f"{unique_key}-warmup")  # one-time costs
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = uploader.upload_file(
            path, bucket, unique_key, part_size=part_size, concurrency=concurrency
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.parts == 4
    assert s3client.head_object(Bucket=bucket, Key=unique_key)["ContentLength"] == 64 * MiB
    windows = concurrency * WINDOW
    assert peak - before <= windows + 2 * MiB, f"peak {(peak - before) / MiB:.1f} MiB"


CHILD = textwrap.dedent(
    """
    import json, sys
    from s3stream import S3StreamUploader

    def rss(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        raise AssertionError(field)

    uploader = S3StreamUploader()
    before = rss("VmRSS:")
    result = uploader.upload_stream(
        sys.stdin.buffer, sys.argv[1], sys.argv[2], part_size=int(sys.argv[3]),
        concurrency=int(sys.argv[4]),
    )
    print(json.dumps({"before": before, "peak": rss("VmHWM:"), "size": result.size}))
    """
)


def test_process_memory_of_a_piped_stream_stays_flat(
    s3server: EmbeddedS3, bucket: str, unique_key: str
) -> None:
    """RSS of a real child process reading 256 MiB from a pipe grows by the formula, not the
    stream: the peak minus the RSS before the upload is compared with the formula."""
    part_size, concurrency = 8 * MiB, 4
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, bucket, unique_key, str(part_size), str(concurrency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**s3server.env(), "PATH": "/usr/bin:/bin"},
    )
    assert child.stdin is not None
    block = bytes(range(256)) * 4096
    for _ in range(TOTAL // len(block)):
        child.stdin.write(block)
    child.stdin.close()
    assert child.stdout is not None
    out = child.stdout.read()
    assert child.wait(timeout=300) == 0
    report = json.loads(out)
    growth = report["peak"] - report["before"]
    formula = (concurrency + 1) * part_size  # readinto: no read buffer beyond the parts
    print(f"RSS growth {growth / MiB:.1f} MiB for a 256 MiB stream, formula {formula / MiB} MiB")
    assert report["size"] == TOTAL
    # allow 16 MiB for thread stacks, sockets and allocator slack; the stream is 256 MiB
    assert growth <= formula + 16 * MiB, f"RSS grew {growth / MiB:.1f} MiB, formula {formula / MiB}"
