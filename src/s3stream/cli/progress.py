"""How an upload shows itself: a rich bar, plain lines, NDJSON events, or nothing.

The library calls ``on_progress`` from its part threads (and the final time from the caller's
thread), so every reporter takes a lock. Byte counts are reported as a high-water mark: the
library takes back the bytes of a failed part attempt, the display never goes backwards.

NDJSON events (``--json``, on stdout, one object per line, all with ``event``, ``ts``,
``upload_id``, ``bytes_sent`` and ``total``):

``started``    bucket, key, source, part_size, concurrency, parts_total, checksum_algorithm
``progress``   parts_done, parts_total, percent, rate, eta (every 0.5 s at most; once at the end)
``part_done``  parts_done, parts_total (one event per finished part)
``completed``  bucket, key, etag, version_id, size, checksum, checksum_algorithm,
               checksum_type, parts, duration, verified (full-object, parts, read-back or
               none), verified_by (store, s3stream or null)
``failed``     error, error_type, exit_code
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TextIO

from s3stream.cli.common import describe_error, eprint, format_duration
from s3stream.config import UploadConfig
from s3stream.engine.progress import Progress
from s3stream.engine.result import UploadResult
from s3stream.errors import S3StreamError
from s3stream.limits import format_size

if TYPE_CHECKING:  # rich is imported when a bar is shown, not for every command
    from rich.progress import Progress as RichProgress
    from rich.progress import ProgressColumn, TaskID

Mode = Literal["bar", "plain", "json", "quiet"]

JSON_PROGRESS_INTERVAL = 0.5
PLAIN_INTERVAL = 3.0
LIBRARY_INTERVAL = 0.0
"""The ``progress_interval`` the CLI asks the library for: every event (one per 1 MiB sent,
one per part). The library's throttle drops events, so a part that finishes within its
interval of the previous event would not be reported until more bytes move (a stalled
stream would hide it); the reporters here throttle what they show instead."""


@dataclass(frozen=True, slots=True)
class Start:
    """What is known when an upload starts."""

    source: str
    bucket: str
    key: str
    total: int | None
    part_size: int
    concurrency: int
    parts_total: int | None
    checksum_algorithm: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def write_stdout(line: str) -> bool:
    """Print ``line`` on stdout; False once the reader has gone away (``... | head``).

    The upload goes on regardless; stdout is pointed at /dev/null so that Python stays quiet
    about the broken pipe at exit.
    """
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return False
    return True


def start_info(
    source: str,
    bucket: str,
    key: str,
    size: int | None,
    options: dict[str, Any],
    config: UploadConfig | None = None,
) -> Start:
    """What the upload of ``size`` bytes (``None``: unknown) with ``options`` will use
    (``config``: the options as decided for the store)."""
    config = config or UploadConfig(**options)
    plan, concurrency = config.resolve(size)
    return Start(
        source=source,
        bucket=bucket,
        key=key,
        total=size,
        part_size=plan.first_part_size,
        concurrency=concurrency,
        parts_total=plan.part_count,
        checksum_algorithm=config.checksum_algorithm.value,
    )


VERIFICATIONS = {
    "full-object": "whole object verified by the store",
    "parts": "parts verified by the store, not the whole object",
    "read-back": "read back and verified by s3stream",
    "none": "not verified by the store: --verify reads it back",
}


def verification(result: UploadResult) -> str:
    """What was verified of ``result``, in words."""
    return VERIFICATIONS.get(result.verified, result.verified)


def choose_mode(*, json_events: bool, quiet: bool, stream: TextIO | None = None) -> Mode:
    """``--json`` wins, then ``--quiet``; otherwise a bar on a terminal, plain lines elsewhere."""
    if json_events:
        return "json"
    if quiet:
        return "quiet"
    stream = stream or sys.stderr
    dumb = os.environ.get("TERM", "") in ("dumb", "unknown")
    return "bar" if stream.isatty() and not dumb else "plain"


def make_reporter(mode: Mode, upload_id: Callable[[], str | None] | None = None) -> Reporter:
    kinds: dict[Mode, type[Reporter]] = {
        "bar": BarReporter,
        "plain": PlainReporter,
        "json": JsonReporter,
        "quiet": Reporter,
    }
    return kinds[mode](upload_id)


class Reporter:
    """The base: keeps the counts, shows nothing (``--quiet``). Subclasses override the hooks."""

    def __init__(self, upload_id: Callable[[], str | None] | None = None) -> None:
        self._lock = threading.RLock()
        self.upload_id_source = upload_id
        """Where the multipart upload id can be read while the upload runs (a session)."""
        self.upload_id: str | None = None
        self.bytes_sent = 0
        self.parts_done = 0
        self.start_info: Start | None = None
        self._closed = False

    # -- the library's callback ----------------------------------------------------------

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            if self._closed:
                return
            self._refresh_upload_id(progress)
            new_parts = max(0, progress.parts_done - self.parts_done)
            self.parts_done += new_parts
            self.bytes_sent = max(self.bytes_sent, progress.bytes_sent)
            self._progress(progress, new_parts)

    def _refresh_upload_id(self, progress: Progress | None = None) -> None:
        found = getattr(progress, "upload_id", None)  # set by libraries that report it
        if found is None and self.upload_id_source is not None:
            found = self.upload_id_source()
        if found is not None:
            self.upload_id = found

    # -- the outcome -----------------------------------------------------------------------

    def start(self, info: Start) -> None:
        with self._lock:
            self.start_info = info
            self._started(info)

    def note(self, message: str) -> None:
        """A human remark (follow mode); only the human displays show it."""
        with self._lock:
            if not self._closed:
                self._note(message)

    def completed(self, result: UploadResult) -> None:
        with self._lock:
            if self._closed:
                return
            self.upload_id = result.upload_id or self.upload_id
            self.bytes_sent = max(self.bytes_sent, result.size)
            self._completed(result)
            self._close()
            self._closed = True

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._closed:
                return
            if isinstance(exc, S3StreamError) and exc.upload_id:
                self.upload_id = exc.upload_id
            else:
                self._refresh_upload_id()
            message, code = describe_error(exc)
            self._failed(exc, message, code)
            self._close()
            self._closed = True

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._close()
                self._closed = True

    # -- hooks -------------------------------------------------------------------------------

    def _started(self, info: Start) -> None:
        pass

    def _progress(self, progress: Progress, new_parts: int) -> None:
        pass

    def _note(self, message: str) -> None:
        pass

    def _completed(self, result: UploadResult) -> None:
        pass

    def _failed(self, exc: BaseException, message: str, code: int) -> None:
        pass

    def _close(self) -> None:
        pass

    def summary(self, result: UploadResult) -> str:
        source = self.start_info.source if self.start_info else "-"
        rate = result.size / result.duration if result.duration > 0 else 0.0
        checksum = ""
        if result.checksum is not None:
            checksum = f", {result.checksum_algorithm} {result.checksum}"
        parts = "1 part" if result.parts == 1 else f"{result.parts} parts"
        return (
            f"uploaded {source} to s3://{result.bucket}/{result.key}: "
            f"{format_size(result.size)} in {format_duration(result.duration)} "
            f"({format_size(rate)}/s), {parts}{checksum}; {verification(result)}"
        )


class PlainReporter(Reporter):
    """A progress line on stderr every few seconds; the summary on stdout."""

    def __init__(
        self, upload_id: Callable[[], str | None] | None = None, *, interval: float = PLAIN_INTERVAL
    ) -> None:
        super().__init__(upload_id)
        self.interval = interval
        self._last_line = time.monotonic()

    def _started(self, info: Start) -> None:
        self._last_line = time.monotonic()

    def _progress(self, progress: Progress, new_parts: int) -> None:
        now = time.monotonic()
        if progress.done or now - self._last_line < self.interval:
            return
        self._last_line = now
        url = self.start_info.url if self.start_info else ""
        amount = format_size(self.bytes_sent)
        if progress.total is not None:
            amount += f" / {format_size(progress.total)} ({progress.percent or 0:.0f}%)"
        eta = f", ETA {format_duration(progress.eta)}" if progress.eta is not None else ""
        eprint(f"s3stream: {url}: {amount}, {format_size(progress.rate)}/s{eta}")

    def _note(self, message: str) -> None:
        eprint(f"s3stream: {message}")

    def _completed(self, result: UploadResult) -> None:
        write_stdout(self.summary(result))


def rate_column() -> ProgressColumn:
    """A rich column with the transfer rate in binary units, like the sizes next to it."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            shown = "?" if speed is None else f"{format_size(speed)}/s"
            return Text(shown, style="progress.data.speed")

    return RateColumn()


