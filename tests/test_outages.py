"""Outages: a store frozen (SIGSTOP), failing, or killed and restarted in the middle of an
upload. ``retry_for`` (``--retry-for``) rides them out; when one outlasts it, a file's parts
are kept and journaled for ``s3stream resume`` (exit 75) and a stream is aborted.

Every store that is frozen or killed here is a store of its own, never the session's.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from s3stream import (
    Journal,
    Progress,
    RetryPolicy,
    S3StreamUploader,
    UploadFailed,
    UploadInterrupted,
)
from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from tests.support.cli import Running, cli_env, error_line, events, fetch, run_cli, uploads_for
from tests.support.faultproxy import Fault, FaultProxy, RequestInfo

PART = 5 * MiB


@contextmanager
def frozen(store: EmbeddedS3) -> Iterator[None]:
    """The store's processes stopped (SIGSTOP): connections are accepted by the kernel and
    then nothing answers, as with a hung server or a dead network path."""
    assert store.pid is not None
    os.killpg(store.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(store.pid, signal.SIGCONT)


@pytest.fixture
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedS3]:
    """A store of the test's own; the library's AWS chain points at it."""
    with EmbeddedS3(data_dir=tmp_path / "store", buckets=("outage",)) as store:
        for name, value in store.env().items():
            monkeypatch.setenv(name, value)
        yield store


def journal_of(env: dict[str, str]) -> Journal:
    return Journal(Path(env["XDG_STATE_HOME"]) / "s3stream" / "journal.sqlite3")


# ================================================================== the CLI, store frozen


@pytest.mark.slow
def test_a_40s_freeze_mid_upload_is_ridden_out_with_retry_for(
    own_store: EmbeddedS3, tmp_path: Path
) -> None:
    """The headline outage: the store frozen for 40 s while `cp` sends a file. With 1 s
    timeouts each attempt fails within a second or two, so the 8 attempts of the plain
    policy (and at most 25.4 s of backoff between them) give up inside the freeze; with
    ``--retry-for 2m`` a part is tried a 9th time and more, and the upload completes."""
    data = os.urandom(8 * PART + 777)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    env = cli_env(tmp_path, own_store)
    args = ["-v", "cp", "--json", str(path), "s3://outage/big.bin", "--part-size", "5MiB"]
    args += ["--concurrency", "2", "--retry-for", "2m"]
    args += ["--cli-read-timeout", "1s", "--cli-connect-timeout", "1s"]
    running = Running(args, env)
    try:
        running.wait_event("part_done")
        with frozen(own_store):
            started = time.monotonic()
            time.sleep(40)
            assert running.proc.poll() is None  # still waiting for the store
        assert running.finish(120) == 0, running.stderr
        assert time.monotonic() - started >= 40
    finally:
        running.kill()
    check = own_store.client()
    assert fetch(check, "outage", "big.bin") == data
    assert events("\n".join(running.stdout))[-1]["event"] == "completed"
    retries = [int(m) for m in re.findall(r"; retry (\d+) in", "\n".join(running.stderr))]
    assert max(retries) >= 8, "no part needed more attempts than the plain policy's 8"
    assert uploads_for(check, "outage", "big.bin") == []


@pytest.mark.slow
def test_a_freeze_longer_than_retry_for_leaves_a_file_resumable(
    own_store: EmbeddedS3, tmp_path: Path
) -> None:
    data = os.urandom(8 * PART + 99)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    env = cli_env(tmp_path, own_store)
    args = ["cp", str(path), "s3://outage/big.bin", "--part-size", "5MiB", "--concurrency", "2"]
    args += ["--retry-for", "3s", "--cli-read-timeout", "1s", "--cli-connect-timeout", "1s"]
    args += ["--json"]
    running = Running(args, env)
    try:
        running.wait_event("part_done")
        with frozen(own_store):
            code = running.finish(60)
    finally:
        running.kill()
    assert code == 75, running.stderr
    line = error_line("\n".join(running.stderr))
    failed = events("\n".join(running.stdout))[-1]
    upload_id = failed["upload_id"]
    assert failed["event"] == "failed" and failed["exit_code"] == 75
    assert "was interrupted" in line and f"`s3stream resume {upload_id}`" in line
    journal = journal_of(env)
    try:
        entry = journal.get(upload_id)
    finally:
        journal.close()
    assert entry is not None and entry.state == "failed" and entry.info.parts  # kept, journaled
    check = own_store.client()
    assert [u["UploadId"] for u in uploads_for(check, "outage", "big.bin")] == [upload_id]

    resumed = run_cli(["resume", "--json", upload_id], env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    completed = events(resumed.stdout)[-1]
    assert completed["event"] == "completed" and completed["reused_bytes"] > 0
    assert fetch(check, "outage", "big.bin") == data
    assert uploads_for(check, "outage", "big.bin") == []


# ================================================================== the library, store killed


@pytest.mark.slow
def test_a_file_and_a_stream_ride_out_the_store_killed_and_restarted(
    own_store: EmbeddedS3, tmp_path: Path
) -> None:
    """Down for 8 s: every request is refused at once. A policy of 3 attempts alone gives up
    within a second; ``retry_for=60`` rides it out, and the stream's producer is held by
    back-pressure meanwhile (it does not run ahead of the buffer budget)."""
    concurrency = 2
    options: dict[str, Any] = {
        "part_size": PART,
        "concurrency": concurrency,
        "retry": RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=1.0),
        "retry_for": 60,
    }
    uploader = S3StreamUploader(
        endpoint_url=own_store.endpoint_url, read_timeout=5, journal=tmp_path / "journal"
    )
    client = own_store.client()
    file_data = os.urandom(12 * PART + 3)
    stream_data = os.urandom(12 * PART + 5)
    path = tmp_path / "file.bin"
    path.write_bytes(file_data)
    produced = [0]
    results: dict[str, Any] = {}
    session = uploader.open_upload("outage", "stream.bin", **options)
    progressed = threading.Event()

    def produce() -> None:
        try:
            for start in range(0, len(stream_data), MiB):
                session.write(stream_data[start : start + MiB])
                produced[0] = start + MiB
            results["stream"] = session.finish()
        except Exception as exc:
            results["stream"] = exc

    def on_progress(progress: Progress) -> None:
        if progress.parts_done >= 2:
            progressed.set()

    def send_file() -> None:
        try:
            results["file"] = uploader.upload_file(
                path, "outage", "file.bin", on_progress=on_progress, **options
            )
        except Exception as exc:
            results["file"] = exc

    threads = [threading.Thread(target=produce), threading.Thread(target=send_file)]
    for thread in threads:
        thread.start()
    assert progressed.wait(60), results
    own_store.kill()
    time.sleep(2)
    held_at = produced[0]
    time.sleep(6)
    assert produced[0] == held_at  # the producer waits for the store, it does not buffer on
    own_store.start()
    for thread in threads:
        thread.join(120)
    assert not isinstance(results["file"], Exception), results["file"]
    assert not isinstance(results["stream"], Exception), results["stream"]
    assert fetch(client, "outage", "file.bin") == file_data
    assert fetch(client, "outage", "stream.bin") == stream_data
    assert session.peak_buffered_bytes <= (concurrency + 1) * PART
    assert uploads_for(client, "outage", "file.bin") == []
    assert uploads_for(client, "outage", "stream.bin") == []


# ================================================================== the library, store failing


def _fail_parts_after_the_first(key: str) -> Any:
    """A proxy policy: UploadPart of ``key`` answers 503 from its second part on."""
    seen = [0]

    def policy(request: RequestInfo) -> Fault | None:
        if request.method != "PUT" or "partNumber=" not in request.path or key not in request.path:
            return None
        seen[0] += 1
        return None if seen[0] == 1 else Fault.reply(503, "ServiceUnavailable", "down")

    return policy


def test_when_retry_for_runs_out_a_file_is_kept_and_a_stream_aborted(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    data = os.urandom(3 * PART + 1)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    options: dict[str, Any] = {"part_size": PART, "concurrency": 1, "retry_for": 1.5}
    journal = Journal(tmp_path / "journal")
    file_key, stream_key = f"{unique_key}/file", f"{unique_key}/stream"
    with FaultProxy(s3server.endpoint_url, _fail_parts_after_the_first(file_key)) as proxy:
        uploader = S3StreamUploader(endpoint_url=proxy.url, journal=journal)
        started = time.monotonic()
        with pytest.raises(UploadInterrupted, match="was interrupted") as interrupted:
            uploader.upload_file(path, bucket, file_key, **options)
        assert time.monotonic() - started >= 1.5
        proxy.policy = _fail_parts_after_the_first(stream_key)
        with pytest.raises(UploadFailed) as failed:
            uploader.upload_stream([data], bucket, stream_key, **options)
        assert not isinstance(failed.value, UploadInterrupted) and not failed.value.parts_left
        assert uploads_for(s3client, bucket, stream_key) == []  # the stream was aborted

        upload_id = interrupted.value.upload_id
        assert upload_id is not None and interrupted.value.parts_left
        entry = journal.get(upload_id)
        assert entry is not None and entry.state == "failed"
        assert [p.number for p in entry.info.parts] == [1]
        assert [u["UploadId"] for u in uploads_for(s3client, bucket, file_key)] == [upload_id]
        proxy.policy = None  # the store is back
        result = uploader.resume(upload_id)
    assert result.reused_bytes == PART
    assert fetch(s3client, bucket, file_key) == data
    assert uploads_for(s3client, bucket, file_key) == []
