"""Regular files as upload sources: opened with clear errors, read by offset in parallel.

:class:`FileWriter` is the writer's strategy for a file of known size: nothing is held back
(a part can always be read again), each part in flight is read through a
:data:`~s3stream.engine.files.WINDOW`-byte window (for its checksum, then as it is sent), and
before the object is created the file must still be the one the upload started from.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from s3stream.engine.buffers import BufferPool, PoolClosed
from s3stream.engine.files import WINDOW, FileRange, pread_exact
from s3stream.engine.result import UploadResult
from s3stream.engine.writer import MultipartWriter
from s3stream.errors import SourceError
from s3stream.resume.info import SourceFingerprint


def open_regular_file(path: Path) -> int:
    """Open ``path`` for reading; anything but a readable regular file is a SourceError."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file: check the path") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied: check the file's permissions") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot open: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise SourceError(f"{path} is a directory: give a file")
    raise SourceError(f"{path} is not a regular file: use upload_stream for pipes and devices")


class FileWriter(MultipartWriter):
    """Uploads ``size`` bytes of an open file; the parts the ledger holds already (a
    resumed upload's) are not sent again."""

    _fd = -1
    _fingerprint: SourceFingerprint | None = None

    def upload(self, fd: int, fingerprint: SourceFingerprint) -> UploadResult:
        """Send the file's parts and complete, refusing a file that changed meanwhile."""
        self._fd, self._fingerprint = fd, fingerprint
        self._send()
        return self.finish()

    def _send(self) -> None:
        assert self.size is not None, "a file upload needs the file's size"
        size = self.size
        with self._guarded():
            self._check_open()
            window = min(WINDOW, self.ledger.plan.first_part_size)
            self.pool = BufferPool(self.concurrency, window)
            if not self._known_multipart() and self.upload_id is None:
                buf = bytearray(size)
                pread_exact(self._fd, memoryview(buf), 0)
                self._held, self.bytes_in = (buf, size), size
                return
            self._start_multipart()
            for number in list(self.ledger.unsent()):
                offset, length = self.ledger.bounds(number)
                try:
                    part_buf = self.pool.acquire(min(window, length))
                except PoolClosed:
                    self._check_open()
                    raise
                assert part_buf is not None
                source = FileRange(self._fd, offset, length, part_buf)
                self._submit(number, part_buf, length, source)
            self.bytes_in = size

    def _check_source(self) -> None:
        fingerprint = self._fingerprint
        assert fingerprint is not None
        st = os.fstat(self._fd)
        if (st.st_size, st.st_mtime_ns) != (fingerprint.size, fingerprint.mtime_ns):
            raise SourceError(
                f"{fingerprint.path} changed while it was uploaded: upload it again once it "
                "is complete (or use follow mode for a growing file)"
            )
