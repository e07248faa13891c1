"""Regular files as upload sources: opened with clear errors, read by offset in parallel.

:class:`FileWriter` is the writer's strategy for a file of known size: nothing is held back
(a part can always be read again), and each part in flight is read through a
:data:`~s3stream.engine.files.WINDOW`-byte window (for its checksum, then as it is sent).

Before the object is created the file must still be the file the parts came from. Its size,
mtime and inode (the file the path names now) are compared with what they were when the
upload started; when the mtime or the inode moved, every sent part is read again and
compared with its checksum, and the parts that changed are sent again, so the object is the
file as it is at completion. A file whose size changed is refused (nothing is completed).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from s3stream.checksums import ChecksumAlgorithm
from s3stream.engine.buffers import BufferPool, PoolClosed
from s3stream.engine.files import WINDOW, FileRange, pread_exact
from s3stream.engine.result import UploadResult
from s3stream.engine.rewrites import RereadingWriter
from s3stream.errors import SourceError
from s3stream.resume.info import SourceFingerprint

log = logging.getLogger(__name__)


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


class FileWriter(RereadingWriter):
    """Uploads ``size`` bytes of an open file; the parts the ledger holds already (a
    resumed upload's) are not sent again."""

    resumable = True
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
        what = fingerprint.path or "the file"
        fd = replacement = _replacement(self._fd, fingerprint.path)
        if fd is None:
            fd = self._fd
        try:
            st = os.fstat(fd)
            if st.st_size != fingerprint.size:
                grew = st.st_size > (fingerprint.size or 0)
                raise SourceError(
                    f"{what} {'grew' if grew else 'shrank'} from {fingerprint.size} to "
                    f"{st.st_size} bytes while it was uploaded: nothing was completed; upload "
                    "it again once it is complete"
                    + (" (or use follow mode for a growing file)" if grew else "")
                )
            if st.st_mtime_ns == fingerprint.mtime_ns and replacement is None:
                return
            if self.algorithm is ChecksumAlgorithm.NONE:
                raise SourceError(
                    f"{what} changed while it was uploaded, and without part checksums the "
                    "changed parts cannot be found: nothing was completed; upload it again "
                    "once it stops changing (with a checksum, changed parts are sent again)"
                )
            if replacement is not None:
                log.info("%s was replaced while it was uploaded: uploading the new file", what)
            if self.upload_id is None:
                self._reread_single(fd, what)
            else:
                self._settle(fd, what)
        finally:
            if replacement is not None:
                os.close(replacement)


def _replacement(fd: int, path: str | None) -> int | None:
    """A descriptor of the file ``path`` names now when that is no longer the file open at
    ``fd`` (replaced, e.g. saved by an editor through a rename); ``None`` when it is the
    same file or there is none (a file deleted while it is read is still whole at ``fd``)."""
    if path is None:
        return None
    try:
        now = os.stat(path)
    except OSError:
        return None
    held = os.fstat(fd)
    if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino) or not stat.S_ISREG(now.st_mode):
        return None
    try:
        return os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise SourceError(
            f"{path} was replaced while it was uploaded and cannot be read: {exc.strerror}"
        ) from None
