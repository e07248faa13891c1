"""The engine against the in-memory store: state machine, failure paths, back-pressure."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from s3stream import (
    S3StreamUploader,
    SourceError,
    StoreError,
    UploadAborted,
    UploadConfig,
    UploadFailed,
)
from s3stream.checksums import ChecksumAlgorithm
from s3stream.engine.progress import Progress
from s3stream.engine.writer import MultipartWriter
from s3stream.limits import MiB
from s3stream.store.memory import MemoryStore
from s3stream.store.types import OVERWRITE, ObjectInfo, PartRecord, PutMode

PART = 5 * MiB


def writer(store: MemoryStore, size: int | None = None, **options: object) -> MultipartWriter:
    config = UploadConfig().with_options(**{"part_size": PART, "concurrency": 2, **options})
    return MultipartWriter(store, "b", "k", config, size=size, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("size", "calls"),
    [
        (0, ["PutObject"]),
        (1, ["PutObject"]),
        (PART - 1, ["PutObject"]),
        (PART, ["PutObject"]),
        (
            PART + 1,
            ["CreateMultipartUpload", "UploadPart", "UploadPart", "CompleteMultipartUpload"],
        ),
    ],
)
@pytest.mark.parametrize("declared", [True, False])
def test_one_part_is_one_put(size: int, calls: list[str], declared: bool) -> None:
    store = MemoryStore()
    data = os.urandom(size)
    w = writer(store, size if declared else None)
    w.write_from(io.BytesIO(data))
    result = w.finish()
    assert sorted(store.calls) == sorted(calls)
    assert store.data("b", "k") == data
    assert result.size == size
    assert result.parts == (1 if size <= PART else 2)
    assert (result.upload_id is None) == (size <= PART)


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
def test_many_parts_every_checksum(algorithm: ChecksumAlgorithm) -> None:
    store = MemoryStore()
    data = os.urandom(4 * PART + 123)
    w = writer(store, checksum=algorithm)
    for i in range(0, len(data), 300_000):
        w.write(data[i : i + 300_000])
    result = w.finish()
    assert store.data("b", "k") == data
    assert result.parts == 5
    assert result.checksum_algorithm == algorithm.value
    assert (result.checksum is None) == (algorithm is ChecksumAlgorithm.NONE)
    assert store.uploads == {}


def test_source_shorter_than_declared_leaves_nothing() -> None:
    store = MemoryStore()
    w = writer(store, size=3 * PART)
    w.write(os.urandom(2 * PART + 5))
    with pytest.raises(SourceError, match="ended after .* of .* declared bytes") as info:
        w.finish()
    assert info.value.upload_id is not None
    assert store.objects == {} and store.uploads == {}
    assert "AbortMultipartUpload" in store.calls


def test_source_longer_than_declared_leaves_nothing() -> None:
    store = MemoryStore()
    w = writer(store, size=2 * PART)
    with pytest.raises(SourceError, match="longer than the declared size"):
        w.write_from(io.BytesIO(os.urandom(2 * PART + 1)))
    assert store.objects == {} and store.uploads == {}


def test_file_object_longer_than_declared_single_part() -> None:
    store = MemoryStore()
    w = writer(store, size=10)
    with pytest.raises(SourceError, match="longer"):
        w.write_from(io.BytesIO(b"x" * 11))
    assert store.calls == []


def fail_on(operation: str, error: StoreError, times: int = 1_000_000) -> MemoryStore:
    remaining = [times]

    def hook(name: str, args: dict[str, object]) -> None:
        if name == operation and remaining[0] > 0:
            remaining[0] -= 1
            raise error

    return MemoryStore(hook)


def test_fatal_part_error_aborts_and_reports_the_upload() -> None:
    store = fail_on("UploadPart", StoreError("denied", code="AccessDenied", status=403))
    w = writer(store)
    with pytest.raises(UploadFailed, match="AccessDenied|denied") as info:
        w.write(os.urandom(4 * PART))
        w.finish()
    assert info.value.upload_id is not None and info.value.key == "k"
    assert isinstance(info.value.__cause__, StoreError)
    assert store.uploads == {} and store.objects == {}
    assert store.calls.count("UploadPart") <= 2  # fails fast: no retries, no new parts


def test_leave_parts_on_error_keeps_the_upload() -> None:
    store = fail_on("CompleteMultipartUpload", StoreError("denied", code="AccessDenied"))
    w = writer(store, leave_parts_on_error=True)
    w.write(os.urandom(2 * PART + 1))
    with pytest.raises(UploadFailed, match="parts were kept under upload id") as info:
        w.finish()
    assert info.value.parts_left and info.value.upload_id in store.uploads
    assert "AbortMultipartUpload" not in store.calls


@pytest.mark.parametrize("leave", [True, False])
def test_a_part_under_way_when_another_fails_finishes_only_if_parts_are_kept(
    leave: bool,
) -> None:
    """Part 2 fails for good while part 1 is under way, and part 1's first attempt then meets
    a transient error: with the parts kept for a resume, part 1 is retried and kept (the
    resume starts after it); otherwise it gives up at once, as the upload is aborted anyway."""
    part2_failed = threading.Event()
    attempts = {1: 0, 2: 0}

    def hook(name: str, args: dict[str, object]) -> None:
        if name != "UploadPart":
            return
        number = args["part_number"]
        assert number in attempts
        attempts[number] += 1
        if number == 2:
            part2_failed.set()
            raise StoreError("denied", code="AccessDenied", status=403)
        if attempts[1] == 1:
            assert part2_failed.wait(5)
            deadline = time.monotonic() + 5
            while (
                w.scheduler.error is None
            ):  # part 1 decides on its retry once part 2's failure is in
                assert time.monotonic() < deadline
                time.sleep(0.001)
            raise StoreError("slow", code="SlowDown", status=503, retryable=True)

    store = MemoryStore(hook)
    w = writer(store, leave_parts_on_error=leave)
    with pytest.raises(UploadFailed, match="denied") as info:
        w.write(os.urandom(2 * PART))
        w.finish()
    assert attempts == {1: 2 if leave else 1, 2: 1}
    if leave:
        upload = store.uploads[info.value.upload_id or ""]
        assert sorted(upload.parts) == [1]
    else:
        assert store.uploads == {}


def test_transient_errors_are_retried_from_the_kept_buffer() -> None:
    slow = StoreError("slow", code="SlowDown", status=503, retryable=True)
    store = fail_on("UploadPart", slow, times=5)
    data = os.urandom(3 * PART)
    w = writer(store)
    w.write(data)
    w.finish()
    assert store.data("b", "k") == data
    assert store.calls.count("UploadPart") == 3 + 5


def test_gives_up_after_max_attempts() -> None:
    store = fail_on("PutObject", StoreError("x", code="InternalError", status=500, retryable=True))
    w = writer(store)
    w.write(b"abc")
    with pytest.raises(UploadFailed):
        w.finish()
    assert store.calls.count("PutObject") == UploadConfig().retry.max_attempts


class LostCompleteReply(MemoryStore):
    """Completes the upload, then loses the reply once (a reset after the server acted)."""

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[PartRecord],
        *,
        checksum: ChecksumAlgorithm,
        checksum_value: str | None,
        mode: PutMode = OVERWRITE,
    ) -> ObjectInfo:
        info = super().complete_multipart_upload(
            bucket,
            key,
            upload_id,
            parts,
            checksum=checksum,
            checksum_value=checksum_value,
            mode=mode,
        )
        if self.calls.count("CompleteMultipartUpload") == 1:
            raise StoreError("reset", code="ConnectionClosedError", retryable=True)
        return info


def test_a_completion_whose_reply_was_lost_is_recognised() -> None:
    store = LostCompleteReply()
    data = os.urandom(2 * PART)
    w = writer(store)
    w.write(data)
    result = w.finish()
    assert store.data("b", "k") == data
    assert result.checksum == store.objects[("b", "k")].info.checksum
    assert "HeadObject" in store.calls


class GatedStore(MemoryStore):
    """Parts wait for a gate: lets a test hold uploads in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def upload_part(self, *args: object, **kwargs: object) -> PartRecord:
        assert self.gate.wait(10)
        return super().upload_part(*args, **kwargs)  # type: ignore[arg-type]


