"""Pause, resume and orphans against the real store."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from s3stream import (
    ConfigError,
    ResumeInfo,
    S3StreamUploader,
    SourceError,
    UploadControl,
    UploadFailed,
)
from s3stream.embedded import EmbeddedS3
from s3stream.engine.progress import Progress
from s3stream.limits import MiB
from tests.support.cli import settled_parts

PART = 5 * MiB


@pytest.fixture
def uploader(s3server: EmbeddedS3, monkeypatch: pytest.MonkeyPatch) -> S3StreamUploader:
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    return S3StreamUploader()


def fetch(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def uploads_of(client: Any, bucket: str, key: str) -> list[str]:
    listed = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return [u["UploadId"] for u in listed]


def pause_file_upload(
    uploader: S3StreamUploader, path: Path, bucket: str, key: str, concurrency: int
) -> ResumeInfo:
    """Start upload_file in a thread and pause it once two parts are done."""
    control = UploadControl()
    two_parts = threading.Event()

    def on_progress(event: Progress) -> None:
        if event.parts_done >= 2:
            two_parts.set()

    thread = threading.Thread(
        target=lambda: uploader.upload_file(
            path,
            bucket,
            key,
            part_size=PART,
            concurrency=concurrency,
            control=control,
            on_progress=on_progress,
        ),
        daemon=True,
    )
    thread.start()
    assert two_parts.wait(30)
    return control.pause(timeout=10)


def test_push_session_pause_and_resume_in_process(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    data = os.urandom(7 * PART + 99)
    session = uploader.open_upload(bucket, unique_key, part_size=PART, concurrency=2)
    session.write(data[: 3 * PART + 10])
    info = session.pause()
    assert info.upload_id == session.upload_id
    assert {p.number for p in info.parts} == {1, 2, 3}  # in-flight parts finished
    assert ResumeInfo.from_json(info.to_json()) == info
    journal = uploader.journal
    assert journal is not None
    entry = journal.get(info.upload_id)
    assert entry is not None and entry.state == "paused"

    # while paused, writes fill the budget and then wait; nothing new goes out
    writer = threading.Thread(target=session.write, args=(data[3 * PART + 10 :],))
    writer.start()
    writer.join(0.5)
    assert writer.is_alive()
    listed = s3client.list_parts(Bucket=bucket, Key=unique_key, UploadId=info.upload_id)
    assert len(listed["Parts"]) == 3
    session.resume()
    writer.join(30)
    result = session.finish()
    assert fetch(s3client, bucket, unique_key) == data
    assert result.parts == 8
    entry = journal.get(info.upload_id)
    assert entry is not None and entry.state == "completed"


def test_a_stream_resumes_elsewhere_from_the_offset_it_names(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    data = os.urandom(6 * PART + 1234)
    session = uploader.open_upload(bucket, unique_key, part_size=PART, concurrency=2)
    session.write(data[: 4 * PART + 77])
    info = ResumeInfo.from_json(session.pause().to_json())  # e.g. saved to disk, then lost
    assert info.resume_offset == 4 * PART
    with pytest.raises(SourceError, match=f"replays from byte {4 * PART}"):
        uploader.resume(info)  # no source: a stream cannot be re-read
    result = uploader.resume(info, io.BytesIO(data[info.resume_offset :]))
    assert fetch(s3client, bucket, unique_key) == data
    assert result.reused_bytes == 4 * PART and result.size == len(data)
    assert uploads_of(s3client, bucket, unique_key) == []


def test_file_upload_paused_by_control_then_resumed_from_the_journal(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    data = os.urandom(12 * PART)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    info = pause_file_upload(uploader, path, bucket, unique_key, concurrency=2)
    assert 2 <= len(info.parts) < 12
    # the paused uploader is abandoned (as if its process died); another one resumes it
    other = S3StreamUploader()
    result = other.resume(info.upload_id[:12])
    assert fetch(s3client, bucket, unique_key) == data
    assert result.reused_bytes == sum(p.size for p in info.parts)
    assert uploads_of(s3client, bucket, unique_key) == []


def test_resume_after_a_failure_that_kept_the_parts(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    data = os.urandom(6 * PART + 5)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    uploader = S3StreamUploader()
    store_type = type(uploader.store)
    original = store_type.upload_part
    sent = [0]

    def deny_fifth_part(store: Any, *args: Any, **kwargs: Any) -> Any:
        if args[3] == 5:
            raise RuntimeError("simulated crash in the middle of part 5")
        sent[0] += 1
        return original(store, *args, **kwargs)

    monkeypatch.setattr(store_type, "upload_part", deny_fifth_part)
    with pytest.raises(UploadFailed) as info:
        uploader.upload_file(
            path, bucket, unique_key, part_size=PART, concurrency=1, leave_parts_on_error=True
        )
    upload_id = info.value.upload_id
    assert upload_id is not None and info.value.parts_left
    monkeypatch.setattr(store_type, "upload_part", original)
    result = uploader.resume(upload_id)
    assert fetch(s3client, bucket, unique_key) == data
    assert result.reused_bytes == 4 * PART


def test_resume_refuses_a_changed_file_and_completes_nothing(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    data = bytearray(os.urandom(6 * PART))
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    info = pause_file_upload(uploader, path, bucket, unique_key, concurrency=1)
    assert info.parts
    data[10] ^= 0xFF  # one byte of part 1 changes; size stays the same
    path.write_bytes(data)
    assert info.source is not None and info.source.mtime_ns is not None
    os.utime(path, ns=(info.source.mtime_ns, info.source.mtime_ns))  # same mtime: bytes decide
    with pytest.raises(
        SourceError, match="changed since upload .* started .*nothing was completed"
    ):
        S3StreamUploader().resume(info.upload_id)
    assert "Contents" not in s3client.list_objects_v2(Bucket=bucket, Prefix=unique_key)
    assert uploads_of(s3client, bucket, unique_key) == [info.upload_id]  # kept for a retry
    S3StreamUploader().abort_upload(bucket, unique_key, info.upload_id)
    assert uploads_of(s3client, bucket, unique_key) == []


def test_resume_of_an_upload_aborted_elsewhere_cleans_the_journal(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    session = uploader.open_upload(bucket, unique_key, part_size=PART)
    session.write(os.urandom(2 * PART + 1))
    info = session.pause()
    s3client.abort_multipart_upload(Bucket=bucket, Key=unique_key, UploadId=info.upload_id)
    with pytest.raises(UploadFailed, match="no longer on the server"):
        S3StreamUploader().resume(info.upload_id, io.BytesIO(b""))
    journal = uploader.journal
    assert journal is not None
    entry = journal.get(info.upload_id)
    assert entry is not None and entry.state == "aborted"
    with pytest.raises(ConfigError, match="already aborted"):
        S3StreamUploader().resume(info.upload_id)


def test_orphans_are_listed_and_collected(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    session = uploader.open_upload(bucket, f"{unique_key}/journaled", part_size=PART)
    session.write(os.urandom(2 * PART + 1))
    journaled = session.pause().upload_id
    stranger = s3client.create_multipart_upload(Bucket=bucket, Key=f"{unique_key}/stranger")
    found = uploader.list_incomplete(bucket, prefix=unique_key)
    assert {(u.upload_id, u.journaled) for u in found} == {
        (journaled, True),
        (stranger["UploadId"], False),
    }
    assert uploader.list_incomplete(bucket, unique_key, older_than=dt.timedelta(days=1)) == []
    collected = uploader.gc(bucket, older_than=dt.timedelta(0), prefix=unique_key)
    assert len(collected) == 2
    assert uploads_of(s3client, bucket, unique_key) == []
    journal = uploader.journal
    assert journal is not None
    entry = journal.get(journaled)
    assert entry is not None and entry.state == "aborted"


KILLED_CHILD = textwrap.dedent(
    """
    import sys
    from s3stream import S3StreamUploader
    S3StreamUploader().upload_file(
        sys.argv[1], sys.argv[2], sys.argv[3], part_size=int(sys.argv[4]),
        concurrency=int(sys.argv[5]),
        on_progress=lambda p: print(p.parts_done, flush=True), progress_interval=0,
    )
    """
)


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    state_dir: Path,
) -> None:
    """A process killed with SIGKILL mid-upload; a new process resumes from the journal."""
    import random

    part, concurrency = 5 * MiB, 3
    data = os.urandom(40 * part + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    env = {**s3server.env(), "S3STREAM_STATE_DIR": str(state_dir), "PATH": "/usr/bin:/bin"}
    rng = random.Random(4)
    for trial in range(3):
        key = f"{unique_key}-{trial}"
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                KILLED_CHILD,
                str(path),
                bucket,
                key,
                str(part),
                str(concurrency),
            ],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        stop_after = rng.randint(2, 30)
        for line in child.stdout:
            if int(line.split()[0]) >= stop_after:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        upload_id = uploads_of(s3client, bucket, key)[0]
        on_server = settled_parts(s3client, bucket, key, upload_id)
        acked = sum(p["Size"] for p in on_server.values())
        resumed = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, json; from s3stream import S3StreamUploader; "
                "r = S3StreamUploader().resume(sys.argv[1]); print(json.dumps(r.reused_bytes))",
                upload_id,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        reused = json.loads(resumed.stdout)
        assert fetch(s3client, bucket, key) == data, f"trial {trial}"
        assert reused == acked, f"trial {trial}: a part the server held was sent again"
        assert uploads_of(s3client, bucket, key) == []
