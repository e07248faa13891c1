"""The bandwidth limit: a token bucket on an injected clock (no real sleeping), the
engine's bodies drawing from it, and one real upload that keeps to a rate."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from s3stream import S3StreamUploader, UploadConfig
from s3stream.embedded import EmbeddedS3
from s3stream.engine.bandwidth import TokenBucket
from s3stream.engine.writer import MultipartWriter
from s3stream.limits import KiB, MiB
from s3stream.store.memory import MemoryStore
from tests.support.cli import fetch


class FakeTime:
    """A clock that moves only when something sleeps (shared by threads)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def test_the_bucket_lets_a_burst_through_then_holds_the_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(1000, burst=250, clock=t.clock, sleep=t.sleep)
    assert bucket.take(250) == 0.0  # the burst
    assert bucket.take(500) == pytest.approx(0.5)
    for _ in range(10):
        bucket.take(100)
    assert t.now == pytest.approx((250 + 500 + 1000 - 250) / 1000)
    assert bucket.take(0) == 0.0 and bucket.take(-5) == 0.0  # taken-back bytes cost nothing


def test_senders_in_several_threads_share_the_rate() -> None:
    bucket = TokenBucket(4 * MiB, burst=0)
    sent = 0
    lock = threading.Lock()

    def send() -> None:
        nonlocal sent
        for _ in range(8):
            bucket.take(64 * KiB)
            with lock:
                sent += 64 * KiB

    started = time.monotonic()
    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert sent == 2 * MiB
    assert elapsed >= 0.45  # 2 MiB at 4 MiB/s, whatever the threads


def test_send_blocks_shrink_with_the_rate() -> None:
    assert TokenBucket(1 * MiB).send_block == 64 * KiB
    assert TokenBucket(64 * KiB).send_block == 16 * KiB
    assert TokenBucket(100 * MiB).send_block == MiB


def test_an_upload_sends_at_the_bucket_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(1 * MiB, burst=0, clock=t.clock, sleep=t.sleep)
    store = MemoryStore()
    config = UploadConfig(part_size=5 * MiB, concurrency=2)
    writer = MultipartWriter(store, "bkt", "k", config, throttle=bucket, sleep=t.sleep)
    writer.consume([b"x" * (12 * MiB)])
    assert store.data("bkt", "k") == b"x" * (12 * MiB)
    assert sum(t.slept) == pytest.approx(12.0)  # 12 MiB at 1 MiB/s, parts and all


def test_a_real_upload_keeps_to_its_limit(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str
) -> None:
    """Loose bounds: the point is that the limit holds (the store alone takes ~0.1 s)."""
    uploader = S3StreamUploader(
        client=s3server.client(), journal=False, config=UploadConfig(max_bandwidth=2 * MiB)
    )
    data = os.urandom(7 * MiB)
    started = time.monotonic()
    result = uploader.upload_stream([data], bucket, unique_key, part_size=5 * MiB)
    elapsed = time.monotonic() - started
    assert result.parts == 2
    assert fetch(s3client, bucket, unique_key) == data
    assert 3.0 <= elapsed <= 15.0, elapsed  # (7 MiB - a 0.5 MiB burst) / 2 MiB/s = 3.25 s