def test_back_pressure_bounds_buffered_bytes() -> None:
    store = GatedStore()
    w = writer(store)  # concurrency 2 → 3 buffers
    chunk = os.urandom(1 * MiB)
    written = [0]

    def produce() -> None:
        for _ in range(20 * 5):  # 20 parts
            w.write(chunk)
            written[0] += len(chunk)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(0.5)
    assert producer.is_alive(), "the writer should block while parts are in flight"
    # part 1 promoted + 2 in flight + 1 filling; 1 more MiB cannot land anywhere
    assert written[0] <= 4 * PART
    assert w.pool.peak_bytes <= 3 * PART
    store.gate.set()
    producer.join(10)
    w.finish()
    assert w.pool.peak_bytes <= 3 * PART
    assert len(store.data("b", "k")) == 100 * MiB


def test_abort_wakes_a_blocked_writer_and_aborts_remotely() -> None:
    store = GatedStore()
    w = writer(store)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            while True:
                w.write(b"x" * MiB)
        except BaseException as exc:
            errors.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(0.3)
    store.gate.set()  # let in-flight parts end so abort's shutdown can finish
    w.abort()
    producer.join(5)
    assert not producer.is_alive()
    assert isinstance(errors[0], UploadAborted)
    assert store.uploads == {} and store.objects == {}
    with pytest.raises(UploadAborted):
        w.finish()