class BarReporter(PlainReporter):
    """A rich progress bar on stderr (a terminal): bytes, percent, rate and ETA."""

    def __init__(
        self, upload_id: Callable[[], str | None] | None = None, *, interval: float = PLAIN_INTERVAL
    ) -> None:
        super().__init__(upload_id, interval=interval)
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def _started(self, info: Start) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        console = Console(file=sys.stderr)
        label = info.url if len(info.url) <= 40 else "…" + info.url[-39:]
        columns: list[str | ProgressColumn] = [
            TextColumn("{task.description}", markup=False),
            BarColumn(),
        ]
        if info.total is not None:
            columns += [TaskProgressColumn(), DownloadColumn(binary_units=True)]
            columns += [rate_column(), TimeRemainingColumn()]
        else:
            columns += [DownloadColumn(binary_units=True), rate_column()]
            columns += [TimeElapsedColumn()]
        self._bar = RichProgress(
            *columns, console=console, redirect_stdout=False, redirect_stderr=True
        )
        self._task = self._bar.add_task(label, total=info.total)
        self._bar.start()

    def _progress(self, progress: Progress, new_parts: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.bytes_sent, total=progress.total)

    def _note(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            super()._note(message)

    def _completed(self, result: UploadResult) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=result.size, total=result.size)
        self._close()
        super()._completed(result)

    def _close(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.stop()


class JsonReporter(Reporter):
    """NDJSON events on stdout (see the module docstring for the schema)."""

    def __init__(
        self,
        upload_id: Callable[[], str | None] | None = None,
        *,
        interval: float = JSON_PROGRESS_INTERVAL,
    ) -> None:
        super().__init__(upload_id)
        self.interval = interval
        self._last_progress = time.monotonic()
        self._dead = False

    def _emit(self, event: str, **fields: Any) -> None:
        if self._dead:
            return
        record: dict[str, Any] = {
            "event": event,
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "upload_id": self.upload_id,
            "bytes_sent": self.bytes_sent,
            "total": self.start_info.total if self.start_info else None,
        }
        record.update(fields)
        self._dead = not write_stdout(json.dumps(record))

    def _started(self, info: Start) -> None:
        self._last_progress = time.monotonic()
        self._emit(
            "started",
            bucket=info.bucket,
            key=info.key,
            source=info.source,
            part_size=info.part_size,
            concurrency=info.concurrency,
            parts_total=info.parts_total,
            checksum_algorithm=info.checksum_algorithm,
        )

    def _progress(self, progress: Progress, new_parts: int) -> None:
        parts_total = progress.parts_total
        for done in range(self.parts_done - new_parts + 1, self.parts_done + 1):
            self._emit("part_done", parts_done=done, parts_total=parts_total)
        now = time.monotonic()
        if progress.done or now - self._last_progress >= self.interval:
            self._last_progress = now
            self._emit(
                "progress",
                parts_done=self.parts_done,
                parts_total=parts_total,
                percent=None if progress.percent is None else round(progress.percent, 2),
                rate=round(progress.rate, 1),
                eta=None if progress.eta is None else round(progress.eta, 2),
            )

    def _completed(self, result: UploadResult) -> None:
        self._emit(
            "completed",
            bucket=result.bucket,
            key=result.key,
            etag=result.etag,
            version_id=result.version_id,
            size=result.size,
            checksum=result.checksum,
            checksum_algorithm=result.checksum_algorithm,
            checksum_type=result.checksum_type,
            parts=result.parts,
            reused_bytes=result.reused_bytes,
            duration=round(result.duration, 3),
            verified=result.verified,
            verified_by=result.verified_by,
        )

    def _failed(self, exc: BaseException, message: str, code: int) -> None:
        self._emit("failed", error=message, error_type=type(exc).__name__, exit_code=code)
