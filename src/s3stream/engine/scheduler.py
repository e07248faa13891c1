"""Parts in flight: at most ``concurrency`` at a time, each retried, recorded and released.

The :class:`~s3stream.engine.writer.MultipartWriter` cuts the bytes into parts; a
:class:`PartScheduler` sends them in worker threads through
:class:`~s3stream.engine.calls.MultipartCalls`. A part counts once the store acknowledged it
and the journal recorded it; then it goes into the :class:`~s3stream.engine.ledger.PartLedger`
and its buffer back to the pool. The first failure is kept; after it, parts give up at once
when the upload will be aborted, and run to their end (retries included) when its parts are
kept for a resume, so the resume has as many as possible.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from s3stream.engine.calls import MultipartCalls
from s3stream.engine.files import FileRange
from s3stream.engine.journaling import JournalWriter
from s3stream.engine.ledger import PartLedger
from s3stream.engine.progress import ProgressTracker

log = logging.getLogger(__name__)


class PartScheduler:
    """Sends parts of the upload ``upload_id`` (set by :meth:`start`).

    ``release`` takes a part's buffer back once the part is done, ``on_failure`` is called
    when a part fails (the writer closes its pool, waking a producer blocked on it).
    """

    def __init__(
        self,
        calls: MultipartCalls,
        ledger: PartLedger,
        journal: JournalWriter,
        progress: ProgressTracker,
        concurrency: int,
        *,
        keep_parts: bool,
        release: Callable[[bytearray], None],
        on_failure: Callable[[], None],
    ) -> None:
        self.calls = calls
        self.ledger = ledger
        self.journal = journal
        self.progress = progress
        self.concurrency = concurrency
        self.keep_parts = keep_parts
        self._release = release
        self._on_failure = on_failure
        self.upload_id: str | None = None
        self.error: BaseException | None = None
        """The first failure of a part (or of the upload, set by the writer)."""
        self.aborted = False
        self._executor: ThreadPoolExecutor | None = None
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._paused = False
        self._pause = threading.Condition()

    def start(self, upload_id: str) -> None:
        self.upload_id = upload_id
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3stream-part")

    def fail(self, exc: BaseException) -> BaseException:
        """Keep ``exc`` as the failure unless there is one already; return the first."""
        with self._lock:
            if self.error is None:
                self.error = exc
            return self.error

    def stopping(self) -> bool:
        """Whether parts should give up: on abort, or on a failure unless parts are kept."""
        if self.aborted:
            return True
        return self.error is not None and not self.keep_parts

    # ------------------------------------------------------------------ pause

    def set_paused(self, paused: bool) -> None:
        with self._pause:
            self._paused = paused
            self._pause.notify_all()

    def abort(self) -> None:
        """Stop: no part starts any more, and a submitter waiting on a pause wakes up."""
        self.aborted = True
        with self._pause:
            self._pause.notify_all()

    def wait_unpaused(self) -> None:
        with self._pause:
            self._pause.wait_for(lambda: not self._paused or self.aborted)

    # ------------------------------------------------------------------ parts

    def submit(
        self, number: int, buf: bytearray, length: int, source: FileRange | None = None
    ) -> None:
        """Send ``buf[:length]`` as part ``number``, or ``source`` (``buf`` its window)."""
        assert self._executor is not None, "start() first"
        future = self._executor.submit(self._send, number, buf, length, source)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _send(self, number: int, buf: bytearray, length: int, source: FileRange | None) -> None:
        body: memoryview | FileRange = memoryview(buf)[:length] if source is None else source
        try:
            if self.stopping():
                return
            assert self.upload_id is not None
            part = self.calls.put_part(self.upload_id, number, body, self.progress.sent)
            self.journal.part_done(self.upload_id, part)
            self.ledger.record(part)
            self.progress.part_done()
            log.debug("part %d done (%d bytes)", number, length)
        except BaseException as exc:
            self.fail(exc)
            self._on_failure()
        finally:
            if isinstance(body, memoryview):
                body.release()
            self._release(buf)

    def wait(self) -> None:
        """Wait until no part is in flight."""
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                return
            for future in pending:
                future.result()

    def shutdown(self) -> None:
        """Wait for the worker threads to end (parts not started are dropped)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
