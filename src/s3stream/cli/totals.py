"""The one display of a copy of many files: totals of bytes and files, a line per failed
file, and a summary.

Modes as for one file: a rich bar on a terminal, a plain line every few seconds elsewhere,
nothing with ``--quiet`` (failures still go to stderr), or NDJSON events with ``--json``
(every event has ``event`` and ``ts``):

``started``         files_total, total (bytes), bucket, prefix
``progress``        files_done, files_total, bytes_sent, total, percent, rate (every 0.5 s)
``file_completed``  source, key, size, etag, checksum, checksum_algorithm, parts, upload_id
``file_failed``     source, key, error, error_type
``summary``         files_total, uploaded, failed (the sources), skipped, bytes, duration
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from s3stream.cli.common import describe_error, eprint, format_duration
from s3stream.cli.progress import (
    JSON_PROGRESS_INTERVAL,
    PLAIN_INTERVAL,
    Mode,
    rate_column,
    write_stdout,
)
from s3stream.cli.tree import FileJob
from s3stream.engine.progress import Progress
from s3stream.engine.result import UploadResult
from s3stream.limits import format_size

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress


class Totals:
    """Counts the bytes and files of a copy from the uploads' threads and shows them."""

    def __init__(self, mode: Mode, bucket: str, prefix: str, files: int, total: int) -> None:
        self.mode = mode
        self.bucket, self.prefix = bucket, prefix
        self.files_total, self.total = files, total
        self.files_done = 0
        self.failed: list[FileJob] = []
        self._sent: dict[str, int] = {}
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last = self._start
        self._bar: RichProgress | None = None
        if mode == "bar":  # rich only for a bar (a terminal): commands start faster without it
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                TaskProgressColumn(),
                DownloadColumn(binary_units=True),
                rate_column(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                redirect_stdout=False,
                redirect_stderr=True,
            )
            self._task = self._bar.add_task(self._label(), total=total)
            self._bar.start()
        self._emit("started", files_total=files, total=total, bucket=bucket, prefix=prefix)

    @property
    def bytes_sent(self) -> int:
        return sum(self._sent.values())

    def _label(self) -> str:
        return f"{self.files_done}/{self.files_total} files"

    def _emit(self, event: str, **fields: Any) -> None:
        if self.mode == "json":
            stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
            write_stdout(json.dumps({"event": event, "ts": stamp.replace("+00:00", "Z")} | fields))

    def progress(self, job: FileJob, progress: Progress) -> None:
        """One file's progress (its high-water mark counts: retried bytes are not counted
        twice)."""
        with self._lock:
            self._sent[job.key] = max(self._sent.get(job.key, 0), progress.bytes_sent)
            self._show()

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        sent = self.bytes_sent
        if self._bar is not None:
            self._bar.update(self._task, completed=sent, description=self._label())
            return
        interval = JSON_PROGRESS_INTERVAL if self.mode == "json" else PLAIN_INTERVAL
        if not force and now - self._last < interval:
            return
        self._last = now
        rate = sent / max(now - self._start, 1e-9)
        percent = 100.0 * sent / self.total if self.total else 100.0
        if self.mode == "json":
            self._emit(
                "progress",
                files_done=self.files_done,
                files_total=self.files_total,
                bytes_sent=sent,
                total=self.total,
                percent=round(percent, 2),
                rate=round(rate, 1),
            )
        elif self.mode == "plain":
            eprint(
                f"s3stream: {self._label()}, {format_size(sent)} / {format_size(self.total)} "
                f"({percent:.0f}%), {format_size(rate)}/s"
            )

    def completed(self, job: FileJob, result: UploadResult) -> None:
        with self._lock:
            self.files_done += 1
            self._sent[job.key] = result.size
            self._emit(
                "file_completed",
                source=job.display,
                key=job.key,
                size=result.size,
                etag=result.etag,
                checksum=result.checksum,
                checksum_algorithm=result.checksum_algorithm,
                parts=result.parts,
                upload_id=result.upload_id,
            )
            self._show()

    def failed_file(self, job: FileJob, exc: BaseException) -> None:
        message, _ = describe_error(exc)
        with self._lock:
            self.failed.append(job)
            self._sent.pop(job.key, None)
            self._emit(
                "file_failed",
                source=job.display,
                key=job.key,
                error=message,
                error_type=type(exc).__name__,
            )
            if self.mode != "json":
                self._print(
                    f"s3stream: failed: {job.display} -> s3://{self.bucket}/{job.key}: {message}"
                )

    def note(self, message: str) -> None:
        if self.mode in ("bar", "plain"):
            self._print(f"s3stream: {message}")

    def _print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            eprint(line)

    def finish(self, skipped: int) -> None:
        """Close the display and print the summary (the failures were shown as they came)."""
        with self._lock:
            self._show(force=True)
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
            duration = time.monotonic() - self._start
            sent = self.bytes_sent
            if self.mode == "json":
                self._emit(
                    "summary",
                    files_total=self.files_total,
                    uploaded=self.files_done,
                    failed=[job.display for job in self.failed],
                    skipped=skipped,
                    bytes=sent,
                    duration=round(duration, 3),
                )
            elif self.mode != "quiet":
                rate = sent / duration if duration > 0 else 0.0
                failed = f"; {len(self.failed)} failed" if self.failed else ""
                files = "1 file" if self.files_done == 1 else f"{self.files_done} files"
                write_stdout(
                    f"uploaded {files} ({format_size(sent)}) to s3://{self.bucket}/{self.prefix} "
                    f"in {format_duration(duration)} ({format_size(rate)}/s){failed}"
                )
