"""The S3 upload store on the real SeaweedFS: staging, parts, state in the bucket, leases,
two stores (as two processes) on one upload, the sweeper, and the memory bound."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.embedded import EmbeddedS3
from s3stream.engine.retry import RetryPolicy
from s3stream.errors import S3StreamError
from s3stream.gateway import NewUpload, TusSettings, Upload
from s3stream.gateway.errors import HTTPError
from s3stream.gateway.handler.body import RequestBody
from s3stream.gateway.model import encode_metadata, sanitize_filename, with_suffix
from s3stream.gateway.s3store import S3UploadStore
from s3stream.gateway.s3store.commit import Commits
from s3stream.gateway.s3store.state import UploadState
from s3stream.limits import MiB
from s3stream.store.boto import BotoStore
from s3stream.store.types import PartRecord
from tests.support.faultproxy import Fault, FaultProxy, first_k_matching
from tests.support.gateway import (
    TUS,
    Clock,
    TestClient,
    Tus,
    app_factory,
    leases,
    make_s3_store,
    upload_id,
)


@pytest.fixture
def prefix(unique_key: str) -> str:
    return f"{unique_key}/"


@pytest.fixture
def store(s3server: EmbeddedS3, bucket: str, prefix: str) -> S3UploadStore:
    return make_s3_store(s3server, bucket, key_prefix=prefix, lock_wait=0.5, max_buffers=4)


@pytest.fixture
def tus(store: S3UploadStore, prefix: str) -> Iterator[Tus]:
    with TestClient(app_factory(store, Clock())(TusSettings(key_prefix=prefix))) as http:
        yield Tus(http)


def keys(s3client: Any, bucket: str, prefix: str) -> list[str]:
    response = s3client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in response.get("Contents", []))


def info(s3client: Any, bucket: str, store: S3UploadStore, url: str) -> dict[str, Any]:
    key = f"{store.state_prefix}{upload_id(url)}.info"
    data: dict[str, Any] = json.loads(s3client.get_object(Bucket=bucket, Key=key)["Body"].read())
    return data


def read(s3client: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def test_small_chunks_are_staged_then_joined_into_parts(
    tus: Tus, store: S3UploadStore, s3client: Any, bucket: str, prefix: str
) -> None:
    data = os.urandom(12 * MiB + 123)
    url = tus.new(len(data), extra={"Upload-Metadata": "filename dmlkZW8ubXA0"})
    step = 3 * MiB
    assert tus.patch(url, 0, data[:step]).status_code == 204
    state = info(s3client, bucket, store, url)
    assert state["parts"] == [] and state["staged"]["size"] == step
    assert state["offset"] == step
    staged_key = state["staged"]["key"]
    assert staged_key in keys(s3client, bucket, prefix)
    assert tus.patch(url, step, data[step : 2 * step]).status_code == 204
    state = info(s3client, bucket, store, url)
    assert [p[2] for p in state["parts"]] == [5 * MiB]  # staged 3 + 2 of the new chunk
    assert state["staged"]["size"] == MiB
    assert staged_key not in keys(s3client, bucket, prefix)  # the consumed stage is gone
    offset = 2 * step
    while offset < len(data):
        response = tus.patch(url, offset, data[offset : offset + step])
        assert response.status_code == 204
        offset = int(response.headers["Upload-Offset"])
    state = info(s3client, bucket, store, url)
    assert state["finished"] and state["staged"] is None
    assert read(s3client, bucket, state["key"]) == data
    assert state["key"].startswith(prefix + "video-") and state["key"].endswith(".mp4")
    left = [k for k in keys(s3client, bucket, prefix) if ".part." in k or k.endswith(".lock")]
    assert left == []
    assert (
        s3client.list_multipart_uploads(Bucket=bucket, Prefix=state["key"]).get("Uploads", []) == []
    )
    head = s3client.head_object(Bucket=bucket, Key=state["key"], ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert "ChecksumCRC64NVME" in head


def test_large_chunks_become_parts_directly(
    tus: Tus, store: S3UploadStore, s3client: Any, bucket: str
) -> None:
    data = os.urandom(23 * MiB)
    url = tus.new(len(data), extra={"Upload-Metadata": "filetype dmlkZW8vbXA0"})
    assert tus.patch(url, 0, data[: 7 * MiB]).status_code == 204
    state = info(s3client, bucket, store, url)
    assert [p[2] for p in state["parts"]] == [5 * MiB]
    assert state["staged"]["size"] == 2 * MiB
    assert tus.patch(url, 7 * MiB, data[7 * MiB :]).status_code == 204
    state = info(s3client, bucket, store, url)
    assert read(s3client, bucket, state["key"]) == data
    head = s3client.head_object(Bucket=bucket, Key=state["key"])
    assert head["ContentType"] == "video/mp4"
    assert store.pool.peak_bytes <= 4 * 5 * MiB


def test_checksum_mismatch_on_a_multipart_chunk_changes_nothing(
    tus: Tus, store: S3UploadStore, s3client: Any, bucket: str
) -> None:
    data = os.urandom(13 * MiB)
    url = tus.new(len(data))
    assert tus.patch(url, 0, data[: 2 * MiB]).status_code == 204
    before = info(s3client, bucket, store, url)
    wrong = {"Upload-Checksum": "sha1 " + "A" * 27 + "="}
    assert tus.patch(url, 2 * MiB, data[2 * MiB : 12 * MiB], wrong).status_code == 460
    after = info(s3client, bucket, store, url)
    assert after["parts"] == before["parts"] and after["staged"] == before["staged"]
    assert after["offset"] == 2 * MiB
    # the same part numbers go up again; SeaweedFS keeps both copies, the recorded ETags win
    digest = base64.b64encode(hashlib.sha1(data[2 * MiB :]).digest()).decode()
    good = {"Upload-Checksum": f"sha1 {digest}"}
    assert tus.patch(url, 2 * MiB, data[2 * MiB :], good).status_code == 204
    assert read(s3client, bucket, info(s3client, bucket, store, url)["key"]) == data


def _asgi_patch(
    app: Any,
    url: str,
    offset: int,
    chunks: list[bytes],
    disconnect: bool,
    content_length: int | None = None,
) -> int:
    """Drive one PATCH through the ASGI app with a body that may end in a disconnect
    (``content_length``: the length it declares)."""
    path = url.split("testserver", 1)[-1]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": True} for c in chunks
    ]
    messages.append({"type": "http.disconnect"} if disconnect else {"type": "http.request"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"tus-resumable", b"1.0.0"),
        (b"upload-offset", str(offset).encode()),
        (b"content-type", b"application/offset+octet-stream"),
    ]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "method": "PATCH",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": headers,
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    asyncio.run(app(scope, receive, send))
    status: int = sent[0]["status"]
    return status


def test_a_disconnected_patch_keeps_what_arrived(
    store: S3UploadStore, s3client: Any, bucket: str
) -> None:
    app = app_factory(store, Clock())()
    data = os.urandom(9 * MiB)
    with TestClient(app) as http:
        url = Tus(http).new(len(data))
    chunks = [data[i : i + MiB] for i in range(0, 7 * MiB, MiB)]
    _asgi_patch(app, url, 0, chunks, disconnect=True)
    with TestClient(app) as http:
        tus = Tus(http)
        assert tus.head(url).headers["Upload-Offset"] == str(7 * MiB)
        assert tus.patch(url, 7 * MiB, data[7 * MiB :]).status_code == 204
    assert read(s3client, bucket, info(s3client, bucket, store, url)["key"]) == data


def test_a_stalled_body_times_out_and_keeps_what_arrived(store: S3UploadStore) -> None:
    async def main() -> None:
        upload = await store.create("t" * 32, "k", NewUpload(size=100))
        messages = [{"type": "http.request", "body": b"x" * 10, "more_body": True}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            raise AssertionError

        body = RequestBody(receive, timeout=0.3)
        async with store.lock(upload.id):
            written = await store.write(upload.id, 0, body)
        assert body.timed_out and written.offset == 10

    asyncio.run(main())


def test_two_stores_serve_one_upload(s3server: EmbeddedS3, bucket: str, prefix: str) -> None:
    first = make_s3_store(s3server, bucket, key_prefix=prefix)
    second = make_s3_store(s3server, bucket, key_prefix=prefix)
    data = os.urandom(11 * MiB)
    with (
        TestClient(app_factory(first, Clock())()) as one,
        TestClient(app_factory(second, Clock())()) as two,
    ):
        url = Tus(one).new(len(data))
        path = url.split("testserver", 1)[1]
        assert Tus(two).patch(path, 0, data[: 4 * MiB]).status_code == 204
        assert Tus(one).patch(path, 4 * MiB, data[4 * MiB : 9 * MiB]).status_code == 204
        assert Tus(two).head(path).headers["Upload-Offset"] == str(9 * MiB)
        assert Tus(two).patch(path, 9 * MiB, data[9 * MiB :]).status_code == 204
    done = asyncio.run(first.get(upload_id(url)))
    assert done.finished
    assert first.objects.get(bucket, done.key) is not None


def test_a_held_lease_makes_another_process_answer_423(
    s3server: EmbeddedS3, bucket: str, prefix: str
) -> None:
    first = make_s3_store(s3server, bucket, key_prefix=prefix, lock_wait=0.5)
    second = make_s3_store(s3server, bucket, key_prefix=prefix, lock_wait=0.5)

    async def main() -> None:
        upload = await first.create("L" * 32, "k", NewUpload(size=10))
        async with first.lock(upload.id):
            with pytest.raises(HTTPError) as caught:
                async with second.lock(upload.id):
                    pass
            assert caught.value.status == 423
        async with second.lock(upload.id):
            pass

    asyncio.run(main())


def test_an_expired_lease_is_taken_over(s3server: EmbeddedS3, bucket: str, prefix: str) -> None:
    clock = Clock()
    crashed = make_s3_store(s3server, bucket, key_prefix=prefix, lease_ttl=10)
    leases(crashed).clock = clock
    other = make_s3_store(s3server, bucket, key_prefix=prefix, lease_ttl=10, lock_wait=2)
    leases(other).clock = clock

    async def main() -> None:
        lease = f"{crashed.state_prefix}{'X' * 32}.lock"
        assert await crashed.leases.try_take(lease) is not None  # and never released
        assert await other.leases.try_take(lease) is None
        clock.now += 11
        async with other.leases.hold(lease):
            pass

    asyncio.run(main())


def test_sweeper_aborts_expired_multipart_uploads(
    s3server: EmbeddedS3, s3client: Any, bucket: str, prefix: str
) -> None:
    clock = Clock()
    store = make_s3_store(s3server, bucket, key_prefix=prefix, clock=clock)
    leases(store).clock = clock
    data = os.urandom(6 * MiB)
    with TestClient(app_factory(store, clock)(TusSettings(expiration=60))) as http:
        tus = Tus(http)
        url = tus.new(20 * MiB, extra={"Upload-Metadata": "filename YS5iaW4="})
        assert tus.patch(url, 0, data).status_code == 204
        state = info(s3client, bucket, store, url)
        assert state["mpu"] and state["staged"]["size"] == MiB
        finished = tus.upload(b"kept", 4)
        clock.now += 61
        assert tus.head(url).status_code == 410
        assert asyncio.run(store.sweep(clock.now)) == 1
        assert tus.head(url).status_code == 404
        assert tus.head(finished).status_code == 200  # finished: kept for its retention
    uploads = s3client.list_multipart_uploads(Bucket=bucket, Prefix=state["key"])
    assert state["mpu"] not in [u["UploadId"] for u in uploads.get("Uploads", [])]
    assert [k for k in keys(s3client, bucket, store.state_prefix) if upload_id(url) in k] == []
    assert asyncio.run(store.sweep(clock.now + 7200)) == 1  # the finished one's state


def test_no_clobber_refuses_an_existing_key(
    s3server: EmbeddedS3, s3client: Any, bucket: str, prefix: str
) -> None:
    store = make_s3_store(s3server, bucket, key_prefix=prefix, no_clobber=True)
    s3client.put_object(Bucket=bucket, Key=f"{prefix}taken.txt", Body=b"old")
    settings = TusSettings(naming="exact", key_prefix=prefix, no_clobber=True)
    with TestClient(app_factory(store, Clock())(settings)) as http:
        meta = "filename " + str(encode_metadata({"f": "taken.txt"})["f"])
        response = http.post(
            "/files/", headers={**TUS, "Upload-Length": "3", "Upload-Metadata": meta}
        )
        assert response.status_code == 409
        meta = "filename " + str(encode_metadata({"f": "free.txt"})["f"])
        url = Tus(http).upload(b"new", 3, meta=meta)
    assert read(s3client, bucket, f"{prefix}free.txt") == b"new"
    assert read(s3client, bucket, f"{prefix}taken.txt") == b"old"
    assert url


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/abs/path.txt", "path.txt"),
        ("..", ""),
        ("a\x00b\x1fc\u202e.txt", "abc.txt"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("  spaced   name  .txt ", "spaced name .txt"),
        ("x" * 300 + ".bin", "x" * 196 + ".bin"),
    ],
)
def test_sanitize_filename(name: str, safe: str) -> None:
    assert sanitize_filename(name) == safe


def test_unique_suffix_keeps_the_extension() -> None:
    assert with_suffix("a.tar.gz", "ff") == "a.tar-ff.gz"
    assert with_suffix("README", "ff") == "README-ff"


def test_a_small_buffer_pool_degrades_pipelining_instead_of_blocking(
    s3server: EmbeddedS3, s3client: Any, bucket: str, prefix: str
) -> None:
    store = make_s3_store(s3server, bucket, key_prefix=prefix, max_buffers=2, pipeline_parts=4)
    app = app_factory(store, Clock())()
    data = [os.urandom(16 * MiB + 1), os.urandom(21 * MiB)]

    async def main() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:

            async def upload(payload: bytes) -> str:
                headers = {**TUS, "Upload-Length": str(len(payload))}
                url: str = (await http.post("/files/", headers=headers)).headers["Location"]
                patch = {
                    **TUS,
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                }
                response = await http.patch(url, headers=patch, content=payload)
                assert response.status_code == 204, response.text
                return url

            return list(await asyncio.gather(*(upload(d) for d in data)))

    urls = asyncio.run(main())
    for url, payload in zip(urls, data, strict=True):
        assert read(s3client, bucket, info(s3client, bucket, store, url)["key"]) == payload
    assert store.pool.peak_bytes <= 2 * 5 * MiB


class _CountStreamed:
    """Part numbers of every streamed UploadPart attempt."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parts: list[int] = []
        original = BotoStore.upload_part_stream

        def counted(store: BotoStore, *args: Any, **kwargs: Any) -> Any:
            self.parts.append(args[3])
            return original(store, *args, **kwargs)

        monkeypatch.setattr(BotoStore, "upload_part_stream", counted)


