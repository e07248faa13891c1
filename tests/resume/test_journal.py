"""The SQLite upload journal."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import threading
from pathlib import Path

import pytest

from s3stream import ConfigError, Journal, PartRecord, ResumeInfo, SourceFingerprint
from s3stream.limits import MiB
from s3stream.resume.journal import default_journal_path


def info(upload_id: str = "upload-abc", parts: tuple[PartRecord, ...] = ()) -> ResumeInfo:
    return ResumeInfo(
        bucket="b",
        key="k",
        upload_id=upload_id,
        part_size=8 * MiB,
        size=100 * MiB,
        max_parts=10_000,
        growing=False,
        checksum_algorithm="crc64nvme",
        parts=parts,
        source=SourceFingerprint("file", "/data/f.bin", 100 * MiB, 123, "ab" * 32),
        metadata={"a": "b"},
    )


def test_roundtrip_and_prefix_lookup(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.started(info())
    journal.part_done("upload-abc", PartRecord(2, 8 * MiB, '"e2"', "c2"))
    journal.part_done("upload-abc", PartRecord(1, 8 * MiB, '"e1"', "c1"))
    entry = journal.get("upload-a")
    assert entry is not None and entry.state == "active"
    assert [p.number for p in entry.info.parts] == [1, 2]
    assert entry.info.source == info().source and entry.info.metadata == {"a": "b"}
    assert journal.get("nope") is None


def test_completed_uploads_lose_their_parts_and_are_pruned(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.started(info("u1", (PartRecord(1, 1, "e", None),)))
    journal.started(info("u2"))
    journal.set_state("u1", "completed")
    assert [e.info.upload_id for e in journal.entries()] == ["u2"]
    done = journal.get("u1")
    assert done is not None and done.state == "completed" and done.info.parts == ()
    assert journal.prune(older_than=dt.timedelta(0)) == 1
    assert journal.get("u1") is None and journal.get("u2") is not None


def test_parallel_writers(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.started(info())

    def record(start: int) -> None:
        for n in range(start, start + 50):
            journal.part_done("upload-abc", PartRecord(n, 5 * MiB, f"e{n}", None))

    threads = [threading.Thread(target=record, args=(1 + 50 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entry = Journal(tmp_path / "j.sqlite3").get("upload-abc")
    assert entry is not None and len(entry.info.parts) == 200


def _hammer(path: str) -> None:
    journal = Journal(path)
    journal.started(info())
    n = 1
    while True:
        journal.part_done("upload-abc", PartRecord(n, 5 * MiB, f"e{n}", None))
        n += 1


def test_kill_9_while_writing_leaves_a_usable_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    child = multiprocessing.get_context("spawn").Process(target=_hammer, args=(str(path),))
    child.start()
    while not path.exists() or os.path.getsize(path) < 4096:
        child.join(0.05)
    child.join(0.5)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    entry = Journal(path).get("upload-abc")
    assert entry is not None
    numbers = [p.number for p in entry.info.parts]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers


def test_resume_info_json_roundtrip_and_version_check() -> None:
    original = info(parts=(PartRecord(1, 8 * MiB, '"e1"', "AAAAAAAAAAA="),))
    assert ResumeInfo.from_json(original.to_json()) == original
    with pytest.raises(ConfigError, match="upgrade s3stream"):
        ResumeInfo.from_json(original.to_json().replace('"version": 1', '"version": 99'))
    with pytest.raises(ConfigError, match="invalid resume info"):
        ResumeInfo.from_json("{not json")


def test_resume_offset_is_the_end_of_the_unbroken_run() -> None:
    parts = tuple(PartRecord(n, 8 * MiB, f"e{n}", None) for n in (1, 2, 4))
    assert info(parts=parts).resume_offset == 16 * MiB
    assert info().resume_offset == 0


def test_default_location(tmp_path: Path) -> None:
    assert default_journal_path({"S3STREAM_STATE_DIR": "/x"}) == Path("/x/journal.sqlite3")
    assert default_journal_path({"XDG_STATE_HOME": "/s"}) == Path("/s/s3stream/journal.sqlite3")


def test_connections_opening_a_new_journal_at_once_all_succeed(tmp_path: Path) -> None:
    """SQLite refuses a second connection at once ("database is locked", busy timeout or
    not) while the first switches a new file to WAL; the journal waits instead (as two
    `s3stream cp` started together, or uploads on several threads, need)."""
    failures: list[BaseException] = []

    def open_journal(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            Journal(path).close()
        except BaseException as exc:  # collected: the assertion below names it
            failures.append(exc)

    for trial in range(200):
        path = tmp_path / f"j{trial}.db"
        start = threading.Barrier(4)
        threads = [threading.Thread(target=open_journal, args=(path, start)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def test_uploads_on_several_threads_share_one_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from s3stream import S3StreamUploader
    from s3stream.store.memory import MemoryStore

    uploader = S3StreamUploader(store=MemoryStore(), journal=tmp_path / "journal.db")
    start = threading.Barrier(8)
    seen: list[object] = []

    def look() -> None:
        start.wait()
        seen.append(uploader.journal)

    threads = [threading.Thread(target=look) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len({id(j) for j in seen}) == 1 and seen[0] is not None
