"""`s3stream ls`, `resume`, `abort` and `gc`, driven in a subprocess against the real store."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from s3stream import Journal
from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from s3stream.resume.journal import JournalEntry
from tests.support.cli import (
    CLI,
    cli_env,
    error_line,
    events,
    fetch,
    run_cli,
    settled_parts,
    uploads_for,
    wait_until,
)
from tests.support.faultproxy import FaultProxy, RequestInfo

PART, CONCURRENCY = 5 * MiB, 4


def start_and_kill(
    env: dict[str, str], path: Path, url: str, after_parts: int, then_wait: float = 0.0
) -> None:
    """`s3stream cp --json` killed with SIGKILL ``then_wait`` seconds after ``after_parts``
    parts are done."""
    child = subprocess.Popen(
        [
            *CLI,
            "cp",
            "--json",
            "--part-size",
            "5MiB",
            "--concurrency",
            str(CONCURRENCY),
            str(path),
            url,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    done = 0
    for line in child.stdout:
        if json.loads(line)["event"] == "part_done":
            done += 1
            if done >= after_parts:
                break
    time.sleep(then_wait)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL


def journal_entry(env: dict[str, str], upload_id: str) -> JournalEntry | None:
    """The CLI's journal entry of ``upload_id``, read in-process."""
    journal = Journal(Path(env["XDG_STATE_HOME"]) / "s3stream" / "journal.sqlite3")
    try:
        return journal.get(upload_id)
    finally:
        journal.close()


