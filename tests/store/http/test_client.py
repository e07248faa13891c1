"""The native client's addressing, region redirects, refusals and kept-alive connections."""

from __future__ import annotations

import email.message
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from s3stream.errors import NotFound, StoreError
from s3stream.store.http.client import S3Client, request_query
from s3stream.store.http.connections import Address, Response
from s3stream.store.http.environment import Endpoint, HttpSettings
from s3stream.store.http.sigv4 import Credentials

KEYS = Credentials("AK", "SK")


def client(endpoint: str | None = None, **kwargs: Any) -> S3Client:
    settings = HttpSettings(
        endpoint=Endpoint.parse(endpoint) if endpoint else None,
        region=kwargs.pop("region", "us-east-1"),
        credentials=KEYS,
        **kwargs,
    )
    return S3Client(settings, connect_timeout=2.0, read_timeout=2.0)


def test_a_custom_endpoint_is_path_style_unless_asked_otherwise() -> None:
    target = client("http://127.0.0.1:8333").target("bucket", "a b/c+d")
    assert (target.host, target.path) == ("127.0.0.1:8333", "/bucket/a%20b/c%2Bd")
    target = client("https://s3.example/base").target("bucket", "k")
    assert target.url() == "https://s3.example/base/bucket/k"
    virtual = client("https://s3.example:9000", addressing="virtual").target("bucket", "k")
    assert (virtual.host, virtual.path) == ("bucket.s3.example:9000", "/k")
    assert virtual.address == Address("https", "bucket.s3.example", 9000)


def test_aws_buckets_are_virtual_hosts_unless_their_names_cannot_be() -> None:
    aws = client(region="eu-west-1")
    assert aws.target("my-bucket", "k").url() == "https://my-bucket.s3.eu-west-1.amazonaws.com/k"
    assert aws.target("my.bucket", "k").url() == "https://s3.eu-west-1.amazonaws.com/my.bucket/k"
    assert aws.target("my-bucket").path == "/"


def headers(**values: str) -> email.message.Message:
    message = email.message.Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


def test_a_bucket_in_another_region_is_followed_there(monkeypatch: pytest.MonkeyPatch) -> None:
    aws = client(region="us-east-1")
    sent: list[tuple[Address, dict[str, str]]] = []
    answers = [
        Response(301, headers(x_amz_bucket_region="ap-south-1"), b""),
        Response(200, headers(ETag='"e"'), b""),
    ]

    def request(address: Address, method: str, target: str, sent_headers: Any, body: Any) -> Any:
        sent.append((address, dict(sent_headers)))
        return answers.pop(0)

    monkeypatch.setattr(aws.connections, "request", request)
    assert aws.call("HeadObject", "HEAD", "far", "k").status == 200
    assert [a.hostname for a, _ in sent] == [
        "far.s3.us-east-1.amazonaws.com",
        "far.s3.ap-south-1.amazonaws.com",
    ]
    assert "/ap-south-1/s3/" in sent[1][1]["Authorization"]
    assert aws.target("far").host == "far.s3.ap-south-1.amazonaws.com"  # remembered


def test_refusals_become_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    store = client("http://127.0.0.1:1")
    answers = iter(
        [
            Response(404, headers(), b""),
            Response(
                503,
                headers(),
                b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>slow</Message></Error>",
            ),
        ]
    )
    monkeypatch.setattr(store.connections, "request", lambda *args: next(answers))
    with pytest.raises(NotFound):
        store.call("HeadObject", "HEAD", "b", "k")
    with pytest.raises(StoreError, match="SlowDown: slow") as raised:
        store.call("PutObject", "PUT", "b", "k", body=b"x")
    assert raised.value.retryable and raised.value.status == 503


@pytest.fixture
def closing_server() -> Iterator[tuple[int, list[int]]]:
    """An HTTP server that answers one request per connection and then closes it, without
    saying so (a store's idle timeout)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    served: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            served.append(len(served))  # closed

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, served
    listener.close()


def test_a_connection_the_store_closed_while_idle_is_not_reused(
    closing_server: tuple[int, list[int]],
) -> None:
    port, served = closing_server
    store = client(f"http://127.0.0.1:{port}")
    for done in range(3):
        assert store.call("HeadObject", "GET", "b", "k").body == b"ok"
        deadline = time.monotonic() + 5
        while len(served) <= done and time.monotonic() < deadline:
            time.sleep(0.01)  # until the server has closed the connection it kept
    assert len(served) == 3


def test_an_unreachable_store_names_the_endpoint() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(StoreError, match=f"could not connect to http://127.0.0.1:{port}") as got:
        client(f"http://127.0.0.1:{port}").call("HeadObject", "HEAD", "b", "k")
    assert got.value.code == "EndpointConnectionError" and got.value.retryable


def test_sub_resources_are_sent_bare_and_the_rest_encoded_in_canonical_order() -> None:
    assert request_query([("uploads", "")]) == "uploads"
    assert (
        request_query([("uploads", ""), ("prefix", "a b/"), ("encoding-type", "url")])
        == "encoding-type=url&prefix=a%20b%2F&uploads"
    )
    assert request_query([("prefix", "")]) == "prefix="
    assert request_query([]) == ""
