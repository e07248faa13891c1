"""The upload journal: durable resume state in SQLite, one row per acknowledged part.

Every multipart upload the library or the CLI starts is recorded when it is created and
after every part the store acknowledges, in a transaction of its own (WAL mode,
``synchronous=FULL``): a ``kill -9`` or a power cut at any instant leaves a journal whose
every part row is a part the store holds. Completed and aborted uploads are marked, their
part rows dropped, and the marks pruned after a week.

Default location: ``$S3STREAM_STATE_DIR/journal.sqlite3``, else
``$XDG_STATE_HOME/s3stream/journal.sqlite3``, else ``~/.local/state/s3stream/...``
(resolved by :func:`default_journal_path`, which only the front doors call).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from s3stream.resume.info import OPEN_STATES, ResumeInfo, UploadState, now
from s3stream.store.types import PartRecord

PRUNE_AFTER = dt.timedelta(days=7)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    info TEXT NOT NULL,
    error TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum TEXT,
    PRIMARY KEY (upload_id, number)
);
"""

BUSY_TIMEOUT = 30.0
"""Seconds to wait for another process that holds the journal's write lock."""


def default_journal_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the journal lives by default (XDG state directory, or S3STREAM_STATE_DIR)."""
    if environ.get("S3STREAM_STATE_DIR"):
        return Path(environ["S3STREAM_STATE_DIR"]) / "journal.sqlite3"
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "s3stream" / "journal.sqlite3"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    info: ResumeInfo
    state: UploadState
    created: str
    updated: str
    error: str | None = None


class Journal:
    """A thread-safe handle on the journal file; several processes may share the file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, check_same_thread=False, isolation_level=None
        )
        self._switch_to_wal()
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(_SCHEMA)  # commits by itself
        self.prune()

    def _switch_to_wal(self) -> None:
        """WAL mode, waiting for other processes: SQLite answers a second connection that
        opens a new journal while the first switches it at once with "database is locked",
        without waiting out the busy timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def started(self, info: ResumeInfo) -> None:
        """Record a new multipart upload (right after CreateMultipartUpload)."""
        stamp = now()
        header = json.dumps(asdict(replace(info, parts=())), sort_keys=True)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, 'active', ?, NULL, ?, ?)",
                (info.upload_id, info.bucket, info.key, header, stamp, stamp),
            )
            db.executemany(
                "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?)",
                [(info.upload_id, p.number, p.size, p.etag, p.checksum) for p in info.parts],
            )

    def part_done(self, upload_id: str, part: PartRecord) -> None:
        """Record one acknowledged part, durably, before the part counts as done."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?)",
                (upload_id, part.number, part.size, part.etag, part.checksum),
            )
            db.execute("UPDATE uploads SET updated = ? WHERE upload_id = ?", (now(), upload_id))

    def set_state(self, upload_id: str, state: UploadState, error: str | None = None) -> None:
        """Mark an upload; completed and aborted ones lose their part rows."""
        with self._tx() as db:
            db.execute(
                "UPDATE uploads SET state = ?, error = ?, updated = ? WHERE upload_id = ?",
                (state, error, now(), upload_id),
            )
            if state in ("completed", "aborted"):
                db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))

    def get(self, upload_id: str) -> JournalEntry | None:
        """The entry of ``upload_id``; a unique prefix of the id is enough."""
        with self._lock:
            rows = self._db.execute(
                "SELECT upload_id FROM uploads WHERE substr(upload_id, 1, length(?)) = ?",
                (upload_id, upload_id),
            ).fetchall()
        exact = [r[0] for r in rows if r[0] == upload_id]
        ids = exact or [r[0] for r in rows]
        if len(ids) != 1:
            return None
        return self._entry(ids[0])

    def entries(self, states: tuple[UploadState, ...] = OPEN_STATES) -> list[JournalEntry]:
        marks = ",".join("?" * len(states))
        with self._lock:
            ids = self._db.execute(
                f"SELECT upload_id FROM uploads WHERE state IN ({marks}) ORDER BY created",
                states,
            ).fetchall()
        found = [self._entry(r[0]) for r in ids]
        return [e for e in found if e is not None]

    def _entry(self, upload_id: str) -> JournalEntry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT info, state, created, updated, error FROM uploads WHERE upload_id = ?",
                (upload_id,),
            ).fetchone()
            if row is None:
                return None
            parts = self._db.execute(
                "SELECT number, size, etag, checksum FROM parts WHERE upload_id = ? "
                "ORDER BY number",
                (upload_id,),
            ).fetchall()
        info = ResumeInfo.from_json(row[0]).with_parts(tuple(PartRecord(*p) for p in parts))
        return JournalEntry(info, row[1], row[2], row[3], row[4])

    def prune(self, older_than: dt.timedelta = PRUNE_AFTER) -> int:
        """Drop completed and aborted marks older than ``older_than``; returns how many."""
        cutoff = (dt.datetime.now(dt.UTC) - older_than).isoformat(timespec="milliseconds")
        with self._tx() as db:
            cursor = db.execute(
                "DELETE FROM uploads WHERE state IN ('completed', 'aborted') AND updated <= ?",
                (cutoff,),
            )
            return cursor.rowcount
