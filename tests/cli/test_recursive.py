"""``s3stream cp --recursive`` and several sources, and the attribute flags, run as a real
subprocess against the embedded store."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import sqlite3
import subprocess
import termios
import threading
import time
from pathlib import Path
from typing import Any

from s3stream.cli.batch import MemoryBudget
from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from s3stream.store.attributes import CustomerKey
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


def listed(client: Any, bucket: str, prefix: str) -> dict[str, int]:
    found = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) :]: o["Size"] for o in found}


def journaled_parts(journal: Path) -> int:
    """Part rows in a CLI's journal (0 while it is not there yet, or has no tables yet)."""
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM parts").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "big.bin": os.urandom(6 * MiB),
        "sub/b.txt": b"beta",
        "sub/deeper/c.log": b"gamma",
        "sub/skip.tmp": b"temporary",
        "empty.dat": b"",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "link.txt").symlink_to(root / "a.txt")
    (root / "linked-dir").symlink_to(root / "sub", target_is_directory=True)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    os.mkfifo(root / "pipe")
    return files


def test_a_tree_goes_up_with_filters_links_skipped_and_one_summary(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = make_tree(tree)
    env = cli_env(tmp_path, s3server)
    prefix = f"{unique_key}/"
    done = run_cli(
        [
            "cp", "--recursive", str(tree), f"s3://{bucket}/{prefix}",
            "--exclude", "*.tmp", "--exclude", "sub/deeper/*", "--include", "*.log",
            "--part-size", "5MiB", "--storage-class", "STANDARD_IA",
        ],
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = {name: data for name, data in files.items() if not name.endswith(".tmp")}
    assert listed(s3client, bucket, prefix) == {n: len(d) for n, d in expected.items()}
    for name, data in expected.items():
        assert fetch(s3client, bucket, prefix + name) == data
    head = s3client.head_object(Bucket=bucket, Key=prefix + "big.bin")
    assert head["StorageClass"] == "STANDARD_IA"
    assert done.stdout.startswith(f"uploaded 5 files ({6.0:.1f} MiB) to s3://{bucket}/{prefix}")
    assert "skipped 3 symbolic link(s)" in done.stderr  # link.txt, linked-dir, sub/loop
    assert "skipped 1 special file(s)" in done.stderr  # the FIFO

    followed = run_cli(
        ["cp", "-r", "--follow-symlinks", "--json", str(tree), f"s3://{bucket}/{prefix}f/"],
        env,
    )
    assert followed.returncode == 0, followed.stderr
    found = events(followed.stdout)
    assert found[0]["event"] == "started" and found[-1]["event"] == "summary"
    keys = {e["key"] for e in found if e["event"] == "file_completed"}
    assert f"{prefix}f/link.txt" in keys and f"{prefix}f/linked-dir/b.txt" in keys
    # 4 at the top, sub's 3 and linked-dir's 3 again; sub/loop, back to the top, is not entered
    assert found[-1]["failed"] == [] and found[-1]["uploaded"] == len(keys) == 10


def test_several_sources_a_failed_file_is_listed_and_the_others_go_up(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, s3server)
    names = ["one.txt", "two.txt", "three.txt"]
    for name in names:
        (tmp_path / name).write_bytes(name.encode() * 100)
    s3client.put_object(Bucket=bucket, Key=f"{unique_key}/two.txt", Body=b"already here")
    done = run_cli(
        ["cp", "--no-clobber", *(str(tmp_path / n) for n in names), f"s3://{bucket}/{unique_key}/"],
        env,
    )
    assert done.returncode == 1, done.stderr
    assert f"failed: {tmp_path / 'two.txt'} -> s3://{bucket}/{unique_key}/two.txt" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("s3stream: error: 1 of 3 files failed: ")
    assert "uploaded 2 files" in done.stdout and "; 1 failed" in done.stdout
    assert fetch(s3client, bucket, f"{unique_key}/two.txt") == b"already here"
    for name in ("one.txt", "three.txt"):
        assert fetch(s3client, bucket, f"{unique_key}/{name}") == name.encode() * 100


def test_bwlimit_holds_for_the_whole_copy(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    """Three files of 1 MiB at 1 MiB/s for all: about 3 s (each file alone would take 1 s)."""
    tree = tmp_path / "three"
    tree.mkdir()
    for i in range(3):
        (tree / f"f{i}.bin").write_bytes(os.urandom(MiB))
    started = time.monotonic()
    done = run_cli(
        ["cp", "-r", "--bwlimit", "1MiB/s", str(tree), f"s3://{bucket}/{unique_key}/"],
        cli_env(tmp_path, s3server),
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert len(listed(s3client, bucket, f"{unique_key}/")) == 3
    assert 2.3 <= elapsed <= 20, elapsed  # (3 MiB - a 0.25 MiB burst) / 1 MiB/s


def test_a_copy_killed_midway_resumes_file_by_file(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    tree = tmp_path / "videos"
    tree.mkdir()
    files = {f"v{i}.bin": os.urandom(11 * MiB) for i in range(2)}
    for name, data in files.items():
        (tree / name).write_bytes(data)
    env = cli_env(tmp_path, s3server)
    journal = tmp_path / "xdg-state" / "s3stream" / "journal.sqlite3"

    running = Running(
        ["cp", "-r", "--part-size", "5MiB", "--bwlimit", "4MiB/s", str(tree),
         f"s3://{bucket}/{unique_key}/"],
        env,
    )  # fmt: skip
    try:
        wait_until(lambda: journaled_parts(journal) >= 2, timeout=30)
        running.proc.kill()  # kill -9: no abort, no completion
        running.finish()
    finally:
        running.kill()
    assert listed(s3client, bucket, f"{unique_key}/") == {}
    resumed = run_cli(["resume", "--all"], env)
    assert resumed.returncode == 0, resumed.stderr
    for name, data in files.items():
        assert fetch(s3client, bucket, f"{unique_key}/{name}") == data
        assert not uploads_for(s3client, bucket, f"{unique_key}/{name}")


def test_attribute_flags_reach_the_object_and_sse_c_needs_its_key_on_resume(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    source = tmp_path / "doc.pdf"
    source.write_bytes(os.urandom(3000))
    key_file = tmp_path / "key.bin"
    raw = os.urandom(32)
    key_file.write_bytes(raw)
    env = cli_env(tmp_path, s3server)
    done = run_cli(
        [
            "--debug", "cp", str(source), f"s3://{bucket}/{unique_key}",
            "--sse-c", "--sse-c-key", f"fileb://{key_file}",
            "--cache-control", "no-cache", "--content-disposition", "inline",
            "--content-language", "fr", "--expires", "2030-01-01T00:00:00Z",
            "--metadata", "a=1,b=2", "--tagging", "k=v", "--acl", "private",
        ],
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    key = CustomerKey(raw)
    assert key.encoded() not in done.stderr and key.md5 in done.stderr  # logged by its MD5
    head = s3client.head_object(
        Bucket=bucket,
        Key=unique_key,
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=key.encoded(),
        SSECustomerKeyMD5=key.md5,
    )
    assert (head["CacheControl"], head["ContentDisposition"]) == ("no-cache", "inline")
    assert head["ContentLanguage"] == "fr" and head["ContentType"] == "application/pdf"
    assert head["Metadata"] == {"a": "1", "b": "2"}
    assert head["ExpiresString"] == "Tue, 01 Jan 2030 00:00:00 GMT"

    # a multipart SSE-C upload interrupted with its parts kept: resume needs the key again
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * MiB))
    running = Running(
        ["cp", str(big), f"s3://{bucket}/{unique_key}.big", "--part-size", "5MiB",
         "--bwlimit", "4MiB/s", "--sse-c", "--sse-c-key", f"fileb://{key_file}"],
        env,
    )  # fmt: skip
    journal = tmp_path / "xdg-state" / "s3stream" / "journal.sqlite3"

    try:
        wait_until(lambda: journaled_parts(journal) >= 1, timeout=30)
        running.proc.kill()
        running.finish()
    finally:
        running.kill()
    assert raw not in journal.read_bytes() and key.encoded().encode() not in journal.read_bytes()
    refused = run_cli(["resume", "--all"], env)
    assert refused.returncode == 2
    assert "is encrypted with a customer key (SSE-C), which is never stored: give it with " in (
        error_line(refused.stderr)
    )
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(os.urandom(32))
    mismatch = run_cli(["resume", "--all", "--sse-c-key", f"fileb://{wrong}"], env)
    assert "is not the one upload" in error_line(mismatch.stderr)
    # on a terminal, resume asks for the key
    leader, follower = pty.openpty()
    asking = subprocess.Popen(
        [*CLI, "resume", "--all"],
        env=env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(follower)
    shown = b""
    while b"SSE-C key for s3://" not in shown:
        shown += os.read(leader, 1024)  # the prompt, on the terminal
    os.write(leader, f"fileb://{key_file}\n".encode())
    out, err = asking.communicate(timeout=120)
    os.close(leader)
    assert asking.returncode == 0, err
    assert str(key_file).encode() not in out + err
    body = s3client.get_object(
        Bucket=bucket,
        Key=f"{unique_key}.big",
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=key.encoded(),
        SSECustomerKeyMD5=key.md5,
    )["Body"].read()
    assert body == big.read_bytes()
    assert key_absent(s3client, bucket, f"{unique_key}.nothing")


def test_ctrl_c_aborts_the_files_in_flight_and_starts_no_more(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    tree = tmp_path / "many"
    tree.mkdir()
    for i in range(4):
        (tree / f"f{i}.bin").write_bytes(os.urandom(11 * MiB))
    env = cli_env(tmp_path, s3server)
    running = Running(
        # one part at a time per file: the first part is journaled at ~2.5 s, a file is
        # done at ~5.5 s, so the signal comes with every file still in flight
        ["cp", "-r", "--transfers", "2", "--concurrency", "1", "--part-size", "5MiB",
         "--bwlimit", "4MiB/s", str(tree), f"s3://{bucket}/{unique_key}/"],
        env,
    )  # fmt: skip
    journal = tmp_path / "xdg-state" / "s3stream" / "journal.sqlite3"
    try:
        wait_until(lambda: journaled_parts(journal) >= 1, timeout=30)
        running.proc.send_signal(signal.SIGINT)
        code = running.finish(60)
    finally:
        running.kill()
    assert code == 130, running.stderr
    assert "the copy was stopped: 0 of 4 files were uploaded" in running.stderr[-1]
    assert listed(s3client, bucket, f"{unique_key}/") == {}
    assert not s3client.list_multipart_uploads(Bucket=bucket, Prefix=unique_key).get("Uploads")


def test_the_memory_budget_admits_what_fits_and_a_large_file_alone() -> None:
    budget = MemoryBudget(10)
    assert budget.reserve(4) == 4 and budget.reserve(6) == 6  # both fit
    admitted: list[int] = []

    def later() -> None:
        admitted.append(budget.reserve(3))

    waiter = threading.Thread(target=later)
    waiter.start()
    time.sleep(0.2)
    assert admitted == []  # 10 of 10 in use: it waits
    budget.release(4)
    waiter.join(5)
    assert admitted == [3] and budget.used == 9
    budget.release(6)
    budget.release(3)
    assert budget.reserve(50) == 10  # larger than the budget: runs alone, holding all of it
    assert budget.peak == 10
