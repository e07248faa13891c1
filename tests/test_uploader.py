"""Uploads against the real embedded SeaweedFS: every object downloaded and compared."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from s3stream import S3StreamUploader, SourceError, UploadAborted, UploadFailed
from s3stream.embedded import EmbeddedS3
from s3stream.engine.progress import Progress
from s3stream.limits import MiB
from s3stream.store.boto import make_client
from s3stream.store.http.store import HttpStore

PART = 5 * MiB
SIZES = [0, 1, PART - 1, PART, PART + 1, 3 * PART + 17]


@pytest.fixture
def uploader(s3server: EmbeddedS3, monkeypatch: pytest.MonkeyPatch) -> S3StreamUploader:
    """Configured only through the standard environment variables, as a user would."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    return S3StreamUploader()


@pytest.fixture(params=["native", "botocore"])
def either_uploader(
    request: pytest.FixtureRequest, s3server: EmbeddedS3, monkeypatch: pytest.MonkeyPatch
) -> S3StreamUploader:
    """As :func:`uploader`, once with each transport."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("S3STREAM_TRANSPORT", request.param)
    uploader = S3StreamUploader()
    assert isinstance(uploader.store, HttpStore) == (request.param == "native")
    return uploader


def fetch(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def no_uploads_left(client: Any, bucket: str, key: str) -> bool:
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return not uploads


def key_absent(client: Any, bucket: str, key: str) -> bool:
    return "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix=key)


@pytest.mark.parametrize("size", SIZES)
def test_file_stream_and_iterable_sizes(
    uploader: S3StreamUploader,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    size: int,
) -> None:
    data = os.urandom(size)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    chunks = [data[i : i + 777_777] for i in range(0, size, 777_777)]
    results = {
        "file": uploader.upload_file(path, bucket, f"{unique_key}-file", part_size=PART),
        "stream": uploader.upload_stream(
            io.BytesIO(data), bucket, f"{unique_key}-stream", part_size=PART
        ),
        "declared": uploader.upload_stream(
            io.BytesIO(data), bucket, f"{unique_key}-declared", size=size, part_size=PART
        ),
        "iterable": uploader.upload_stream(
            chunks, bucket, f"{unique_key}-iterable", part_size=PART
        ),
    }
    expected_parts = max(1, -(-size // PART)) if size > PART else 1
    for name, result in results.items():
        key = f"{unique_key}-{name}"
        assert fetch(s3client, bucket, key) == data, name
        assert result.size == size and result.parts == expected_parts
        head = s3client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ContentLength"] == size
        assert head["ChecksumCRC64NVME"] == result.checksum, name
        assert head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        assert no_uploads_left(s3client, bucket, key)


def test_unknown_length_stream_from_a_subprocess_pipe(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    writer = (
        "import random, sys\n"
        "rng = random.Random(7)\n"
        "for _ in range(90):\n"
        "    sys.stdout.buffer.write(rng.randbytes(262_144 + 13))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    result = uploader.upload_stream(proc.stdout, bucket, unique_key, part_size=PART)
    assert proc.wait() == 0
    import random

    rng = random.Random(7)
    expected = b"".join(rng.randbytes(262_144 + 13) for _ in range(90))
    assert fetch(s3client, bucket, unique_key) == expected
    assert result.size == len(expected) and result.parts == 5


def test_push_session_fed_from_several_threads(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    """Chunks from 4 threads land whole and in each thread's own order."""
    chunk_size = 300_001
    per_thread = 12
    session = uploader.open_upload(bucket, unique_key, part_size=PART, concurrency=2)

    def chunk(thread: int, seq: int) -> bytes:
        header = f"{thread:02d}:{seq:04d}|".encode()
        return header + bytes([65 + thread]) * (chunk_size - len(header))

    def produce(thread: int) -> None:
        for seq in range(per_thread):
            session.write(chunk(thread, seq))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    result = session.finish()
    body = fetch(s3client, bucket, unique_key)
    assert len(body) == 4 * per_thread * chunk_size == result.size
    seen: dict[int, list[int]] = {t: [] for t in range(4)}
    for offset in range(0, len(body), chunk_size):
        piece = body[offset : offset + chunk_size]
        thread, seq = int(piece[:2]), int(piece[3:7])
        assert piece == chunk(thread, seq), "a chunk was torn or interleaved"
        seen[thread].append(seq)
    assert all(seqs == list(range(per_thread)) for seqs in seen.values())


