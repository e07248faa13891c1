"""``s3stream cp --follow``: a file that is still being written, as a subprocess."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from tests.support.cli import (
    Running,
    cli_env,
    error_line,
    events,
    fetch,
    key_absent,
    run_cli,
    uploads_for,
    wait_until,
)
from tests.support.faultproxy import Fault, FaultProxy, RequestInfo


class Writer:
    """Appends random chunks to a file from a thread, like a recorder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = bytearray()
        path.write_bytes(b"")

    def append(self, size: int) -> None:
        chunk = os.urandom(size)
        with open(self.path, "ab") as f:
            f.write(chunk)
        self.written += chunk

    def in_background(self, chunks: int, size: int, pause: float) -> threading.Thread:
        def run() -> None:
            for _ in range(chunks):
                self.append(size)
                time.sleep(pause)

        thread = threading.Thread(target=run)
        thread.start()
        return thread


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    yield Writer(tmp_path / "recording.webm")


@pytest.mark.slow
def test_follow_a_growing_file_until_idle(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    writer: Writer,
) -> None:
    thread = writer.in_background(chunks=12, size=MiB, pause=0.15)
    args = ["cp", "--follow", str(writer.path), f"s3://{bucket}/{unique_key}/"]
    args += ["--idle", "1", "--part-size", "5MiB", "--json"]
    started = time.monotonic()
    done = run_cli(args, cli_env(tmp_path, s3server))
    thread.join()
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 1.8 + 1  # it waited for the writer, then idled
    key = f"{unique_key}/recording.webm"
    assert fetch(s3client, bucket, key) == bytes(writer.written)
    found = events(done.stdout)
    completed = found[-1]
    assert completed["event"] == "completed" and completed["parts"] == 3
    assert completed["size"] == 12 * MiB
    part_done = [e for e in found if e["event"] == "part_done"]
    assert len(part_done) == 3 and part_done[-1]["upload_id"] == completed["upload_id"]
    head = s3client.head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "video/webm"


def test_truncated_file_aborts(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    writer: Writer,
) -> None:
    writer.append(11 * MiB)
    args = ["cp", "--follow", str(writer.path), f"s3://{bucket}/{unique_key}"]
    args += ["--idle", "60", "--part-size", "5MiB", "--json"]
    running = Running(args, cli_env(tmp_path, s3server))
    try:
        event = running.wait_event("part_done")
        assert event["upload_id"]  # follow mode knows the multipart upload as it starts
        os.truncate(writer.path, MiB)
        assert running.finish() == 1
    finally:
        running.kill()
    assert "shrank" in error_line("\n".join(running.stderr))
    failed = events("\n".join(running.stdout))[-1]
    assert failed["event"] == "failed" and failed["exit_code"] == 1
    assert not uploads_for(s3client, bucket, unique_key)
    assert key_absent(s3client, bucket, unique_key)


def test_first_ctrl_c_completes_what_is_there(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    writer: Writer,
) -> None:
    writer.append(7 * MiB)
    args = ["cp", "--follow", str(writer.path), f"s3://{bucket}/{unique_key}"]
    args += ["--idle", "60", "--part-size", "5MiB", "--json"]
    running = Running(args, cli_env(tmp_path, s3server))
    try:
        running.wait_event("part_done")
        running.proc.send_signal(signal.SIGINT)
        assert running.finish() == 0
    finally:
        running.kill()
    assert fetch(s3client, bucket, unique_key) == bytes(writer.written)
    assert events("\n".join(running.stdout))[-1]["event"] == "completed"


@pytest.mark.slow
def test_second_ctrl_c_aborts(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    writer: Writer,
) -> None:
    def stall_completion(request: RequestInfo) -> Fault | None:
        completing = request.method == "POST" and "uploadId=" in request.path
        return Fault.stall(4.0) if completing else None

    writer.append(7 * MiB)
    with FaultProxy(s3server.endpoint_url, stall_completion) as proxy:
        args = ["cp", "--follow", str(writer.path), f"s3://{bucket}/{unique_key}"]
        args += ["--idle", "60", "--part-size", "5MiB", "--endpoint-url", proxy.url]
        running = Running(args, cli_env(tmp_path, s3server))
        try:
            running.wait_for(lambda name, line: "following" in line)
            wait_until(lambda: bool(uploads_for(s3client, bucket, unique_key)))
            running.proc.send_signal(signal.SIGINT)
            running.wait_for(lambda name, line: "finishing" in line)
            time.sleep(0.5)  # CompleteMultipartUpload is now stalled in the proxy
            running.proc.send_signal(signal.SIGINT)
            assert running.finish() == 130
        finally:
            running.kill()
        assert "interrupted" in running.stderr[-1]
        assert not uploads_for(s3client, bucket, unique_key)
        time.sleep(4.0)  # the stalled completion reaches the store: the upload is gone
        assert key_absent(s3client, bucket, unique_key)
