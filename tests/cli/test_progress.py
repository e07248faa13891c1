"""The CLI's reporters in-process: thread safety, throttling and the NDJSON schema."""

from __future__ import annotations

import json
import threading

import pytest

from s3stream.cli.progress import JsonReporter, PlainReporter, Start
from s3stream.engine.progress import Progress
from s3stream.engine.result import UploadResult
from s3stream.errors import UploadFailed

START = Start(
    source="in.bin",
    bucket="bkt",
    key="k",
    total=None,
    part_size=5 << 20,
    concurrency=4,
    parts_total=None,
    checksum_algorithm="crc64nvme",
)


def result(parts: int, size: int) -> UploadResult:
    return UploadResult(
        bucket="bkt",
        key="k",
        etag='"e-4"',
        version_id=None,
        size=size,
        checksum_algorithm="crc64nvme",
        checksum="AAAAAAAAAAA=",
        checksum_type="FULL_OBJECT",
        parts=parts,
        duration=1.5,
        upload_id="up-1",
    )


def test_json_reporter_is_thread_safe_and_complete(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = JsonReporter(upload_id=lambda: "up-1", interval=0.0)
    reporter.start(START)
    threads_n, calls = 8, 200
    counter = iter(range(1, threads_n * calls + 1))
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(calls):
            with lock:
                n = next(counter)
            # parts finish every 10th call; callbacks may arrive out of order
            reporter(Progress(n * 1000, None, n // 10, None, 0.5))

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = threads_n * calls
    reporter(Progress(total * 1000, None, total // 10, None, 1.0, done=True))
    reporter.completed(result(total // 10, total * 1000))
    reporter(Progress(1, None, 0, None, 2.0))  # late: ignored after the outcome
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert found[0]["event"] == "started" and found[-1]["event"] == "completed"
    assert [e["parts_done"] for e in found if e["event"] == "part_done"] == list(
        range(1, total // 10 + 1)
    )
    sent = [e["bytes_sent"] for e in found]
    assert sent == sorted(sent)
    assert all(e["upload_id"] == "up-1" for e in found[1:])
    completed = found[-1]
    assert completed["parts"] == total // 10 and completed["size"] == total * 1000


def test_json_reporter_failed_event(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = JsonReporter()
    reporter.start(START)
    error = UploadFailed("upload failed: boom", bucket="bkt", key="k", upload_id="up-9")
    reporter.failed(error)
    reporter.completed(result(1, 1))  # nothing after the outcome
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in found] == ["started", "failed"]
    failed = found[-1]
    assert failed["upload_id"] == "up-9" and failed["exit_code"] == 1
    assert failed["error"] == "upload failed: boom" and failed["error_type"] == "UploadFailed"


def test_plain_reporter_lines_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = PlainReporter(interval=0.0)
    reporter.start(START)
    reporter(Progress(3 << 20, 6 << 20, 0, 2, 1.0))
    reporter.completed(result(2, 6 << 20))
    captured = capsys.readouterr()
    assert "s3stream: s3://bkt/k: 3.0 MiB / 6.0 MiB (50%), 3.0 MiB/s, ETA 1.0s" in captured.err
    assert captured.out == (
        "uploaded in.bin to s3://bkt/k: 6.0 MiB in 1.5s (4.0 MiB/s), 2 parts, "
        "crc64nvme AAAAAAAAAAA=; not verified by the store: --verify reads it back\n"
    )