def test_a_patch_streams_its_parts_within_one_part_of_memory(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parts the body covers go to the store while they arrive, from the one buffer the
    whole gateway has; their trailing CRCs combine into the object's checksum."""
    streamed = _CountStreamed(monkeypatch)
    store = make_s3_store(s3server, bucket, key_prefix=prefix, max_buffers=1)
    data = os.urandom(23 * MiB + 11)
    with TestClient(app_factory(store, Clock())()) as http:
        tus = Tus(http)
        url = tus.new(len(data))
        assert tus.patch(url, 0, data).status_code == 204
    state = info(s3client, bucket, store, url)
    assert streamed.parts == [1, 2, 3, 4, 5]  # the last, short part as well
    assert store.pool.peak_bytes == 5 * MiB
    assert read(s3client, bucket, state["key"]) == data
    head = s3client.head_object(Bucket=bucket, Key=state["key"], ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == encode(
        ChecksumAlgorithm.CRC64NVME,
        digest(ChecksumAlgorithm.CRC64NVME, data),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("pipeline_parts", "most"), [(0, 1), (1, 2)])
def test_an_upload_borrows_at_most_pipeline_parts_spare_buffers(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    prefix: str,
    pipeline_parts: int,
    most: int,
) -> None:
    """With buffers to spare, one upload holds its part plus ``pipeline_parts`` awaiting the
    store's reply (default one); 0 holds it to one part however large the pool."""
    kwargs: dict[str, Any] = {} if pipeline_parts == 1 else {"pipeline_parts": pipeline_parts}
    store = make_s3_store(s3server, bucket, key_prefix=prefix, max_buffers=8, **kwargs)
    assert store.pipeline_parts == pipeline_parts
    data = os.urandom(23 * MiB)
    with TestClient(app_factory(store, Clock())()) as http:
        tus = Tus(http)
        url = tus.new(len(data))
        assert tus.patch(url, 0, data).status_code == 204
    assert read(s3client, bucket, info(s3client, bucket, store, url)["key"]) == data
    assert store.pool.peak_bytes <= most * 5 * MiB
    if pipeline_parts == 0:
        assert store.pool.peak_bytes == 5 * MiB


def test_a_body_ending_inside_a_streamed_part_keeps_what_arrived(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    streamed = _CountStreamed(monkeypatch)
    store = make_s3_store(s3server, bucket, key_prefix=prefix, max_buffers=2)
    app = app_factory(store, Clock())()
    data = os.urandom(14 * MiB)
    with TestClient(app) as http:
        url = Tus(http).new(len(data))
    # declares the whole upload, sends 8 MiB: part 1 is stored, part 2 stops at 3 MiB
    chunks = [data[i : i + MiB] for i in range(0, 8 * MiB, MiB)]
    _asgi_patch(app, url, 0, chunks, disconnect=True, content_length=len(data))
    assert sorted(streamed.parts) == [1, 2]  # the stopped part is not retried (both in flight)
    state = info(s3client, bucket, store, url)
    assert [p[2] for p in state["parts"]] == [5 * MiB]
    assert state["staged"]["size"] == 3 * MiB and state["offset"] == 8 * MiB
    assert store.pool.lent_bytes == 0
    with TestClient(app) as http:
        assert Tus(http).patch(url, 8 * MiB, data[8 * MiB :]).status_code == 204
    assert read(s3client, bucket, info(s3client, bucket, store, url)["key"]) == data


def test_a_streamed_part_is_sent_again_after_a_reset(
    s3server: EmbeddedS3, s3client: Any, bucket: str, prefix: str
) -> None:
    """A connection reset in the middle of a streamed part: the retry starts the part over
    from the buffer, which keeps every byte until the store acknowledges it."""
    resets = first_k_matching(
        2,
        lambda r: r.method == "PUT" and "partNumber=" in r.path,
        lambda: Fault.reset_mid_body(2 * MiB),
    )
    with FaultProxy(s3server.endpoint_url, resets) as proxy:
        tus_store = make_s3_store(
            s3server,
            bucket,
            proxy.url,
            key_prefix=prefix,
            retry=RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.1),
        )
        data = os.urandom(12 * MiB)
        with TestClient(app_factory(tus_store, Clock())()) as http:
            tus = Tus(http)
            url = tus.new(len(data))
            assert tus.patch(url, 0, data).status_code == 204
        assert len(proxy.injected) == 2
    assert read(s3client, bucket, info(s3client, bucket, tus_store, url)["key"]) == data


def test_a_concatenation_by_copy_stores_the_whole_objects_checksum(
    tus: Tus, store: S3UploadStore, s3client: Any, bucket: str
) -> None:
    pieces = [os.urandom(n) for n in (6 * MiB, 5 * MiB + 7, 1234)]
    urls = [tus.upload(p, 4 * MiB, extra={"Upload-Concat": "partial"}) for p in pieces]
    final = tus.http.post("/files/", headers={**TUS, "Upload-Concat": "final;" + " ".join(urls)})
    assert final.status_code == 201
    key = info(s3client, bucket, store, final.headers["Location"])["key"]
    head = s3client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    joined = b"".join(pieces)
    expected = digest(ChecksumAlgorithm.CRC64NVME, joined)
    assert expected is not None
    assert head["ChecksumCRC64NVME"] == encode(ChecksumAlgorithm.CRC64NVME, expected)
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert read(s3client, bucket, key) == joined


def test_a_long_patch_records_its_parts_as_it_goes(
    s3server: EmbeddedS3, bucket: str, prefix: str
) -> None:
    """A crash in the middle of a long PATCH loses little: acknowledged parts are in the
    state while the body still arrives (HEAD shows them), not only when it ends (no
    pipelining, so that both parts are acknowledged when the body stops)."""
    store = make_s3_store(s3server, bucket, key_prefix=prefix, commit_interval=0, pipeline_parts=0)
    seen: list[int] = []

    async def main() -> None:
        upload = await store.create("p" * 32, f"{prefix}long", NewUpload(size=20 * MiB))
        chunks = [os.urandom(MiB) for _ in range(12)]

        async def receive() -> dict[str, Any]:
            if chunks:
                return {"type": "http.request", "body": chunks.pop(), "more_body": True}
            seen.append((await store.get(upload.id)).offset)  # mid-PATCH, as another process
            return {"type": "http.disconnect"}

        body = RequestBody(receive, timeout=5, expected=20 * MiB)
        async with store.lock(upload.id):
            written = await store.write(upload.id, 0, body)
        assert written.offset == 12 * MiB

    asyncio.run(main())
    assert seen == [10 * MiB]


class _VanishingBody:
    """A body that delivers its bytes, then fails (the client vanished before the end)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.received = 0
        self.expected = len(data) + 1
        self.checked = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), MiB):
            chunk = self.data[start : start + MiB]
            self.received += len(chunk)
            yield chunk
        raise ConnectionResetError("the client vanished")

    def verify(self) -> None:
        pass


def test_a_chunk_failing_after_its_last_part_still_completes_the_upload(
    s3server: EmbeddedS3, s3client: Any, bucket: str, prefix: str
) -> None:
    """Every part is stored, then the request fails: the parts reach the length, so keeping
    them must complete the upload (not leave offset = length unfinished, which clients take
    for done and the sweeper would abort)."""
    store = make_s3_store(s3server, bucket, key_prefix=prefix, commit_interval=0)
    data = os.urandom(11 * MiB)

    async def main() -> Upload:
        upload = await store.create("v" * 32, f"{prefix}vanished", NewUpload(size=len(data)))
        async with store.lock(upload.id):
            with pytest.raises(ConnectionResetError):
                await store.write(upload.id, 0, _VanishingBody(data))
        return await store.get(upload.id)

    upload = asyncio.run(main())
    assert upload.finished and upload.offset == len(data)
    assert read(s3client, bucket, upload.key) == data


def test_parts_acknowledged_out_of_order_are_all_recorded(
    s3server: EmbeddedS3, bucket: str, prefix: str
) -> None:
    """Pipelined parts finish in any order: recording parts 1-2 while part 3 is still out
    must keep part 4 for later (dropping it made the gateway benchmark with
    --pipeline-parts 1 complete an object without it), and completing refuses a record
    that does not add up to the length."""
    store = make_s3_store(s3server, bucket, key_prefix=prefix)
    upload = Upload(
        id="o" * 32,
        size=4 * 5 * MiB,
        offset=0,
        metadata={},
        owner="o",
        created=0.0,
        expires=None,
        key=f"{prefix}ooo",
    )
    state = UploadState(upload, mpu="mpu")
    writer = store.chunk_writer(state, None)
    for n in (1, 2, 4):
        writer.ledger.record(PartRecord(n, 5 * MiB, f'"e{n}"'))
    Commits.apply(state, writer, None)
    assert [p.number for p in state.parts] == [1, 2]
    assert [p.number for p in writer.ledger.parts] == [1, 2, 4]  # 4 waits for 3
    writer.ledger.record(PartRecord(3, 5 * MiB, '"e3"'))
    Commits.apply(state, writer, None)
    assert [p.number for p in state.parts] == [1, 2, 3, 4]
    short = UploadState(replace(upload, size=4 * 5 * MiB + 1), mpu="mpu", parts=state.parts)
    with pytest.raises(S3StreamError, match="do not make its length"):
        asyncio.run(store.finisher.finish(short, None, 0))
