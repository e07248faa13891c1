"""The tus conformance suite, run in-process against every upload store: the in-memory fake
and the S3 upload store on the real SeaweedFS (state and staging in the bucket)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from awscrt import checksums as crt

from s3stream.embedded import EmbeddedS3
from s3stream.gateway import HookEvent, Hooks, MemoryUploadStore, TusSettings
from s3stream.limits import MiB
from tests.support.gateway import (
    OCTET,
    TUS,
    Clock,
    Gateway,
    TestClient,
    Tus,
    app_factory,
    leases,
    make_s3_store,
    metadata,
    run,
    upload_id,
)


def _memory_gateway() -> Gateway:
    store = MemoryUploadStore(lock_wait=0.5)
    clock = Clock()
    return Gateway(
        store,
        read_object=lambda key: store.objects[key],
        object_exists=lambda key: key in store.objects,
        clock=clock,
        make_app=app_factory(store, clock),
    )


@pytest.fixture
def s3_gateway(s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str) -> Gateway:
    store = make_s3_store(s3server, bucket, key_prefix=f"{unique_key}/", lock_wait=0.5)
    clock = Clock()
    store.clock = clock
    leases(store).clock = clock

    def read(key: str) -> bytes:
        data: bytes = s3client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def exists(key: str) -> bool:
        return store.store.head_object(bucket, key) is not None

    return Gateway(store, read, exists, clock, app_factory(store, clock))


@pytest.fixture(params=["memory", "s3"])
def gateway(request: pytest.FixtureRequest) -> Gateway:
    if request.param == "memory":
        return _memory_gateway()
    made: Gateway = request.getfixturevalue("s3_gateway")
    return made


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(gateway.app()) as http:
        yield http


@pytest.fixture
def tus(client: TestClient) -> Tus:
    return Tus(client)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ------------------------------------------------------------------ core


def test_options_advertises_version_extensions_and_limits(client: TestClient) -> None:
    response = client.options("/files/")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    extensions = set(response.headers["Tus-Extension"].split(","))
    assert extensions >= {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "checksum",
        "expiration",
        "concatenation",
    }
    assert int(response.headers["Tus-Max-Size"]) > 0
    assert {"sha1", "md5", "crc32c"} <= set(response.headers["Tus-Checksum-Algorithm"].split(","))


@pytest.mark.parametrize("version", [None, "0.2.2", "2.0.0"])
def test_unsupported_version_is_412_with_tus_version(
    client: TestClient, version: str | None
) -> None:
    headers = {"Upload-Length": "10"}
    if version:
        headers["Tus-Resumable"] = version
    response = client.post("/files/", headers=headers)
    assert response.status_code == 412
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Resumable"] == "1.0.0"


def test_create_head_patch_finish(tus: Tus, gateway: Gateway) -> None:
    data = os.urandom(1000)
    url = tus.new(len(data), meta=metadata(filename="hello.txt", filetype="text/plain"))
    head = tus.head(url)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == "1000"
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Tus-Resumable"] == "1.0.0"
    assert head.headers["Upload-Metadata"] == metadata(filename="hello.txt", filetype="text/plain")
    assert "Upload-Expires" in head.headers
    response = tus.patch(url, 0, data[:400])
    assert response.status_code == 204
    assert response.headers["Upload-Offset"] == "400"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert tus.head(url).headers["Upload-Offset"] == "400"
    assert tus.patch(url, 400, data[400:]).headers["Upload-Offset"] == "1000"
    assert gateway.object_of(url) == data
    key = gateway.upload(url).key
    assert key.startswith("hello-") and key.endswith(".txt")


def test_upload_ids_are_long_and_random(tus: Tus) -> None:
    ids = {upload_id(tus.new(1)) for _ in range(5)}
    assert len(ids) == 5
    assert all(len(i) >= 22 for i in ids)  # >= 128 bits in base64url


def test_metadata_key_without_value_is_echoed(tus: Tus) -> None:
    meta = f"is_confidential,filename {b64(b'x.bin')}"
    url = tus.new(5, meta=meta)
    assert tus.head(url).headers["Upload-Metadata"] == meta


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Upload-Length": "-1"},
        {"Upload-Length": "abc"},
        {"Upload-Length": "5", "Upload-Defer-Length": "1"},
        {"Upload-Defer-Length": "2"},
        {"Upload-Length": "5", "Upload-Metadata": "bad key !"},
        {"Upload-Length": "5", "Upload-Metadata": "k not-base64!"},
    ],
)
def test_bad_creation_is_400(client: TestClient, headers: dict[str, str]) -> None:
    assert client.post("/files/", headers={**TUS, **headers}).status_code == 400


def test_length_above_max_size_is_413(gateway: Gateway) -> None:
    with TestClient(gateway.app(TusSettings(max_size=100))) as http:
        assert http.options("/files/").headers["Tus-Max-Size"] == "100"
        assert Tus(http).create(101).status_code == 413
        assert Tus(http).create(100).status_code == 201


def test_metadata_size_limit(gateway: Gateway) -> None:
    with TestClient(gateway.app(TusSettings(max_metadata_bytes=64))) as http:
        assert Tus(http).create(1, meta=metadata(filename="x" * 100)).status_code == 400


def test_patch_with_wrong_content_type_is_415(tus: Tus) -> None:
    url = tus.new(10)
    assert tus.patch(url, 0, b"x" * 10, content_type="application/octet-stream").status_code == 415
    assert tus.head(url).headers["Upload-Offset"] == "0"


def test_patch_without_offset_is_400(tus: Tus, client: TestClient) -> None:
    url = tus.new(10)
    response = client.patch(url, headers={**TUS, "Content-Type": OCTET}, content=b"x")
    assert response.status_code == 400


def test_offset_mismatch_is_409_and_changes_nothing(tus: Tus) -> None:
    url = tus.new(10)
    assert tus.patch(url, 0, b"abc").status_code == 204
    for wrong in (0, 2, 4):
        assert tus.patch(url, wrong, b"zzz").status_code == 409
    assert tus.head(url).headers["Upload-Offset"] == "3"


def test_patch_past_length_is_413(tus: Tus, gateway: Gateway) -> None:
    url = tus.new(5)
    assert tus.patch(url, 0, b"123456").status_code == 413
    assert tus.head(url).headers["Upload-Offset"] == "0"
    assert tus.patch(url, 0, b"12345").status_code == 204
    assert gateway.object_of(url) == b"12345"


def test_unknown_upload_is_404(tus: Tus) -> None:
    assert tus.head("/files/" + secrets.token_urlsafe(24)).status_code == 404
    assert tus.patch("/files/" + secrets.token_urlsafe(24), 0, b"x").status_code == 404


def test_method_override(tus: Tus, client: TestClient, gateway: Gateway) -> None:
    url = tus.new(4)
    headers = {
        **TUS,
        "X-HTTP-Method-Override": "PATCH",
        "Upload-Offset": "0",
        "Content-Type": OCTET,
    }
    response = client.post(url, headers=headers, content=b"abcd")
    assert response.status_code == 204
    assert response.headers["Upload-Offset"] == "4"
    override_head = {**TUS, "X-HTTP-Method-Override": "HEAD"}
    assert client.post(url, headers=override_head).headers["Upload-Offset"] == "4"
    assert gateway.object_of(url) == b"abcd"


def test_zero_length_upload_finishes_at_once(tus: Tus, gateway: Gateway) -> None:
    url = tus.new(0, meta=metadata(filename="empty.txt"))
    assert tus.head(url).headers["Upload-Offset"] == "0"
    assert gateway.object_of(url) == b""


# ------------------------------------------------------------------ creation-with-upload


def test_creation_with_upload(tus: Tus, gateway: Gateway) -> None:
    data = os.urandom(3000)
    response = tus.create(len(data), body=data[:1000])
    assert response.status_code == 201
    assert response.headers["Upload-Offset"] == "1000"
    url = response.headers["Location"]
    assert tus.patch(url, 1000, data[1000:]).status_code == 204
    assert gateway.object_of(url) == data


def test_creation_with_whole_upload(tus: Tus, gateway: Gateway) -> None:
    data = os.urandom(100)
    response = tus.create(len(data), body=data)
    assert response.headers["Upload-Offset"] == "100"
    assert "Upload-Expires" not in response.headers
    assert gateway.object_of(response.headers["Location"]) == data


def test_creation_body_with_wrong_type_is_415(client: TestClient) -> None:
    headers = {**TUS, "Upload-Length": "3", "Content-Type": "text/plain"}
    assert client.post("/files/", headers=headers, content=b"abc").status_code == 415


# ------------------------------------------------------------------ termination


def test_termination(tus: Tus, gateway: Gateway) -> None:
    url = tus.new(100)
    assert tus.patch(url, 0, b"x" * 10).status_code == 204
    assert tus.delete(url).status_code == 204
    assert tus.head(url).status_code == 404
    assert tus.patch(url, 10, b"y").status_code == 404
    assert tus.delete(url).status_code == 404


# ------------------------------------------------------------------ checksum


def _digest(algorithm: str, data: bytes) -> bytes:
    if algorithm == "crc32c":
        return int(crt.crc32c(data)).to_bytes(4, "big")
    if algorithm == "crc32":
        return zlib.crc32(data).to_bytes(4, "big")
    return hashlib.new(algorithm, data).digest()


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "crc32c", "crc32", "sha256"])
def test_checksum_match_is_accepted(tus: Tus, gateway: Gateway, algorithm: str) -> None:
    data = os.urandom(2000)
    url = tus.new(len(data))
    header = {"Upload-Checksum": f"{algorithm} {b64(_digest(algorithm, data[:1500]))}"}
    assert tus.patch(url, 0, data[:1500], header).status_code == 204
    header = {"Upload-Checksum": f"{algorithm} {b64(_digest(algorithm, data[1500:]))}"}
    assert tus.patch(url, 1500, data[1500:], header).status_code == 204
    assert gateway.object_of(url) == data


def test_checksum_mismatch_is_460_and_discards_the_chunk(tus: Tus, gateway: Gateway) -> None:
    data = os.urandom(300)
    url = tus.new(len(data))
    assert tus.patch(url, 0, data[:100]).status_code == 204
    wrong = {"Upload-Checksum": f"sha1 {b64(hashlib.sha1(b'other').digest())}"}
    assert tus.patch(url, 100, data[100:], wrong).status_code == 460
    assert tus.head(url).headers["Upload-Offset"] == "100"
    right = {"Upload-Checksum": f"sha1 {b64(hashlib.sha1(data[100:]).digest())}"}
    assert tus.patch(url, 100, data[100:], right).status_code == 204
    assert gateway.object_of(url) == data


@pytest.mark.parametrize("value", ["whirlpool abc=", "sha1 not*base64", "sha1"])
def test_bad_checksum_header_is_400(tus: Tus, value: str) -> None:
    url = tus.new(3)
    assert tus.patch(url, 0, b"abc", {"Upload-Checksum": value}).status_code == 400
    assert tus.head(url).headers["Upload-Offset"] == "0"


# ------------------------------------------------------------------ expiration


def test_expired_upload_is_410_then_swept(gateway: Gateway) -> None:
    app = gateway.app(TusSettings(expiration=60))
    with TestClient(app) as http:
        tus = Tus(http)
        url = tus.new(100)
        assert tus.patch(url, 0, b"x" * 10).status_code == 204
        gateway.clock.now += 61
        assert tus.head(url).status_code == 410
        assert tus.patch(url, 10, b"y").status_code == 410
        assert run(gateway.store.sweep(gateway.clock.now)) >= 1  # type: ignore[attr-defined]
        assert tus.head(url).status_code == 404


def test_patch_extends_expiry(gateway: Gateway) -> None:
    with TestClient(gateway.app(TusSettings(expiration=60))) as http:
        tus = Tus(http)
        url = tus.new(100)
        gateway.clock.now += 50
        assert tus.patch(url, 0, b"x" * 10).status_code == 204
        gateway.clock.now += 50
        assert tus.head(url).status_code == 200


def test_finished_upload_does_not_expire(gateway: Gateway) -> None:
    with TestClient(gateway.app(TusSettings(expiration=60))) as http:
        tus = Tus(http)
        url = tus.upload(b"done", 4)
        gateway.clock.now += 3600
        assert tus.head(url).status_code == 200


# ------------------------------------------------------------------ concatenation


def test_concatenation(tus: Tus, gateway: Gateway, client: TestClient) -> None:
    pieces = [os.urandom(n) for n in (700, 1, 300)]
    urls = []
    for piece in pieces:
        url = tus.new(len(piece), extra={"Upload-Concat": "partial"})
        assert tus.head(url).headers["Upload-Concat"] == "partial"
        assert tus.patch(url, 0, piece).status_code == 204
        urls.append(url)
    final = client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Concat": "final;" + " ".join(urls),
            "Upload-Metadata": metadata(filename="joined.bin"),
        },
    )
    assert final.status_code == 201, final.text
    final_url = final.headers["Location"]
    head = tus.head(final_url)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == "1001"
    assert head.headers["Upload-Concat"].startswith("final;")
    assert [upload_id(u) for u in head.headers["Upload-Concat"][6:].split()] == [
        upload_id(u) for u in urls
    ]
    assert gateway.object_of(final_url) == b"".join(pieces)
    assert tus.patch(final_url, 1001, b"x").status_code == 403


def test_concatenation_of_large_partials(tus: Tus, gateway: Gateway, client: TestClient) -> None:
    pieces = [os.urandom(n) for n in (6 * MiB, 5 * MiB + 7, 1234)]
    urls = [tus.upload(p, 4 * MiB, extra={"Upload-Concat": "partial"}) for p in pieces]
    final = client.post("/files/", headers={**TUS, "Upload-Concat": "final;" + " ".join(urls)})
    assert final.status_code == 201
    assert gateway.object_of(final.headers["Location"]) == b"".join(pieces)


def test_final_with_unfinished_or_plain_partial_is_400(tus: Tus, client: TestClient) -> None:
    unfinished = tus.new(10, extra={"Upload-Concat": "partial"})
    plain = tus.upload(b"abc", 3)
    for urls in ([unfinished], [plain]):
        response = client.post("/files/", headers={**TUS, "Upload-Concat": "final;" + urls[0]})
        assert response.status_code == 400
    with_length = {**TUS, "Upload-Concat": "final;" + plain, "Upload-Length": "3"}
    assert client.post("/files/", headers=with_length).status_code == 400


# ------------------------------------------------------------------ deferred length


def test_deferred_length(tus: Tus, gateway: Gateway) -> None:
    data = os.urandom(5000)
    url = tus.new(None)
    head = tus.head(url)
    assert head.headers["Upload-Defer-Length"] == "1"
    assert "Upload-Length" not in head.headers
    assert tus.patch(url, 0, data[:2000]).status_code == 204
    response = tus.patch(url, 2000, data[2000:], {"Upload-Length": str(len(data))})
    assert response.status_code == 204
    assert tus.head(url).headers["Upload-Length"] == "5000"
    assert gateway.object_of(url) == data


def test_deferred_length_declared_in_an_empty_patch(tus: Tus, gateway: Gateway) -> None:
    url = tus.new(None)
    assert tus.patch(url, 0, b"abcdef").status_code == 204
    assert tus.patch(url, 6, b"", {"Upload-Length": "6"}).status_code == 204
    assert gateway.object_of(url) == b"abcdef"


def test_length_cannot_change(tus: Tus) -> None:
    url = tus.new(10)
    assert tus.patch(url, 0, b"abc", {"Upload-Length": "11"}).status_code == 400


# ------------------------------------------------------------------ ownership and hooks


def test_uploads_belong_to_their_token(gateway: Gateway) -> None:
    alice, bob = "a" * 20, "b" * 20
    with TestClient(gateway.app(tokens=(alice, bob))) as http:
        assert http.post("/files/", headers={**TUS, "Upload-Length": "3"}).status_code == 401
        wrong = {**TUS, "Upload-Length": "3", "Authorization": "Bearer " + "c" * 20}
        assert http.post("/files/", headers=wrong).status_code == 401
        assert http.options("/files/").status_code == 204
        assert http.get("/health").status_code == 200
        url = Tus(http, token=alice).new(3)
        assert Tus(http, token=alice).head(url).status_code == 200
        assert Tus(http, token=bob).head(url).status_code == 404
        assert Tus(http, token=bob).patch(url, 0, b"abc").status_code == 404
        assert Tus(http, token=bob).delete(url).status_code == 404
        assert Tus(http, token=alice).patch(url, 0, b"abc").status_code == 204


def test_hooks_fire_in_order(gateway: Gateway) -> None:
    events: list[HookEvent] = []
    hooks = Hooks([events.append], progress_interval=0, bucket="b")
    with TestClient(gateway.app(hooks=hooks)) as http:
        tus = Tus(http)
        url = tus.upload(b"x" * 100, 40, meta=metadata(filename="h.txt"))
        other = tus.new(10)
        tus.delete(other)
    names = [e.event for e in events if e.upload_id == upload_id(url)]
    assert names[0] == "created" and names[-1] == "finished"
    assert "progress" in names
    finished = events[[e.event for e in events].index("finished")]
    assert finished.filename == "h.txt" and finished.offset == 100 and finished.key
    assert [e.event for e in events if e.upload_id == upload_id(other)] == [
        "created",
        "terminated",
    ]


def test_async_hooks_run(gateway: Gateway) -> None:
    seen: list[str] = []

    async def on_event(event: HookEvent) -> None:
        seen.append(event.event)

    with TestClient(gateway.app(hooks=Hooks([on_event]))) as http:
        Tus(http).upload(b"abc", 3)
    assert "finished" in seen


def test_concurrent_writers_per_token_are_limited(gateway: Gateway) -> None:
    settings = TusSettings(max_uploads_per_owner=0)
    with TestClient(gateway.app(settings)) as http:
        assert Tus(http).create(3).status_code == 429


def test_any_unexpected_error_is_500(gateway: Gateway, monkeypatch: Any) -> None:
    async def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(gateway.store, "get", broken)
    with TestClient(gateway.app(), raise_server_exceptions=False) as http:
        response = Tus(http).head("/files/" + "a" * 32)
        assert response.status_code == 500
        assert response.headers["Tus-Resumable"] == "1.0.0"


def test_a_concurrent_patch_is_refused_and_nothing_is_corrupted(gateway: Gateway) -> None:
    app = gateway.app()
    urls: list[str] = []

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            created = await http.post("/files/", headers={**TUS, "Upload-Length": "20"})
            url = created.headers["Location"]
            urls.append(url)
            first_half = asyncio.Event()
            release = asyncio.Event()

            async def slow_body() -> AsyncIterator[bytes]:
                yield b"a" * 10
                first_half.set()
                await release.wait()
                yield b"b" * 10

            headers = {**TUS, "Content-Type": OCTET, "Upload-Offset": "0"}
            first = asyncio.create_task(http.patch(url, headers=headers, content=slow_body()))
            await first_half.wait()
            second = await http.patch(url, headers=headers, content=b"z" * 20)
            assert second.status_code in (409, 423)
            release.set()
            done = await first
            assert done.status_code == 204
            assert done.headers["Upload-Offset"] == "20"

    asyncio.run(main())
    assert gateway.object_of(urls[0]) == b"a" * 10 + b"b" * 10
