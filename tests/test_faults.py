"""Retries through a fault-injecting proxy in front of the real store: objects stay intact."""

from __future__ import annotations

import io
import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3stream import RetryPolicy, S3StreamUploader, UploadFailed
from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from s3stream.store.boto import make_client
from tests.support.faultproxy import Fault, FaultProxy, RequestInfo
from tests.support.native import native_store

PART = 5 * MiB
FAST_RETRY = RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.2)

FAULTS = [
    lambda: Fault.reply(503, "SlowDown", "Please reduce your request rate."),
    lambda: Fault.reset_before(),
    lambda: Fault.reset_mid_body(1_500_000),
    lambda: Fault.reply(500, "InternalError", "We encountered an internal error."),
    lambda: Fault.truncate_response(0),  # the store acted, the reply is lost
    lambda: Fault.stall(2.5),  # longer than the client's read timeout
]


def rotating_faults(every: int) -> Any:
    """Every ``every``-th upload request (PUT, or POST completing) gets the next fault."""
    counter = itertools.count(1)
    kinds = itertools.cycle(FAULTS)
    lock = threading.Lock()

    def policy(request: RequestInfo) -> Fault | None:
        upload = request.method == "PUT" or "uploadId=" in request.path
        if not upload or request.method == "DELETE":
            return None
        with lock:
            if next(counter) % every:
                return None
            return next(kinds)()

    return policy


@pytest.fixture
def proxy(s3server: EmbeddedS3) -> Iterator[FaultProxy]:
    with FaultProxy(s3server.endpoint_url) as running:
        yield running


@pytest.fixture(params=["botocore", "native"])
def transport(request: pytest.FixtureRequest) -> str:
    """Each fault is met by both transports."""
    return str(request.param)


def uploader_via(proxy: FaultProxy, s3server: EmbeddedS3, transport: str) -> S3StreamUploader:
    if transport == "native":
        store = native_store(
            s3server, endpoint_url=proxy.url, read_timeout=1.0, connect_timeout=2.0
        )
        return S3StreamUploader(store=store, store_profile="seaweedfs")
    client = make_client(
        endpoint_url=proxy.url,
        region=s3server.region,
        access_key=s3server.access_key,
        secret_key=s3server.secret_key,
        read_timeout=1.0,
        connect_timeout=2.0,
    )
    return S3StreamUploader(client=client, store_profile="seaweedfs")


def no_uploads_left(client: Any, bucket: str, key: str) -> bool:
    return not client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads")


@pytest.mark.slow
def test_file_stream_and_session_survive_resets_throttles_and_lost_replies(
    transport: str,
    proxy: FaultProxy,
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
) -> None:
    proxy.policy = rotating_faults(every=2)
    uploader = uploader_via(proxy, s3server, transport)
    data = os.urandom(8 * PART + 12345)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    options: dict[str, Any] = {"part_size": PART, "concurrency": 3, "retry": FAST_RETRY}

    uploader.upload_file(path, bucket, f"{unique_key}-file", **options)
    uploader.upload_stream(io.BytesIO(data), bucket, f"{unique_key}-stream", **options)
    with uploader.open_upload(bucket, f"{unique_key}-session", **options) as session:
        for i in range(0, len(data), 1_000_000):
            session.write(data[i : i + 1_000_000])
    uploader.upload_stream([data[:1000]], bucket, f"{unique_key}-small", **options)

    kinds = {fault.kind for fault in proxy.injected}
    assert kinds == {"reply", "reset_before", "reset_mid_body", "truncate_response", "stall"}
    assert len(proxy.injected) >= 12
    for name, expected in [
        ("file", data),
        ("stream", data),
        ("session", data),
        ("small", data[:1000]),
    ]:
        body = s3client.get_object(Bucket=bucket, Key=f"{unique_key}-{name}")["Body"].read()
        assert body == expected, name
        assert no_uploads_left(s3client, bucket, f"{unique_key}-{name}")


def test_a_lost_completion_reply_is_recognised(
    proxy: FaultProxy,
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    transport: str,
) -> None:
    """The store completes the upload but the reply is cut: the retry must not fail it."""
    lost = [False]

    def policy(request: RequestInfo) -> Fault | None:
        if request.method == "POST" and "uploadId=" in request.path and not lost[0]:
            lost[0] = True
            return Fault.truncate_response(0)
        return None

    proxy.policy = policy
    data = os.urandom(2 * PART + 1)
    result = uploader_via(proxy, s3server, transport).upload_stream(
        [data], bucket, unique_key, part_size=PART, retry=FAST_RETRY
    )
    assert lost[0]
    assert s3client.get_object(Bucket=bucket, Key=unique_key)["Body"].read() == data
    head = s3client.head_object(Bucket=bucket, Key=unique_key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == result.checksum


def test_a_fatal_reply_fails_fast_and_aborts(
    proxy: FaultProxy,
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    transport: str,
) -> None:
    def policy(request: RequestInfo) -> Fault | None:
        if request.method == "PUT":
            return Fault.reply(403, "AccessDenied", "Access Denied")
        return None

    proxy.policy = policy
    with pytest.raises(UploadFailed, match="AccessDenied") as info:
        uploader_via(proxy, s3server, transport).upload_stream(
            [os.urandom(3 * PART)], bucket, unique_key, part_size=PART, concurrency=1
        )
    assert info.value.upload_id is not None
    assert len(proxy.injected) == 1  # not retried, no further part started
    assert no_uploads_left(s3client, bucket, unique_key)


def test_persistent_throttling_gives_up_with_the_upload_aborted(
    proxy: FaultProxy,
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    transport: str,
) -> None:
    def policy(request: RequestInfo) -> Fault | None:
        if request.method == "PUT":
            return Fault.reply(503, "SlowDown", "Please reduce your request rate.")
        return None

    proxy.policy = policy
    retry = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)
    with pytest.raises(UploadFailed, match="SlowDown") as info:
        uploader_via(proxy, s3server, transport).upload_stream(
            [os.urandom(2 * PART)], bucket, unique_key, part_size=PART, retry=retry
        )
    assert "gave up after 4 attempts" in "".join(getattr(info.value.__cause__, "__notes__", []))
    assert no_uploads_left(s3client, bucket, unique_key)