def test_progress_is_throttled_and_ends_with_a_final_event() -> None:
    store = MemoryStore()
    now = [0.0]
    events: list[Progress] = []
    config = UploadConfig(part_size=PART, concurrency=1, progress_interval=1.0)
    w = MultipartWriter(
        store, "b", "k", config, size=4 * PART, on_progress=events.append, clock=lambda: now[0]
    )
    for _ in range(4):
        w.write(b"x" * PART)
        now[0] += 0.25
    w.finish()
    final = events[-1]
    assert final.done and final.bytes_sent == 4 * PART and final.percent == 100.0
    assert final.parts_done == 4 and final.parts_total == 4
    # byte progress is throttled (1 s over 1 s of uploads); every part is reported
    parts_seen = [e.parts_done for e in events if not e.done]
    assert sorted(set(parts_seen) - {0}) == [1, 2, 3, 4]
    assert len(parts_seen) - 4 <= 2
    assert sum(e.done for e in events) == 1


def test_progress_eta_and_rate() -> None:
    p = Progress(bytes_sent=50, total=200, parts_done=1, parts_total=4, elapsed=5.0)
    assert p.rate == 10.0 and p.eta == 15.0 and p.percent == 25.0
    assert Progress(0, None, 0, None, 0.0).eta is None


def test_session_context_manager_aborts_on_exception() -> None:
    store = MemoryStore()
    uploader = S3StreamUploader(store=store)
    with pytest.raises(RuntimeError), uploader.open_upload("bucket", "key", part_size=PART) as s:
        s.write(os.urandom(3 * PART))
        raise RuntimeError("producer crashed")
    assert store.uploads == {} and store.objects == {}


def test_session_async_twins() -> None:
    store = MemoryStore()
    uploader = S3StreamUploader(store=store)
    data = os.urandom(3 * PART + 7)

    async def main() -> None:
        session = uploader.open_upload("bucket", "key", part_size=PART)
        for i in range(0, len(data), 65536):
            await session.awrite(data[i : i + 65536])
        await session.afinish()

    asyncio.run(main())
    assert store.data("bucket", "key") == data


