"""The fault-injecting proxy, against the real embedded store."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
)
from botocore.handlers import add_expect_header

from s3stream.embedded import EmbeddedS3
from tests.support.faultproxy import Fault, FaultProxy, RequestInfo, every_nth, first_k_matching

MiB = 1024 * 1024
NO_RETRIES = {"total_max_attempts": 1}


def is_put(request: RequestInfo) -> bool:
    return request.method == "PUT"


def slow_down() -> Fault:
    return Fault.reply(503, "SlowDown", "Please reduce your request rate.")


@pytest.fixture
def proxy(s3server: EmbeddedS3) -> Iterator[FaultProxy]:
    with FaultProxy(s3server.endpoint_url) as running:
        yield running


def through(s3server: EmbeddedS3, proxy: FaultProxy, **config: Any) -> Any:
    return s3server.client(endpoint_url=proxy.url, **config)


def exists(client: Any, bucket: str, key: str) -> bool:
    return "Contents" in client.list_objects_v2(Bucket=bucket, Prefix=key)


def test_20_mib_round_trip_without_faults(
    s3server: EmbeddedS3, proxy: FaultProxy, bucket: str, unique_key: str
) -> None:
    client = through(s3server, proxy)
    data = os.urandom(20 * MiB)
    client.put_object(Bucket=bucket, Key=unique_key, Body=data)  # with Expect: 100-continue
    client.meta.events.unregister("before-call.s3", add_expect_header)
    client.put_object(Bucket=bucket, Key=unique_key + "-bytes", Body=data)  # without
    assert client.get_object(Bucket=bucket, Key=unique_key)["Body"].read() == data
    assert client.get_object(Bucket=bucket, Key=unique_key + "-bytes")["Body"].read() == data
    ranged = client.get_object(Bucket=bucket, Key=unique_key, Range="bytes=100-199")
    assert ranged["Body"].read() == data[100:200]
    assert client.head_object(Bucket=bucket, Key=unique_key)["ContentLength"] == len(data)
    assert proxy.request_count == 6
    assert proxy.injected == []


@pytest.mark.parametrize("expect_continue", [False, True])
def test_slowdown_reply_surfaces_when_retries_are_off(
    s3server: EmbeddedS3,
    proxy: FaultProxy,
    s3client: Any,
    bucket: str,
    unique_key: str,
    expect_continue: bool,
) -> None:
    seen: list[RequestInfo] = []
    inject = first_k_matching(1, is_put, slow_down)

    def policy(request: RequestInfo) -> Fault | None:
        seen.append(request)
        return inject(request)

    proxy.policy = policy
    client = through(s3server, proxy, retries=NO_RETRIES)
    if not expect_continue:
        client.meta.events.unregister("before-call.s3", add_expect_header)
    data = os.urandom(2 * MiB)
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bucket, Key=unique_key, Body=data)
    assert info.value.response["Error"]["Code"] == "SlowDown"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert ("100-continue" in seen[0].headers.get("expect", "")) == expect_continue
    assert not exists(s3client, bucket, unique_key)

    client.put_object(Bucket=bucket, Key=unique_key, Body=data)
    assert s3client.get_object(Bucket=bucket, Key=unique_key)["Body"].read() == data
    assert [(i.kind, i.method) for i in proxy.injected] == [("reply", "PUT")]
    assert proxy.request_count == len(seen) >= 2


def test_botocore_retries_through_server_errors(
    s3server: EmbeddedS3, proxy: FaultProxy, s3client: Any, bucket: str, unique_key: str
) -> None:
    proxy.policy = first_k_matching(
        2, is_put, lambda: Fault.reply(500, "InternalError", "We encountered an internal error.")
    )
    client = through(s3server, proxy, retries={"total_max_attempts": 3})
    client.put_object(Bucket=bucket, Key=unique_key, Body=b"third time lucky")
    assert s3client.get_object(Bucket=bucket, Key=unique_key)["Body"].read() == b"third time lucky"
    assert len(proxy.injected) == 2


def test_reset_before_is_a_connection_error(
    s3server: EmbeddedS3, proxy: FaultProxy, s3client: Any, bucket: str, unique_key: str
) -> None:
    proxy.policy = first_k_matching(1, is_put, Fault.reset_before)
    client = through(s3server, proxy, retries=NO_RETRIES)
    with pytest.raises(HTTPClientError):
        client.put_object(Bucket=bucket, Key=unique_key, Body=b"x" * 1000)
    assert not exists(s3client, bucket, unique_key)
    client.put_object(Bucket=bucket, Key=unique_key, Body=b"x" * 1000)
    assert exists(s3client, bucket, unique_key)


def test_reset_mid_body_stores_nothing(
    s3server: EmbeddedS3, proxy: FaultProxy, s3client: Any, bucket: str, unique_key: str
) -> None:
    proxy.policy = first_k_matching(1, is_put, lambda: Fault.reset_mid_body(64 * 1024))
    client = through(s3server, proxy, retries=NO_RETRIES)
    with pytest.raises(HTTPClientError):
        client.put_object(Bucket=bucket, Key=unique_key, Body=io.BytesIO(os.urandom(MiB)))
    assert not exists(s3client, bucket, unique_key)


def test_truncated_download_is_detected(
    s3server: EmbeddedS3, proxy: FaultProxy, s3client: Any, bucket: str, unique_key: str
) -> None:
    data = os.urandom(MiB)
    s3client.put_object(Bucket=bucket, Key=unique_key, Body=data)
    proxy.policy = first_k_matching(
        1, lambda r: r.method == "GET", lambda: Fault.truncate_response(4096)
    )
    client = through(s3server, proxy, retries=NO_RETRIES)
    response = client.get_object(Bucket=bucket, Key=unique_key)
    with pytest.raises((ResponseStreamingError, IncompleteReadError)):
        response["Body"].read()
    assert client.get_object(Bucket=bucket, Key=unique_key)["Body"].read() == data


def test_lost_response_after_the_store_committed(
    s3server: EmbeddedS3, proxy: FaultProxy, s3client: Any, bucket: str, unique_key: str
) -> None:
    proxy.policy = first_k_matching(1, is_put, lambda: Fault.truncate_response(0))
    client = through(s3server, proxy, retries=NO_RETRIES)
    with pytest.raises(HTTPClientError):
        client.put_object(Bucket=bucket, Key=unique_key, Body=b"committed")
    assert s3client.get_object(Bucket=bucket, Key=unique_key)["Body"].read() == b"committed"


def test_stall_delays_the_request(
    s3server: EmbeddedS3, proxy: FaultProxy, bucket: str, unique_key: str
) -> None:
    client = through(s3server, proxy)
    client.put_object(Bucket=bucket, Key=unique_key, Body=b"slow")
    proxy.policy = first_k_matching(1, lambda r: r.method == "GET", lambda: Fault.stall(0.5))
    started = time.monotonic()
    assert client.get_object(Bucket=bucket, Key=unique_key)["Body"].read() == b"slow"
    assert time.monotonic() - started >= 0.5


def _request(index: int, method: str = "PUT") -> RequestInfo:
    return RequestInfo(
        method=method, path=f"/b/k?partNumber={index}", headers={}, request_index=index
    )


def test_every_nth_counts_only_matching_methods() -> None:
    policy = every_nth(3, Fault.reset_before)
    requests = [_request(i, "GET" if i % 2 else "PUT") for i in range(12)]
    faulted = [r.request_index for r in requests if policy(r) is not None]
    assert faulted == [4, 10]  # the 3rd and 6th PUT


def test_first_k_matching_stops_after_k() -> None:
    policy = first_k_matching(2, lambda r: r.request_index >= 5, lambda: Fault.stall(1))
    faulted = [i for i in range(10) if policy(_request(i)) is not None]
    assert faulted == [5, 6]