def test_push_session_from_asyncio_keeps_the_loop_free(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    data = os.urandom(4 * PART + 99)
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    async def main() -> None:
        stop = asyncio.Event()
        tick_task = asyncio.create_task(ticker(stop))
        async with uploader.open_upload(bucket, unique_key, part_size=PART) as session:
            for i in range(0, len(data), 64 * 1024):
                await session.awrite(data[i : i + 64 * 1024])
        stop.set()
        await tick_task

    started = time.monotonic()
    asyncio.run(main())
    elapsed = time.monotonic() - started
    assert fetch(s3client, bucket, unique_key) == data
    # the loop kept running while parts went up (a blocked loop would tick about once)
    assert ticks >= min(5, int(elapsed / 0.005) // 4)


@pytest.mark.parametrize("algorithm", ["crc32c", "crc32", "sha256", "none"])
def test_other_checksums(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, algorithm: str
) -> None:
    data = os.urandom(2 * PART + 5)
    result = uploader.upload_stream([data], bucket, unique_key, part_size=PART, checksum=algorithm)
    assert fetch(s3client, bucket, unique_key) == data
    if algorithm == "none":
        assert result.checksum is None
        return
    head = s3client.head_object(Bucket=bucket, Key=unique_key, ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm.upper()}"] == result.checksum
    if algorithm == "sha256":
        assert result.checksum is not None and result.checksum.endswith("-3")


def test_abort_leaves_no_multipart_upload(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    session = uploader.open_upload(bucket, unique_key, part_size=PART)
    session.write(os.urandom(3 * PART))
    assert session.upload_id is not None
    assert not no_uploads_left(s3client, bucket, unique_key)
    session.abort()
    assert no_uploads_left(s3client, bucket, unique_key)
    assert key_absent(s3client, bucket, unique_key)
    with pytest.raises(UploadAborted):
        session.write(b"more")


@pytest.mark.parametrize("declared_extra", [-1, +1])
def test_wrong_declared_size_leaves_nothing(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, declared_extra: int
) -> None:
    data = os.urandom(2 * PART + 10)
    with pytest.raises(SourceError, match="declared"):
        uploader.upload_stream(
            io.BytesIO(data), bucket, unique_key, size=len(data) + declared_extra, part_size=PART
        )
    assert no_uploads_left(s3client, bucket, unique_key)
    assert key_absent(s3client, bucket, unique_key)


def test_no_clobber_refuses_an_existing_key(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    s3client.put_object(Bucket=bucket, Key=unique_key, Body=b"keep me")
    for size in (10, 2 * PART):  # single PUT and multipart completion
        with pytest.raises(UploadFailed, match="PreconditionFailed"):
            uploader.upload_stream(
                [os.urandom(size)], bucket, unique_key, part_size=PART, no_clobber=True
            )
    assert fetch(s3client, bucket, unique_key) == b"keep me"
    assert no_uploads_left(s3client, bucket, unique_key)


def count_requests(uploader: S3StreamUploader) -> list[str]:
    """The methods of the HTTP requests the uploader's store sends from now on (either
    transport)."""
    sent: list[str] = []
    store = uploader.store
    if isinstance(store, HttpStore):
        connections = store.client.connections
        original = connections._send

        def send(address: Any, method: str, *args: Any) -> Any:
            sent.append(method)
            return original(address, method, *args)

        connections._send = send  # type: ignore[method-assign,assignment]
    else:
        client = store.client  # type: ignore[attr-defined]
        client.meta.events.register(
            "before-send.s3", lambda request, **kw: sent.append(request.method)
        )
    return sent


def test_missing_bucket_fails_fast(either_uploader: S3StreamUploader, unique_key: str) -> None:
    uploader = either_uploader
    sent = count_requests(uploader)
    with pytest.raises(UploadFailed, match="NoSuchBucket") as info:
        uploader.upload_stream(
            [os.urandom(2 * PART)], "no-such-bucket-here", unique_key, part_size=PART
        )
    assert info.value.bucket == "no-such-bucket-here"
    assert len(sent) == 1  # CreateMultipartUpload, not retried


@pytest.mark.parametrize("transport", ["native", "botocore"])
def test_wrong_credentials_fail_fast(
    s3server: EmbeddedS3,
    bucket: str,
    unique_key: str,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    monkeypatch.setenv("S3STREAM_TRANSPORT", transport)
    uploader = S3StreamUploader()
    sent = count_requests(uploader)
    with pytest.raises(UploadFailed, match="SignatureDoesNotMatch|AccessDenied|InvalidAccessKey"):
        uploader.upload_stream([b"abc"], bucket, unique_key)
    assert len(sent) == 1


def test_explicit_endpoint_overrides_environment(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens there
    uploader = S3StreamUploader(endpoint_url=s3server.endpoint_url, region="us-east-1")
    uploader.upload_stream([b"hello"], bucket, unique_key)
    assert fetch(s3client, bucket, unique_key) == b"hello"


def test_progress_events_on_a_real_upload(
    uploader: S3StreamUploader, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(6 * PART))
    events: list[Progress] = []
    uploader.upload_file(
        path, bucket, unique_key, on_progress=events.append, part_size=PART, progress_interval=0
    )
    sent = [e.bytes_sent for e in events]
    assert events[-1].done and events[-1].bytes_sent == 6 * PART
    assert events[-1].parts_done == 6 and events[-1].percent == 100.0
    assert len(events) > 6  # per-block progress, not only per part
    assert max(sent) == 6 * PART and all(0 <= s <= 6 * PART for s in sent)


def test_content_type_guess_and_metadata(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "doc.json"
    path.write_text('{"a": 1}')
    uploader.upload_file(path, bucket, unique_key, metadata={"origin": "test"})
    head = s3client.head_object(Bucket=bucket, Key=unique_key)
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"origin": "test"}


def test_file_grown_during_upload_gives_no_object(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "growing.bin"
    path.write_bytes(os.urandom(4 * PART))

    def append_on_first_progress(event: Progress) -> None:
        if not event.done and path.stat().st_size == 4 * PART:
            with path.open("ab") as f:
                f.write(b"late bytes")

    with pytest.raises(SourceError, match="grew from .* use follow mode for a growing file"):
        uploader.upload_file(
            path, bucket, unique_key, on_progress=append_on_first_progress, part_size=PART
        )
    assert key_absent(s3client, bucket, unique_key)
    assert no_uploads_left(s3client, bucket, unique_key)


def change_after_parts(path: Path, parts: int, change: Callable[[], None]) -> Callable[..., None]:
    """A progress callback that runs ``change`` once ``parts`` parts were acknowledged."""
    done = threading.Event()

    def on_progress(event: Progress) -> None:
        if event.parts_done >= parts and not done.is_set():
            done.set()
            change()

    return on_progress


def test_file_changed_in_place_during_upload_sends_the_changed_parts_again(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "edited.bin"
    data = bytearray(os.urandom(6 * PART + 5))
    path.write_bytes(data)
    events: list[Progress] = []

    def edit_part_1() -> None:
        with path.open("r+b") as f:
            f.seek(100)
            f.write(b"edited in place")

    on_change = change_after_parts(path, 2, edit_part_1)

    def on_progress(event: Progress) -> None:
        events.append(event)
        on_change(event)

    result = uploader.upload_file(
        path, bucket, unique_key, on_progress=on_progress, part_size=PART, concurrency=1
    )
    data[100:115] = b"edited in place"
    assert fetch(s3client, bucket, unique_key) == bytes(data)  # the file as it is now
    assert result.parts == 7 and events[-1].parts_done == 8  # part 1 went out twice
    assert no_uploads_left(s3client, bucket, unique_key)


def test_file_replaced_during_upload_uploads_the_new_file(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "saved.bin"
    path.write_bytes(os.urandom(4 * PART))
    new = os.urandom(4 * PART)

    def save_by_rename() -> None:  # as editors save: a new file renamed over the old one
        (tmp_path / "saved.tmp").write_bytes(new)
        (tmp_path / "saved.tmp").replace(path)

    uploader.upload_file(
        path,
        bucket,
        unique_key,
        on_progress=change_after_parts(path, 1, save_by_rename),
        part_size=PART,
        concurrency=1,
    )
    assert fetch(s3client, bucket, unique_key) == new
    assert no_uploads_left(s3client, bucket, unique_key)


@pytest.mark.parametrize("checksum", ["crc64nvme", "none"])
def test_file_shrunk_or_unverifiable_during_upload_gives_no_object(
    uploader: S3StreamUploader,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    checksum: str,
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(4 * PART))

    def shrink() -> None:
        os.truncate(path, 4 * PART - 1)

    def edit() -> None:
        with path.open("r+b") as f:
            f.write(b"edited")

    change = shrink if checksum == "crc64nvme" else edit
    expected = "shrank from" if checksum == "crc64nvme" else "without part checksums"
    with pytest.raises(SourceError, match=expected):
        uploader.upload_file(
            path,
            bucket,
            unique_key,
            on_progress=change_after_parts(path, 4, change),  # every part sent
            part_size=PART,
            concurrency=1,
            checksum=checksum,
        )
    assert key_absent(s3client, bucket, unique_key)
    assert no_uploads_left(s3client, bucket, unique_key)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.bin", "no such file"),
        (lambda p: p, "is a directory"),
    ],
)
def test_bad_paths(
    uploader: S3StreamUploader, bucket: str, tmp_path: Path, make: Any, message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        uploader.upload_file(make(tmp_path), bucket, "k")


def test_presigned_get_downloads_the_object(
    uploader: S3StreamUploader, bucket: str, unique_key: str
) -> None:
    uploader.upload_stream([b"presigned!"], bucket, unique_key)
    url = uploader.presign("GET", bucket, unique_key, expires_in=60)
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"presigned!"


@pytest.mark.parametrize("signing", [False, True])
def test_file_parts_read_from_the_file_signed_or_not(
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    signing: bool,
) -> None:
    """File parts are read from the file as they go (no part buffers), their CRC in a
    header; with payload signing each part's SHA-256 is signed too (the signer reads the
    part first). The store checks checksums and signatures."""
    client = make_client(
        endpoint_url=s3server.endpoint_url,
        region=s3server.region,
        access_key=s3server.access_key,
        secret_key=s3server.secret_key,
        payload_signing=signing,
    )
    payloads: list[str] = []

    def record(request: Any, **_: Any) -> None:
        payloads.append(request.headers["x-amz-content-sha256"].decode())

    client.meta.events.register("before-send.s3.UploadPart", record)
    data = os.urandom(3 * PART + 17)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    reports: list[Progress] = []
    result = S3StreamUploader(client=client, store_profile="seaweedfs").upload_file(
        path, bucket, unique_key, part_size=PART, on_progress=reports.append
    )
    assert result.parts == 4 and fetch(s3client, bucket, unique_key) == data
    assert len(payloads) == 4
    # bytes read to hash a signed payload are not counted as sent
    assert reports[-1].bytes_sent == len(data)
    assert max(r.bytes_sent for r in reports) <= len(data)
    if signing:
        assert all(len(p) == 64 and int(p, 16) >= 0 for p in payloads), payloads
    else:
        assert set(payloads) == {"UNSIGNED-PAYLOAD"}


def test_a_file_truncated_while_its_part_is_sent_fails_at_once(
    either_uploader: S3StreamUploader,
    s3client: Any,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Part 2's checksum is taken, then the file shrinks before its bytes are sent: the
    read fails inside the HTTP request, which is the file's fault, not the store's: a
    SourceError at once (no retries), and nothing left in the store."""
    uploader = either_uploader
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * PART))
    attempts: list[int] = []
    store_type = type(uploader.store)
    original = store_type.upload_part

    def shrink_before_part_2(store: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(args[3])
        if args[3] == 2:
            os.truncate(path, PART + MiB // 2)
        return original(store, *args, **kwargs)

    monkeypatch.setattr(store_type, "upload_part", shrink_before_part_2)
    with pytest.raises(SourceError, match="truncated"):
        uploader.upload_file(path, bucket, unique_key, part_size=PART, concurrency=1)
    assert attempts.count(2) == 1
    assert no_uploads_left(s3client, bucket, unique_key)
    assert key_absent(s3client, bucket, unique_key)
