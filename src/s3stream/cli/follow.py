"""``cp --follow``: upload a file while it is being written (a recording), as it grows.

The file is read by offset (``os.preadv``) into one reusable 1 MiB buffer and pushed into a
library upload session, which sends a part as soon as one is full. At the end of the file it
polls (every 0.2 s) until the file grows again; after ``idle`` seconds without growth, or on
the first Ctrl-C, it reads what the file holds at that moment and completes the object. A
file that gets shorter was truncated or rewritten: the upload is aborted (exit 1).
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s3stream.cli.common import EXIT_OK, S3Url, UsageError, format_duration
from s3stream.cli.interrupts import Interrupts
from s3stream.cli.progress import Mode, make_reporter, start_info
from s3stream.engine.result import UploadResult
from s3stream.errors import S3StreamError, SourceError
from s3stream.limits import MiB
from s3stream.session import UploadSession
from s3stream.uploader import S3StreamUploader

log = logging.getLogger(__name__)

READ_SIZE = 1 * MiB
POLL_INTERVAL = 0.2


class Follower:
    """Pushes a growing file into ``session`` until it stops growing or is told to finish."""

    def __init__(
        self,
        fd: int,
        path: Path,
        session: UploadSession,
        *,
        idle: float,
        note: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.fd = fd
        self.path = path
        self.session = session
        self.idle = idle
        self._note = note
        self._clock = clock
        self._sleep = sleep
        self.offset = 0
        self.stop_requested = False
        self._stop_at: int | None = None
        self._replaced_noted = False

    def request_stop(self, signum: int = 0) -> None:
        """Finish with what the file holds now (safe from a signal handler: sets a flag)."""
        self.stop_requested = True

    def run(self) -> UploadResult:
        buffer = bytearray(READ_SIZE)
        view = memoryview(buffer)
        last_growth = self._clock()
        while True:
            if self.stop_requested and self._stop_at is None:
                self._stop_at = os.fstat(self.fd).st_size
                self._note(
                    f"finishing: uploading the {self._stop_at} bytes {self.path} holds "
                    "(Ctrl-C again to abort)"
                )
            want = READ_SIZE
            if self._stop_at is not None:
                want = min(want, self._stop_at - self.offset)
                if want <= 0:
                    break
            n = self._read(view[:want])
            if n:
                self.session.write(view[:n])
                self.offset += n
                last_growth = self._clock()
                continue
            size = os.fstat(self.fd).st_size
            if size < self.offset:
                raise SourceError(
                    f"{self.path} shrank from {self.offset} to {size} bytes while it was followed "
                    "(truncated or rewritten): the upload was aborted"
                )
            if self._stop_at is not None:  # the file was truncated below the stop mark
                break
            if self._clock() - last_growth >= self.idle:
                log.info("%s has not grown for %s: completing", self.path, self.idle)
                break
            self._check_replaced()
            self._sleep(POLL_INTERVAL)
        return self.session.finish()

    def _read(self, window: memoryview) -> int:
        try:
            return os.preadv(self.fd, [window], self.offset)
        except OSError as exc:
            raise SourceError(f"reading {self.path} failed: {exc.strerror}") from exc

    def _check_replaced(self) -> None:
        if self._replaced_noted:
            return
        try:
            current = os.stat(self.path)
        except OSError:
            current = None
        held = os.fstat(self.fd)
        if current is None or (current.st_dev, current.st_ino) != (held.st_dev, held.st_ino):
            self._replaced_noted = True
            self._note(f"{self.path} was moved or replaced: still following the original file")


def follow_upload(
    uploader: S3StreamUploader,
    path: Path,
    dst: S3Url,
    options: dict[str, Any],
    mode: Mode,
    *,
    idle: float,
) -> int:
    options = dict(options)
    if options.get("content_type") is None:
        options["content_type"] = mimetypes.guess_type(path.name)[0]
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    try:
        reporter = make_reporter(mode)
        session = uploader.open_upload(dst.bucket, dst.key, on_progress=reporter, **options)
        reporter.upload_id_source = lambda: session.upload_id
        reporter.start(start_info(str(path), dst.bucket, dst.key, None, options))
        follower = Follower(fd, path, session, idle=idle, note=reporter.note)
        reporter.note(
            f"following {path}: completing after {format_duration(idle)} without growth; "
            "Ctrl-C to complete now, twice to abort"
        )
        # the handlers stay installed during the abort: one more Ctrl-C then exits at once
        with Interrupts(on_first=follower.request_stop, upload_id=lambda: session.upload_id):
            try:
                result = follower.run()
            except BaseException as exc:
                with contextlib.suppress(S3StreamError):
                    session.abort()
                if isinstance(exc, KeyboardInterrupt) and not exc.args:
                    exc.args = ("the upload was stopped and aborted",)
                reporter.failed(exc)
                raise
        reporter.completed(result)
        return EXIT_OK
    finally:
        os.close(fd)
