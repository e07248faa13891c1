"""``s3stream cp --follow`` on real recordings: Debian's ffmpeg records from lavfi sources
(video and audio) while the CLI uploads the file, and the muxers rewrite their headers when
they finish (MP4's ``mdat`` size, Matroska's and WebM's segment size, seek head and cues)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
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
    uploads_for,
    wait_until,
)

FFMPEG = shutil.which("ffmpeg")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is missing: run scripts/setup.sh"),
]

SINE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
RECORDINGS = {
    # 9-11 MB in 3 s each: two or three 5 MiB parts, the first sent long before the end
    "mp4": [
        *("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", *SINE),
        *("-c:v", "mjpeg", "-q:v", "1", "-c:a", "aac"),
    ],
    "mkv": [
        *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", *SINE),
        *("-c:v", "rawvideo", "-c:a", "pcm_s16le"),
    ],
    "webm": [
        *("-f", "lavfi", "-i", "testsrc2=size=480x270:rate=30,noise=alls=60:allf=t", *SINE),
        *("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"),
        *("-b:v", "25M", "-minrate", "25M", "-maxrate", "25M", "-bufsize", "5M"),
        *("-c:a", "libopus"),
    ],
}


def record(path: Path, kind: str, seconds: float) -> subprocess.Popen[bytes]:
    """ffmpeg recording ``seconds`` of lavfi video and audio into ``path`` in real time."""
    assert FFMPEG is not None
    return subprocess.Popen(
        [
            FFMPEG,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-re",
            *RECORDINGS[kind],
            "-t",
            str(seconds),
            str(path),
        ],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def follow(path: Path, url: str, env: dict[str, str], idle: str) -> Running:
    args = ["cp", "--follow", str(path), url, "--idle", idle, "--part-size", "5MiB", "--json"]
    return Running(args, env)


@pytest.mark.parametrize("kind", sorted(RECORDINGS))
def test_a_recording_uploaded_while_it_records_is_the_finished_file(
    kind: str,
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / f"rec.{kind}"
    path.write_bytes(b"")  # followed from its first byte: ffmpeg truncates and writes it
    running = follow(path, f"s3://{bucket}/{unique_key}", cli_env(tmp_path, s3server), "60")
    try:
        running.wait_event("started")
        recorder = record(path, kind, seconds=3)
        try:
            _, stderr = recorder.communicate(timeout=60)
            assert recorder.returncode == 0, stderr
            # the recording is finished: complete now (a muxer may hold its first cluster
            # for seconds, so no idle time can tell a slow start from an end)
            running.proc.send_signal(signal.SIGINT)
            assert running.finish(60) == 0, running.stderr
        finally:
            recorder.kill()
    finally:
        running.kill()
    finished = path.read_bytes()
    assert len(finished) > 6 * MiB  # two parts or more: the first went out long before the end
    assert fetch(s3client, bucket, unique_key) == finished
    found = events("\n".join(running.stdout))
    completed = found[-1]
    assert completed["event"] == "completed" and completed["size"] == len(finished)
    sent = sum(1 for e in found if e["event"] == "part_done")
    assert sent > completed["parts"]  # the muxer rewrote a sent part, which went out again
    assert not uploads_for(s3client, bucket, unique_key)


def test_a_recording_truncated_afterwards_completes_nothing(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "rec.mp4"
    recorder = record(path, "mp4", seconds=2)
    try:
        wait_until(path.exists, timeout=10)
        running = follow(path, f"s3://{bucket}/{unique_key}", cli_env(tmp_path, s3server), "30")
        try:
            running.wait_event("part_done", timeout=30)
            _, stderr = recorder.communicate(timeout=60)
            assert recorder.returncode == 0, stderr
            time.sleep(0.5)  # the follower has read the finished file
            os.truncate(path, MiB)
            assert running.finish(30) == 1
        finally:
            running.kill()
    finally:
        recorder.kill()
    line = error_line("\n".join(running.stderr))
    assert "shrank" in line and "nothing was completed" in line
    failed = events("\n".join(running.stdout))[-1]
    assert failed["event"] == "failed" and failed["exit_code"] == 1
    assert not uploads_for(s3client, bucket, unique_key)
    assert key_absent(s3client, bucket, unique_key)
