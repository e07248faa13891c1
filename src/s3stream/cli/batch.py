"""Uploading many files at once (``cp --recursive``, ``cp SRC... PREFIX/``).

``transfers`` files go up at a time through one uploader: one connection pool, one journal
(each multipart upload is resumable on its own), and one bandwidth limit. They share one
memory budget too, the bound of a single streamed upload of the largest file
(``(concurrency + 1) x part_size``): a file starts once the bytes it may buffer fit in
what the others leave (a file read by offset buffers ``concurrency x 1 MiB``, one that fits
in a part is read whole). A failed file does not stop the others; Ctrl-C aborts those in
flight and starts no more.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from s3stream.cli.interrupts import Interrupts
from s3stream.cli.progress import Mode
from s3stream.cli.totals import Totals
from s3stream.cli.tree import FileJob, Selection
from s3stream.config import UploadConfig
from s3stream.engine.files import WINDOW
from s3stream.engine.writer import MultipartWriter
from s3stream.errors import S3StreamError, UploadAborted
from s3stream.session import UploadControl
from s3stream.uploader import S3StreamUploader

log = logging.getLogger(__name__)


class BatchFailed(S3StreamError):
    """Some files of a copy failed (the others were uploaded)."""


class MemoryBudget:
    """Bytes that running uploads may buffer; :meth:`reserve` waits until ``n`` fit (or no
    upload runs: a file larger than the budget then runs alone)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    def reserve(self, n: int) -> int:
        n = min(n, self.limit)
        with self._cond:
            self._cond.wait_for(lambda: self.used == 0 or self.used + n <= self.limit)
            self.used += n
            self.peak = max(self.peak, self.used)
        return n

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


def buffered_bytes(config: UploadConfig, size: int) -> int:
    """What the file upload of ``size`` bytes buffers at most (see ``FileWriter``)."""
    plan, concurrency = config.resolve(size)
    if size <= plan.first_part_size:
        return size
    return concurrency * min(WINDOW, plan.first_part_size)


class _Control(UploadControl):
    """An upload control that aborts an upload attaching after :meth:`stop`."""

    def __init__(self) -> None:
        super().__init__()
        self.stopped = False
        self._lock = threading.Lock()

    def attach(self, writer: MultipartWriter) -> None:
        with self._lock:
            super().attach(writer)
            if self.stopped:
                writer.abort()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            with contextlib.suppress(S3StreamError):  # not started: aborted as it attaches
                self.abort()


def copy_files(
    uploader: S3StreamUploader,
    selection: Selection,
    *,
    bucket: str,
    prefix: str,
    options: dict[str, Any],
    mode: Mode,
    transfers: int,
) -> None:
    """Upload ``selection``; raises :class:`BatchFailed` naming the files that failed."""
    files = selection.files
    config = UploadConfig(**options)
    largest = max((job.size for job in files), default=0)
    plan, concurrency = config.resolve(largest)
    budget = MemoryBudget((concurrency + 1) * plan.first_part_size)
    totals = Totals(mode, bucket, prefix, len(files), selection.total)
    skipped = len(selection.skipped_links) + len(selection.skipped_special)
    if selection.skipped_links:
        totals.note(
            f"skipped {len(selection.skipped_links)} symbolic link(s), e.g. "
            f"{selection.skipped_links[0]} (--follow-symlinks uploads what they point to)"
        )
    if selection.skipped_special:
        totals.note(
            f"skipped {len(selection.skipped_special)} special file(s) (FIFOs, sockets, "
            f"devices), e.g. {selection.skipped_special[0]}"
        )
    controls: dict[str, _Control] = {}
    stop = threading.Event()

    def upload(job: FileJob) -> None:
        if stop.is_set():
            return
        control = controls[job.key]
        reserved = budget.reserve(buffered_bytes(config, job.size))
        try:
            if stop.is_set():
                return
            result = uploader.upload_file(
                job.path,
                bucket,
                job.key,
                on_progress=lambda p: totals.progress(job, p),
                control=control,
                **options,
            )
            totals.completed(job, result)
        except UploadAborted:
            if not stop.is_set():
                raise
        except Exception as exc:
            log.debug("%s failed", job.display, exc_info=True)
            totals.failed_file(job, exc)
        finally:
            budget.release(reserved)

    pool = ThreadPoolExecutor(transfers, thread_name_prefix="s3stream-file")
    pending: set[Future[None]] = set()
    try:
        with Interrupts():
            for job in files:
                controls[job.key] = _Control()
                pending.add(pool.submit(upload, job))
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
    except BaseException as exc:
        stop.set()
        for control in controls.values():
            control.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        totals.finish(skipped)
        if isinstance(exc, KeyboardInterrupt) and not exc.args:
            exc.args = (
                f"the copy was stopped: {totals.files_done} of {len(files)} files were "
                "uploaded, those in flight were aborted",
            )
        raise
    pool.shutdown(wait=True)
    totals.finish(skipped)
    if totals.failed:
        names = [job.display for job in totals.failed]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise BatchFailed(
            f"{len(names)} of {len(files)} files failed: {shown} (the others were uploaded; "
            "run the same command again for the failed ones)"
        )
