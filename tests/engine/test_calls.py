"""MultipartCalls against the in-memory store: when an outage budget applies, and a file part
whose bytes change while it is sent."""

from __future__ import annotations

import os

import pytest

from s3stream import RetryPolicy, StoreError
from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.engine.calls import SOURCE_REREADS, MultipartCalls
from s3stream.limits import MiB
from s3stream.store.attributes import ObjectOptions
from s3stream.store.memory import MemoryStore

CRC = ChecksumAlgorithm.CRC64NVME


def calls_on(store: MemoryStore, policy: RetryPolicy) -> MultipartCalls:
    return MultipartCalls(store, "b", "k", algorithm=CRC, retry=policy, sleep=lambda s: None)


def test_retry_for_applies_once_the_store_has_answered() -> None:
    """A store never reached fails after the attempts (a wrong endpoint is no outage);
    once it answered, failures are retried for ``retry_for``, however many they are."""
    failing: dict[str, int] = {"CreateMultipartUpload": 99}

    def hook(operation: str, args: dict[str, object]) -> None:
        if failing.get(operation, 0) > 0:
            failing[operation] -= 1
            raise StoreError("refused", code="EndpointConnectionError", retryable=True)

    store = MemoryStore(hook)
    calls = calls_on(store, RetryPolicy(max_attempts=3, retry_for=3600))
    with pytest.raises(StoreError):
        calls.create(ObjectOptions())
    assert store.calls.count("CreateMultipartUpload") == 3 and not calls.reached

    failing["CreateMultipartUpload"] = 0
    upload_id = calls.create(ObjectOptions())
    assert calls.reached
    failing["UploadPart"] = 10  # more failures than the policy's 3 attempts
    part = calls.put_part(upload_id, 1, memoryview(os.urandom(1000)))
    assert part.number == 1 and store.calls.count("UploadPart") == 11


class ChangingSource:
    """A file part whose bytes change after the first read (a file written in place while
    the part is checksummed, then sent)."""

    def __init__(self, before: bytes, after: bytes, reads_before: int = 1) -> None:
        self.size = len(before)
        self._versions = (before, after)
        self._reads_left = reads_before
        self.reads = 0

    def wait_view(self, start: int, limit: int) -> memoryview:
        if start == 0:
            self.reads += 1
        version = self._versions[0 if self.reads <= self._reads_left else 1]
        return memoryview(version)[start : start + limit]


def test_a_file_part_changed_while_it_is_sent_is_read_and_sent_again() -> None:
    store = MemoryStore()
    calls = calls_on(store, RetryPolicy(max_attempts=1))
    upload_id = calls.create(ObjectOptions())
    before, after = os.urandom(MiB), os.urandom(MiB)
    source = ChangingSource(before, after)
    part = calls.put_part(upload_id, 1, source)
    assert store.uploads[upload_id].parts[1][0] == after
    sent = digest(CRC, after)
    assert sent is not None
    assert part.checksum == encode(CRC, sent)  # what went out, not the first read
    assert source.reads == 4  # checksum, send (BadDigest), checksum again, send


def test_a_file_part_that_keeps_changing_fails() -> None:
    store = MemoryStore()
    calls = calls_on(store, RetryPolicy(max_attempts=1))
    upload_id = calls.create(ObjectOptions())

    class Flapping(ChangingSource):
        def wait_view(self, start: int, limit: int) -> memoryview:
            if start == 0:
                self.reads += 1
            version = self._versions[self.reads % 2]
            return memoryview(version)[start : start + limit]

    source = Flapping(os.urandom(1000), os.urandom(1000))
    with pytest.raises(StoreError, match="checksum mismatch"):
        calls.put_part(upload_id, 1, source)
    assert store.calls.count("UploadPart") == SOURCE_REREADS + 1
