"""Growing files (a recording): uploaded while they are written, completed once finished.

:class:`FollowWriter` reads the file by offset straight into part buffers as it grows
(through :class:`GrowingFile`), so a part goes out as soon as it is full. At the end of the
file it polls until the file grows again; after ``idle`` seconds without growth, or once
``stop()`` says so, it completes with what the file holds then.

Muxers go back, when they finish, to bytes they wrote long before (MP4's ``mdat`` size,
Matroska's segment size, seek head and cues). Before completing, and whenever the file has
changed and then paused for a second, every sent part is read again and compared with its
checksum, and the parts that changed are sent again under their numbers
(:class:`~s3stream.engine.rewrites.RereadingWriter`): the object is the finished file byte
for byte. A file that shrinks, or is deleted or replaced while it is followed, is a
:class:`SourceError`: the upload is aborted and nothing is completed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from s3stream.checksums import ChecksumAlgorithm
from s3stream.engine.result import UploadResult
from s3stream.engine.rewrites import RereadingWriter
from s3stream.errors import ConfigError, SourceError

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.2
"""Seconds between looks at a file that is not growing."""
RECHECK_AFTER = 1.0
"""Seconds a changed file must pause before its sent parts are compared with it again."""
IDENTITY_INTERVAL = 1.0
"""Seconds between checks, while the file grows, that the path still names it."""
POLL_READ = 1 << 20
"""What ``read()`` without a size asks for."""

Note = Callable[[str], None]


class GrowingFile:
    """A file object over the file open at ``fd`` that is still being written.

    ``readinto`` returns what the file holds beyond what was read, waits while it does not
    grow, and returns 0 (the end) after ``idle`` seconds without growth or, once ``stop()``
    returns true, at the size the file had then. While it waits it calls ``on_pause`` (at
    most every :data:`POLL_INTERVAL`) once the file has not grown for
    :data:`RECHECK_AFTER` seconds.
    """

    def __init__(
        self,
        fd: int,
        path: Path,
        *,
        idle: float,
        stop: Callable[[], bool],
        on_pause: Callable[[], None],
        note: Note,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.fd = fd
        self.path = path
        self.idle = idle
        self._stop = stop
        self._on_pause = on_pause
        self._note = note
        self._clock = clock
        self._sleep = sleep
        self.offset = 0
        self.stop_at: int | None = None
        held = os.fstat(fd)
        self._identity = (held.st_dev, held.st_ino)
        self._identity_checked = clock()

    def readinto(self, window: memoryview) -> int:
        last_growth = self._clock()
        while True:
            if self.stop_at is None and self._stop():
                self.stop_at = max(self.offset, os.fstat(self.fd).st_size)
                self._note(f"finishing: uploading the {self.stop_at} bytes {self.path} holds")
            want = len(window)
            if self.stop_at is not None:
                want = min(want, self.stop_at - self.offset)
                if want <= 0:
                    return 0
            n = self._read(window[:want])
            if n:
                self.offset += n
                if self._clock() - self._identity_checked >= IDENTITY_INTERVAL:
                    self.check_identity()
                return n
            size = os.fstat(self.fd).st_size
            if size < self.offset:
                raise self.shrank(size)
            if self.stop_at is not None:  # truncated below the stop mark: what is there
                return 0
            self.check_identity()
            paused = self._clock() - last_growth
            if paused >= self.idle:
                log.info("%s has not grown for %.1fs: completing", self.path, paused)
                return 0
            if paused >= RECHECK_AFTER:
                self._on_pause()
            self._sleep(POLL_INTERVAL)

    def read(self, size: int = -1, /) -> bytes:
        buf = bytearray(size if size > 0 else POLL_READ)
        return bytes(buf[: self.readinto(memoryview(buf))])

    def _read(self, window: memoryview) -> int:
        try:
            return os.preadv(self.fd, [window], self.offset)
        except OSError as exc:
            raise SourceError(f"reading {self.path} failed: {exc.strerror}") from exc

    def shrank(self, size: int) -> SourceError:
        return SourceError(
            f"{self.path} shrank from {self.offset} to {size} bytes while it was followed "
            "(truncated or rewritten): nothing was completed; upload it again once it is "
            "finished"
        )

    def check_identity(self) -> None:
        """Raise :class:`SourceError` when the path no longer names the followed file."""
        self._identity_checked = self._clock()
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) != self._identity:
            raise SourceError(
                f"{self.path} was replaced by another file while it was followed: nothing "
                "was completed; upload the file that is there now as a new upload"
            )
        if now is None or os.fstat(self.fd).st_nlink == 0:
            raise SourceError(
                f"{self.path} was deleted or moved away while it was followed: nothing was "
                "completed; keep a file in place until it is uploaded, then upload it again"
            )


class FollowWriter(RereadingWriter):
    """Uploads a file that is still being written (see the module's description)."""

    _fd = -1
    _file: GrowingFile | None = None
    _checked_mtime: int | None = None

    def follow(
        self,
        fd: int,
        path: Path,
        *,
        idle: float,
        stop: Callable[[], bool] | None = None,
        note: Note | None = None,
    ) -> UploadResult:
        """Upload the file open at ``fd`` (named ``path``) as it grows, and complete it."""
        if self.algorithm is ChecksumAlgorithm.NONE:
            raise ConfigError(
                "follow mode finds the parts a writer changed by their checksums: "
                "choose a checksum other than none"
            )
        if isinstance(idle, bool) or not isinstance(idle, int | float) or not idle > 0:
            raise ConfigError(f"idle must be a positive number of seconds, not {idle!r}")
        self._fd = fd
        self._file = GrowingFile(
            fd,
            path,
            idle=idle,
            stop=stop or (lambda: False),
            on_pause=self._recheck,
            note=note or (lambda message: None),
            clock=self._clock,
            sleep=self._sleep,
        )
        return self.consume(self._file)

    def _recheck(self) -> None:
        """While the file pauses: compare the sent parts with it once after each change,
        and send the changed ones again (so that completion has little left to do)."""
        mtime = os.fstat(self._fd).st_mtime_ns
        if self.upload_id is None or mtime == self._checked_mtime:
            return
        self._checked_mtime = mtime
        self.scheduler.wait()
        if self.scheduler.error is not None:
            raise self.scheduler.error
        self._resend(self._fd, self._changed_parts(self._fd))

    def _check_source(self) -> None:
        file = self._file
        assert file is not None
        file.check_identity()
        size = os.fstat(self._fd).st_size
        if size < self.bytes_in:
            raise file.shrank(size)
        what = str(file.path)
        if self.upload_id is None:
            self._reread_single(self._fd, what)
        else:
            self._settle(self._fd, what)
