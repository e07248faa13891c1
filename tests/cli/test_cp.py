"""``s3stream cp`` against the embedded store, run as a real subprocess."""

from __future__ import annotations

import datetime as dt
import os
import pty
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from tests.support.cli import (
    CLI,
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

PRODUCER = """
import random, sys, time
size, pause = int(sys.argv[1]), float(sys.argv[2])
data = random.Random(7).randbytes(size)
out = sys.stdout.buffer
for i in range(0, size, 700_001):
    out.write(data[i : i + 700_001])
    out.flush()
time.sleep(pause)
"""


def produced(size: int) -> bytes:
    return random.Random(7).randbytes(size)


def producer(size: int, pause: float = 0.0) -> subprocess.Popen[bytes]:
    """A separate process writing ``size`` bytes to a pipe, then keeping it open ``pause`` s."""
    return subprocess.Popen(
        [sys.executable, "-c", PRODUCER, str(size), str(pause)], stdout=subprocess.PIPE
    )


def crc64(data: bytes) -> str:
    found = digest(ChecksumAlgorithm.CRC64NVME, data)
    assert found is not None
    return encode(ChecksumAlgorithm.CRC64NVME, found)


def test_file_to_prefix_is_byte_identical(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    data = os.urandom(12 * MiB + 123)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    args = ["cp", str(path), f"s3://{bucket}/{unique_key}/", "--part-size", "5MiB"]
    args += ["--metadata", "origin=cli-test", "--metadata", "camera=2"]
    done = run_cli(args, cli_env(tmp_path, s3server))
    assert done.returncode == 0, done.stderr
    key = f"{unique_key}/clip.mp4"
    assert fetch(s3client, bucket, key) == data
    head = s3client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentType"] == "video/mp4"
    assert head["Metadata"] == {"origin": "cli-test", "camera": "2"}
    assert head["ChecksumCRC64NVME"] == crc64(data)
    summary = done.stdout.splitlines()
    assert len(summary) == 1 and f"s3://{bucket}/{key}" in summary[0] and "3 parts" in summary[0]
    assert "\x1b[" not in done.stderr  # no terminal: no bar, no escape codes
    assert not uploads_for(s3client, bucket, key)


def test_stdin_of_unknown_length_from_a_pipe(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    size = 11 * MiB + 5
    feeder = producer(size)
    key = f"{unique_key}.mp4"
    try:
        done = run_cli(
            ["cp", "-", f"s3://{bucket}/{key}", "--part-size", "5MiB", "--json"],
            cli_env(tmp_path, s3server),
            stdin=feeder.stdout,
        )
    finally:
        feeder.wait()
    assert done.returncode == 0, done.stderr
    assert fetch(s3client, bucket, key) == produced(size)
    completed = events(done.stdout)[-1]
    assert completed["event"] == "completed"
    assert completed["parts"] == 3 and completed["size"] == size
    assert completed["upload_id"]
    head = s3client.head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "video/mp4"  # guessed from the key for a stream


def test_json_events(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    data = os.urandom(16 * MiB)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    args = ["cp", str(path), f"s3://{bucket}/{unique_key}", "--json"]
    args += ["--part-size", "5MiB", "--concurrency", "2"]
    done = run_cli(args, cli_env(tmp_path, s3server))
    assert done.returncode == 0, done.stderr
    found = events(done.stdout)
    for event in found:
        assert {"event", "ts", "upload_id", "bytes_sent", "total"} <= set(event)
        assert dt.datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).tzinfo is not None
    started, completed = found[0], found[-1]
    assert started["event"] == "started" and completed["event"] == "completed"
    assert [e["event"] for e in found].count("started") == 1
    assert started["total"] == len(data) and started["parts_total"] == 4
    assert started["part_size"] == 5 * MiB and started["concurrency"] == 2
    sent = [e["bytes_sent"] for e in found]
    assert sent == sorted(sent) and sent[-1] == len(data)
    progress = [e for e in found if e["event"] == "progress"]
    assert progress and progress[-1]["percent"] == 100
    parts = [e["parts_done"] for e in found if e["event"] == "part_done"]
    assert parts == list(range(1, completed["parts"] + 1)) and completed["parts"] == 4
    assert completed["bucket"] == bucket and completed["key"] == unique_key
    assert completed["size"] == len(data) and completed["upload_id"]
    assert completed["checksum_algorithm"] == "crc64nvme"
    assert completed["checksum"] == crc64(data)
    assert completed["etag"] and completed["duration"] > 0
    assert done.stderr == ""


def test_small_stdin_is_one_put_without_upload_id(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    done = run_cli(
        ["cp", "-", f"s3://{bucket}/{unique_key}", "--json", "--checksum", "crc32c"],
        cli_env(tmp_path, s3server),
        input=b"hello, stream",
    )
    assert done.returncode == 0, done.stderr
    completed = events(done.stdout)[-1]
    assert completed["event"] == "completed"
    assert completed["parts"] == 1 and completed["upload_id"] is None
    assert completed["checksum_algorithm"] == "crc32c"
    assert fetch(s3client, bucket, unique_key) == b"hello, stream"


def test_named_pipe_is_read_as_a_stream(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = os.urandom(3 * MiB)

    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    done = run_cli(["cp", str(fifo), f"s3://{bucket}/{unique_key}"], cli_env(tmp_path, s3server))
    writer.join(10)
    assert done.returncode == 0, done.stderr
    assert fetch(s3client, bucket, unique_key) == data


@pytest.mark.parametrize("size", [1000, 11 * MiB], ids=["put", "multipart"])
def test_no_clobber_keeps_the_existing_object(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    size: int,
) -> None:
    s3client.put_object(Bucket=bucket, Key=unique_key, Body=b"original")
    path = tmp_path / "new.bin"
    path.write_bytes(os.urandom(size))
    args = ["cp", str(path), f"s3://{bucket}/{unique_key}", "--no-clobber", "--json"]
    done = run_cli([*args, "--part-size", "5MiB"], cli_env(tmp_path, s3server))
    assert done.returncode == 1
    assert "already exists" in error_line(done.stderr)
    failed = events(done.stdout)[-1]
    assert failed["event"] == "failed" and failed["exit_code"] == 1
    assert "already exists" in failed["error"]
    assert fetch(s3client, bucket, unique_key) == b"original"
    assert not uploads_for(s3client, bucket, unique_key)


def test_config_precedence_flags_env_file(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    config = tmp_path / "xdg-config" / "s3stream" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('concurrency = 3\npart-size = "6MiB"\nchecksum = "crc32"\n')
    env = cli_env(tmp_path, s3server, S3STREAM_CONCURRENCY="2", S3STREAM_PART_SIZE="9MiB")
    path = tmp_path / "small.bin"
    path.write_bytes(b"x" * 1000)
    args = ["cp", str(path), f"s3://{bucket}/{unique_key}", "--json", "--part-size", "7MiB"]
    done = run_cli(args, env)
    assert done.returncode == 0, done.stderr
    started = events(done.stdout)[0]
    assert started["part_size"] == 7 * MiB  # flag over env over file
    assert started["concurrency"] == 2  # env over file
    assert started["checksum_algorithm"] == "crc32"  # file over default


def test_missing_credentials_is_a_usage_error(
    s3server: EmbeddedS3, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, s3server)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    done = run_cli(["cp", "-", f"s3://{bucket}/{unique_key}"], env, input=b"data")
    assert done.returncode == 2
    line = error_line(done.stderr)
    assert "no AWS credentials found" in line and "s3stream dev" in line


def test_terminal_shows_a_progress_bar(
    s3server: EmbeddedS3, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(12 * MiB))
    env = cli_env(tmp_path, s3server, TERM="xterm-256color")
    leader, follower = pty.openpty()
    args = ["cp", str(path), f"s3://{bucket}/{unique_key}", "--part-size", "5MiB"]
    proc = subprocess.Popen(
        [*CLI, *args], env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert proc.wait(30) == 0
    text = output.decode(errors="replace")
    assert "━" in text and "100%" in text and "12.0 MiB" in text
    assert f"uploaded {path} to s3://{bucket}/{unique_key}" in text


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["sigint", "sigterm"],
)
def test_signal_during_stdin_upload_aborts(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    signum: int,
    code: int,
    word: str,
) -> None:
    feeder = producer(12 * MiB, pause=60)  # then the stream stays open: the upload waits
    args = ["cp", "-", f"s3://{bucket}/{unique_key}", "--part-size", "5MiB", "--json"]
    running = Running(args, cli_env(tmp_path, s3server), stdin=feeder.stdout)
    try:
        running.wait_event("part_done")
        wait_until(lambda: bool(uploads_for(s3client, bucket, unique_key)))
        running.proc.send_signal(signum)
        assert running.finish() == code
    finally:
        running.kill()
        feeder.kill()
        feeder.wait()
    assert word in error_line("\n".join(running.stderr))
    failed = events("\n".join(running.stdout))[-1]
    assert failed["event"] == "failed" and failed["exit_code"] == code
    assert not uploads_for(s3client, bucket, unique_key)
    assert key_absent(s3client, bucket, unique_key)