def test_async_iterable_source() -> None:
    store = MemoryStore()
    uploader = S3StreamUploader(store=store)
    data = os.urandom(2 * PART + 1)

    async def chunks() -> object:
        for i in range(0, len(data), 100_000):
            yield data[i : i + 100_000]

    result = uploader.upload_stream(chunks(), "bucket", "key", part_size=PART)
    assert store.data("bucket", "key") == data and result.parts == 3


def test_no_clobber_on_single_put() -> None:
    store = MemoryStore()
    uploader = S3StreamUploader(store=store)
    uploader.upload_stream([b"one"], "bucket", "key")
    with pytest.raises(UploadFailed, match="PreconditionFailed|exists"):
        uploader.upload_stream([b"two"], "bucket", "key", no_clobber=True)
    assert store.data("bucket", "key") == b"one"


def test_a_stream_beyond_the_plan_capacity_fails_cleanly() -> None:
    store = MemoryStore()
    w = writer(store, max_parts=2, equal_parts=True)
    with pytest.raises(SourceError, match="the most 2 parts can carry"):
        w.write(os.urandom(2 * PART + 1))
    assert store.uploads == {} and store.objects == {}
    assert "AbortMultipartUpload" in store.calls


def test_a_failing_reader_aborts_the_upload() -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            self.calls += 1
            if self.calls > 3:
                raise OSError(5, "Input/output error")
            n = min(len(buffer), 3 * MiB)
            buffer[:n] = b"x" * n
            return n

    store = MemoryStore()
    w = writer(store)
    with pytest.raises(SourceError, match="reading the source failed"):
        w.write_from(Broken())
    assert store.uploads == {} and store.objects == {}


def test_keyboard_interrupt_aborts_and_propagates() -> None:
    store = MemoryStore()
    uploader = S3StreamUploader(store=store)

    def chunks() -> Iterator[bytes]:
        yield os.urandom(3 * PART)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        uploader.upload_stream(chunks(), "bucket", "key", part_size=PART)
    assert store.uploads == {} and "AbortMultipartUpload" in store.calls


def test_leave_parts_on_error_holds_for_a_failing_producer() -> None:
    store = MemoryStore()
    uploader = S3StreamUploader(store=store)

    def chunks() -> Iterator[bytes]:
        yield os.urandom(3 * PART)
        raise RuntimeError("the producer crashed")

    with pytest.raises(UploadFailed, match="the producer crashed") as info:
        uploader.upload_stream(chunks(), "bucket", "key", part_size=PART, leave_parts_on_error=True)
    assert info.value.parts_left and info.value.upload_id in store.uploads
    assert isinstance(info.value.__cause__, RuntimeError)


def test_part_done_is_reported_even_inside_the_throttle_interval() -> None:
    store = MemoryStore()
    events: list[Progress] = []
    config = UploadConfig(part_size=PART, concurrency=1, progress_interval=3600)
    w = MultipartWriter(store, "b", "k", config, on_progress=events.append, clock=lambda: 0.0)
    w.write(os.urandom(3 * PART + 1))
    w.finish()
    assert {e.parts_done for e in events if not e.done} >= {1, 2, 3, 4}
    assert all(e.upload_id == w.upload_id for e in events if e.parts_done)


def test_memory_stays_flat_when_unknown_length_parts_grow() -> None:
    """Parts double every 2 parts here; the buffers stay within the first parts' budget."""
    store = MemoryStore()
    w = writer(store, max_parts=20, concurrency=4)  # budget: 5 x 5 MiB
    assert w.plan.part_size(5) == 4 * PART
    data = os.urandom(14 * PART)  # parts of 5, 5, 10, 10, 20, 20 MiB
    for i in range(0, len(data), MiB):
        w.write(data[i : i + MiB])
    w.finish()
    assert store.data("b", "k") == data
    # without a byte budget 5 buffers of 20 MiB would be held; two of the largest at most
    assert w.pool.peak_bytes <= max(5 * PART, 2 * 4 * PART)