def journal_ids(env: dict[str, str]) -> list[str]:
    listed = run_cli(["ls", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    # the store's other incomplete uploads in the shared bucket are listed too: not ours
    return [row["upload_id"] for row in rows if row["journaled"]]


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_sends_exactly_the_missing_parts(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    """Ten kills at random points; after each, the parts `s3stream resume` sends (seen by a
    proxy) are exactly the parts the store does not hold: none it holds is sent again, even
    those the store acknowledged after the journal's last record (they are adopted)."""
    parts = 20
    data = os.urandom((parts - 1) * PART + 4321)  # 95 MiB
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    rng = random.Random(15)
    sent: list[int] = []

    def observe(request: RequestInfo) -> None:
        query = parse_qs(urlsplit(request.path).query)
        if request.method == "PUT" and "partNumber" in query:
            sent.append(int(query["partNumber"][0]))

    adopted = 0
    with FaultProxy(s3server.endpoint_url, observe) as proxy:
        env = cli_env(tmp_path, s3server, AWS_ENDPOINT_URL_S3=proxy.url)
        for trial in range(10):
            key = f"{unique_key}-{trial}"
            start_and_kill(
                env,
                path,
                f"s3://{bucket}/{key}",
                after_parts=rng.randint(1, parts - 10),  # 10 parts left: never the end
                then_wait=rng.uniform(0, 0.1),
            )
            uploads = [u["UploadId"] for u in uploads_for(s3client, bucket, key)]
            assert len(uploads) == 1, f"trial {trial}: the upload ended before the kill"
            upload_id = uploads[0]
            wait_until(lambda: proxy.open_connections == 0)  # the killed cp's requests ended
            held = settled_parts(s3client, bucket, key, upload_id, quiet=0.3)
            entry = journal_entry(env, upload_id)
            assert entry is not None and entry.state == "active"
            journaled = {p.number for p in entry.info.parts}
            adopted += len(set(held) - journaled)
            sent.clear()
            resumed = run_cli(["resume", "--json", upload_id[:16]], env, timeout=120)
            assert resumed.returncode == 0, resumed.stderr
            completed = events(resumed.stdout)[-1]
            assert completed["event"] == "completed" and completed["size"] == len(data)
            assert fetch(s3client, bucket, key) == data, f"trial {trial}"
            missing = set(range(1, parts + 1)) - set(held)
            assert sorted(sent) == sorted(missing), f"trial {trial}: held {sorted(held)}"
            assert completed["reused_bytes"] == sum(p["Size"] for p in held.values())
            assert uploads_for(s3client, bucket, key) == []
            entry = journal_entry(env, upload_id)
            assert entry is not None and entry.state == "completed"
    print(f"10 kills: {adopted} parts held by the store but not journaled were adopted")


def test_resume_of_a_changed_file_is_refused_with_nothing_completed(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    data = bytearray(os.urandom(20 * PART))
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    env = cli_env(tmp_path, s3server)
    start_and_kill(env, path, f"s3://{bucket}/{unique_key}", after_parts=3)
    (upload_id,) = journal_ids(env)
    data[-1] ^= 1
    path.write_bytes(data)
    resumed = run_cli(["resume", upload_id], env)
    assert resumed.returncode == 1
    line = error_line(resumed.stderr)
    assert "changed since upload" in line and "nothing was completed" in line
    assert "Contents" not in s3client.list_objects_v2(Bucket=bucket, Prefix=unique_key)
    aborted = run_cli(["abort", upload_id[:10]], env)
    assert aborted.returncode == 0, aborted.stderr
    assert uploads_for(s3client, bucket, unique_key) == []
    assert journal_ids(env) == []


def test_resume_of_an_upload_gone_from_the_server_cleans_the_journal(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(20 * PART))
    env = cli_env(tmp_path, s3server)
    start_and_kill(env, path, f"s3://{bucket}/{unique_key}", after_parts=2)
    (upload_id,) = journal_ids(env)
    s3client.abort_multipart_upload(Bucket=bucket, Key=unique_key, UploadId=upload_id)
    resumed = run_cli(["resume", upload_id], env)
    assert resumed.returncode == 1
    assert "no longer on the server" in error_line(resumed.stderr)
    assert journal_ids(env) == []


def test_a_stdin_upload_cannot_be_resumed_and_says_so(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, s3server)
    child = subprocess.Popen(
        [*CLI, "cp", "--json", "--part-size", "5MiB", "-", f"s3://{bucket}/{unique_key}"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=False,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(os.urandom(3 * PART))
    child.stdin.flush()
    for raw in child.stdout:
        if json.loads(raw)["event"] == "part_done":
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    (upload_id,) = journal_ids(env)
    resumed = run_cli(["resume", upload_id], env)
    assert resumed.returncode == 2
    message = error_line(resumed.stderr)
    assert "cannot be replayed" in message and f"s3stream abort {upload_id}" in message
    assert run_cli(["resume", "--all"], env).returncode == 2  # still there, still refused


def test_ls_shows_uploads_the_journal_never_knew_and_gc_collects_them(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, s3server)
    stranger = s3client.create_multipart_upload(Bucket=bucket, Key=f"{unique_key}/x")["UploadId"]
    listed = run_cli(["ls", f"s3://{bucket}/{unique_key}/"], env)
    assert listed.returncode == 0
    assert stranger in listed.stdout and "not in this journal" in listed.stdout
    dry = run_cli(["gc", f"s3://{bucket}/{unique_key}/", "--older-than", "0s", "--dry-run"], env)
    assert "would abort 1 upload(s)" in dry.stdout
    assert uploads_for(s3client, bucket, f"{unique_key}/x") != []
    young = run_cli(["gc", f"s3://{bucket}/{unique_key}/", "--older-than", "7d"], env)
    assert "aborted 0 upload(s)" in young.stdout
    gone = run_cli(["gc", f"s3://{bucket}/{unique_key}/", "--older-than", "0s"], env)
    assert gone.returncode == 0 and "aborted 1 upload(s)" in gone.stdout
    assert uploads_for(s3client, bucket, f"{unique_key}/x") == []
    bad = run_cli(["gc", f"s3://{bucket}", "--older-than", "soon"], env)
    assert bad.returncode == 2 and "invalid duration" in error_line(bad.stderr)
