"""Reliability (issue #7): faults between client and store, a store killed and restarted
mid-upload, and a gateway SIGKILLed mid-upload. Nothing may be lost or corrupted: every upload
ends byte-identical in the store, or fails cleanly (with what it takes to resume, and no object
with wrong bytes, and no multipart upload left behind unless asked to keep it).

tests/test_faults.py covers one fault of each kind at fixed points of library uploads; this
module adds seeded random points and mixes (resets before and inside bodies, 503 SlowDown
bursts, stalls of 2 to 10 s, cut responses), uploads from pipes of unknown length, failures
that must be resumable, the gateway behind the same faults, store restarts and gateway crashes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tusclient import client as tus_client
from tusclient.uploader.uploader import Uploader as TusUploader

from s3stream import RetryPolicy, S3StreamUploader, UploadFailed
from s3stream.embedded import EmbeddedS3
from s3stream.engine.progress import Progress
from s3stream.gateway.model import NewUpload
from s3stream.gateway.s3store.store import S3UploadStore
from s3stream.limits import MiB
from s3stream.store.boto import BotoObjects, BotoStore, make_client
from tests.support.faultproxy import Fault, FaultProxy, RequestInfo
from tests.support.gateway import Clock, TestClient, Tus, app_factory
from tests.support.native import native_store
from tests.support.reliability import (
    HAS_TUS_JS,
    GatewayServer,
    NodeUpload,
    ObjectWatcher,
    RandomFaults,
    crc64nvme,
    create_upload,
    fetch,
    gateway_state,
    head_offset,
    is_complete,
    is_create,
    is_part,
    keys_under,
    multipart_uploads,
    pipe_of,
)

PART = 5 * MiB
# generous enough to ride out a burst of faults, quick enough for a test
RETRY = RetryPolicy(max_attempts=12, base_delay=0.05, max_delay=0.5)

needs_node = pytest.mark.skipif(
    not HAS_TUS_JS,
    reason="node or node_modules/tus-js-client missing: install node and run scripts/setup.sh",
)


@pytest.fixture
def proxy(s3server: EmbeddedS3) -> Iterator[FaultProxy]:
    with FaultProxy(s3server.endpoint_url) as running:
        yield running


def client_via(url: str, server: EmbeddedS3, read_timeout: float) -> Any:
    """A client as the library makes it, with a short read timeout so that a stalled request
    is abandoned and retried rather than waited for."""
    return make_client(
        endpoint_url=url,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        read_timeout=read_timeout,
        connect_timeout=2.0,
    )


def uploader_via(
    proxy: FaultProxy, server: EmbeddedS3, transport: str = "native"
) -> S3StreamUploader:
    if transport == "native":
        store = native_store(server, endpoint_url=proxy.url, read_timeout=1.0, connect_timeout=2.0)
        return S3StreamUploader(store=store, store_profile="seaweedfs")
    return S3StreamUploader(
        client=client_via(proxy.url, server, read_timeout=1.0), store_profile="seaweedfs"
    )


def source_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ================================================================== library uploads, faults


@pytest.mark.parametrize(("seed", "transport"), [(7, "botocore"), (2024, "native")])
def test_file_and_pipe_uploads_survive_seeded_random_faults(
    proxy: FaultProxy,
    s3server: EmbeddedS3,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    seed: int,
    transport: str,
) -> None:
    """About one request in five meets a fault at a random point (every kind at least once);
    both uploads must land byte-identical, and no object with other bytes may ever be
    visible, not even briefly."""
    rng = random.Random(seed)
    faults = RandomFaults(
        seed, rate=0.2, eligible=lambda request: unique_key in request.path, cover_all=True
    )
    proxy.policy = faults
    uploader = uploader_via(proxy, s3server, transport)
    check = s3server.client()
    file_data = rng.randbytes(5 * PART + rng.randrange(PART))
    pipe_data = rng.randbytes(5 * PART + rng.randrange(PART))
    file_key, pipe_key = f"{unique_key}/file", f"{unique_key}/pipe"
    options: dict[str, Any] = {"part_size": PART, "concurrency": 3, "retry": RETRY}

    with ObjectWatcher(check, bucket) as watcher:
        watcher.expect(file_key, file_data)
        watcher.expect(pipe_key, pipe_data)
        path = source_file(tmp_path, "file.bin", file_data)
        by_file = uploader.upload_file(path, bucket, file_key, **options)
        with pipe_of(pipe_data, seed) as pipe:
            by_pipe = uploader.upload_stream(pipe, bucket, pipe_key, **options)

    assert faults.kinds_injected() == {
        "reset_before",
        "reset_mid_body",
        "slowdown",
        "stall",
        "truncate",
    }, faults.injected
    assert fetch(check, bucket, file_key) == file_data
    assert fetch(check, bucket, pipe_key) == pipe_data
    assert by_file.checksum == crc64nvme(file_data)
    assert by_pipe.checksum == crc64nvme(pipe_data)
    assert by_pipe.size == len(pipe_data)
    assert watcher.wrong == [] and watcher.seen == {file_key, pipe_key}
    assert multipart_uploads(check, bucket, unique_key) == []
    print(f"seed {seed}: {len(faults.injected)} faults in {proxy.request_count} requests")


def test_failed_uploads_are_clean_and_a_kept_one_resumes_through_faults(
    proxy: FaultProxy,
    s3server: EmbeddedS3,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
) -> None:
    """Once parts 4 and up are refused for good, an upload fails: by default with its
    multipart upload aborted and no object; with ``leave_parts_on_error`` with the upload id
    and the parts kept, and then it resumes (from a replayed pipe) through random faults of
    every kind."""
    rng = random.Random(99)
    data = rng.randbytes(7 * PART + 4321)
    random_faults = RandomFaults(99, rate=0.3, cover_all=True, enabled=False)
    broken = True

    def policy(request: RequestInfo) -> Fault | None:
        if unique_key not in request.path:
            return None
        number = request.path.partition("partNumber=")[2].partition("&")[0]
        if broken and is_part(request) and int(number) >= 4:
            return Fault.reset_mid_body(rng.randrange(PART))
        return random_faults(request)

    proxy.policy = policy
    uploader = uploader_via(proxy, s3server)
    check = s3server.client()
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
    options: dict[str, Any] = {"part_size": PART, "concurrency": 2, "retry": retry}

    # a file, parts not kept: a clean failure
    path = source_file(tmp_path, "data.bin", data)
    with pytest.raises(UploadFailed) as failed:
        uploader.upload_file(path, bucket, f"{unique_key}/file", **options)
    assert failed.value.upload_id is not None and not failed.value.parts_left
    assert keys_under(check, bucket, f"{unique_key}/file") == []
    assert multipart_uploads(check, bucket, f"{unique_key}/file") == []

    # a pipe, parts kept: the error says what to resume
    with pipe_of(data, 5) as pipe, pytest.raises(UploadFailed) as kept:
        uploader.upload_stream(
            pipe, bucket, f"{unique_key}/pipe", leave_parts_on_error=True, **options
        )
    upload_id = kept.value.upload_id
    assert upload_id is not None and kept.value.parts_left
    assert keys_under(check, bucket, f"{unique_key}/pipe") == []
    assert [u["UploadId"] for u in multipart_uploads(check, bucket, f"{unique_key}/pipe")] == [
        upload_id
    ]
    journal = uploader.journal
    assert journal is not None
    entry = journal.get(upload_id)
    assert entry is not None and entry.state == "failed"
    offset = entry.info.resume_offset
    assert offset == 3 * PART  # parts 1 to 3 went through, 4 never did

    broken = False  # the outage ends; random faults begin
    random_faults.enabled = True
    result = uploader.resume(upload_id, io.BytesIO(data[offset:]), retry=RETRY)
    assert fetch(check, bucket, f"{unique_key}/pipe") == data
    assert result.reused_bytes == offset
    assert result.checksum == crc64nvme(data)
    assert multipart_uploads(check, bucket, unique_key) == []
    assert len(random_faults.injected) >= 2, random_faults.injected
    print(f"resume: {len(random_faults.injected)} faults")


def test_a_lost_create_reply_leaves_an_orphan_that_gc_collects(
    proxy: FaultProxy, s3server: EmbeddedS3, bucket: str, unique_key: str
) -> None:
    """The one fault a client cannot clean up after: CreateMultipartUpload went through but
    its reply was lost, so the store holds an upload whose id nobody learnt. The upload itself
    succeeds (with a second CreateMultipartUpload); the orphan is listed as not journaled and
    ``gc`` aborts it (in production: a lifecycle rule, AbortIncompleteMultipartUpload)."""
    lost = [0]

    def policy(request: RequestInfo) -> Fault | None:
        if is_create(request) and not lost[0]:
            lost[0] += 1
            return Fault.truncate_response(0)
        return None

    proxy.policy = policy
    uploader = uploader_via(proxy, s3server)
    check = s3server.client()
    data = os.urandom(2 * PART + 1)
    uploader.upload_stream([data], bucket, unique_key, part_size=PART, retry=RETRY)
    assert lost[0] == 1
    assert fetch(check, bucket, unique_key) == data
    orphans = uploader.list_incomplete(bucket, prefix=unique_key)
    assert len(orphans) == 1 and not orphans[0].journaled
    collected = uploader.gc(bucket, older_than=dt.timedelta(0), prefix=unique_key)
    assert [u.upload_id for u in collected] == [orphans[0].upload_id]
    assert multipart_uploads(check, bucket, unique_key) == []
    assert fetch(check, bucket, unique_key) == data


# ================================================================== the gateway, faults

TOKEN = "reliability-token-0123456789"


def s3_upload_store(url: str, server: EmbeddedS3, bucket: str, **kwargs: Any) -> S3UploadStore:
    """The gateway's upload store, in process, talking to the store at ``url``."""
    store = BotoStore(client_via(url, server, read_timeout=10.0))
    kwargs.setdefault("part_size", PART)
    return S3UploadStore(store, BotoObjects(store.client), bucket, **kwargs)


def tuspy_upload(endpoint: str, path: Path, url: str, chunk: int, retries: int = 40) -> TusUploader:
    """tuspy with retries; its constructor HEADs the upload (no retry there), so retry it."""
    for attempt in range(20):
        try:
            uploader = tus_client.TusClient(
                endpoint, headers={"Authorization": f"Bearer {TOKEN}"}
            ).uploader(str(path), url=url, chunk_size=chunk, retries=retries, retry_delay=0.25)
            break
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.25)
    return uploader


def assert_gateway_upload_clean(
    check: Any, bucket: str, prefix: str, url: str, data: bytes
) -> list[str]:
    """The upload is finished and byte-identical; no lease is left, and every multipart upload
    under the prefix belongs to an unfinished upload's state (a client may abandon an upload
    and create another: the expiration sweeper then aborts it), so none is an orphan. Returns
    the staged-chunk objects no state refers to."""
    upload = upload_of(url)
    state = gateway_state(check, bucket, prefix, upload)
    assert state["finished"] and state["offset"] == len(data) and state["staged"] is None
    assert head_offset(url, TOKEN) == len(data)
    assert fetch(check, bucket, state["key"]) == data
    left = keys_under(check, bucket, f"{prefix}_uploads/")
    assert not [k for k in left if k.endswith(".lock")], left
    states = [
        gateway_state(check, bucket, prefix, k.rsplit("/", 1)[1][: -len(".info")])
        for k in left
        if k.endswith(".info")
    ]
    tracked = {s["mpu"] for s in states if s["mpu"] and not s["finished"]}
    mpus = {u["UploadId"] for u in multipart_uploads(check, bucket, prefix)}
    assert mpus <= tracked, (mpus, tracked)
    objects = set(keys_under(check, bucket, prefix)) - set(left)
    assert objects == {s["key"] for s in states if s["finished"]}
    staged = {s["staged"]["key"] for s in states if s["staged"]}
    return [k for k in left if ".part." in k and k not in staged]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("client", "seed"),
    [
        ("tuspy-4MiB-chunks", 3),
        pytest.param("tus-js-client-one-patch", 8, marks=needs_node),
    ],
)
def test_gateway_uploads_survive_seeded_random_faults(
    proxy: FaultProxy,
    s3server: EmbeddedS3,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    client: str,
    seed: int,
) -> None:
    """``s3stream serve`` with the fault proxy as its store: every store request it makes (state,
    leases, staged chunks, parts, completion) may meet a fault. The tus client retries; the
    upload must end byte-identical (or fail cleanly and then resume), with no lease, orphaned
    multipart upload, staged chunk or stray object left."""
    prefix = f"{unique_key}/"
    faults = RandomFaults(
        seed,
        rate=0.07,
        eligible=lambda request: unique_key in request.path,
        stall_range=(2.0, 6.0),
        max_stalls=1,
        cover_all=True,
    )
    proxy.policy = faults
    check = s3server.client()
    rng = random.Random(seed)
    data = rng.randbytes(4 * PART + rng.randrange(PART))
    path = source_file(tmp_path, "source.bin", data)
    gateway = GatewayServer(
        proxy.url,
        s3server.env(),
        bucket,
        *("--prefix", prefix, "--part-size", "5MiB", "--token", TOKEN),
        log_path=tmp_path / "gateway.log",
    )
    endpoint = gateway.url + "/files/"
    failure: str | None = None
    with gateway, ObjectWatcher(check, bucket) as watcher:
        if client.startswith("tuspy"):
            url = create_upload(endpoint, len(data), filename="tuspy.bin", token=TOKEN)
            watcher.expect(gateway_state(check, bucket, prefix, upload_of(url))["key"], data)
            try:
                tuspy_upload(endpoint, path, url, chunk=4 * MiB).upload()
            except Exception as exc:
                failure = repr(exc)
        else:
            node = NodeUpload({"endpoint": endpoint, "file": str(path), "token": TOKEN})
            try:
                node.wait_progress(1)
                assert node.url is not None
                url = node.url
                watcher.expect(gateway_state(check, bucket, prefix, upload_of(url))["key"], data)
                node.finish()
            except AssertionError as exc:
                node.kill()
                assert node.url is not None, exc
                url = node.url
                failure = str(exc)
        if failure is not None:
            # a clean failure: no object with other bytes, and the upload resumes
            faults.enabled = False
            offset = head_offset(url, TOKEN)
            assert offset is not None and 0 <= offset < len(data), failure
            tuspy_upload(endpoint, path, url, chunk=8 * MiB).upload()
        faults.enabled = False
        leaked = assert_gateway_upload_clean(check, bucket, prefix, url, data)
    assert leaked == []
    assert watcher.wrong == [] and len(watcher.seen) == 1
    assert faults.kinds_injected() == set(faults.kinds), faults.injected
    print(f"{client}: {len(faults.injected)} faults, failure={failure}")


def is_state_write(request: RequestInfo) -> bool:
    """A write of a gateway upload's ``.info`` state."""
    return request.method == "PUT" and request.path.endswith(".info")


def upload_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def test_lost_lease_replies_do_not_lock_an_upload(
    proxy: FaultProxy, s3server: EmbeddedS3, bucket: str, unique_key: str
) -> None:
    """The lease of an upload is a small object written with conditions. Its write went
    through but the reply was lost; its release was throttled twice: the writer must still
    get the lease at once (not 423 until it expires 30 s later) and leave none behind."""
    prefix = f"{unique_key}/"
    took, released = [0], [0]

    def policy(request: RequestInfo) -> Fault | None:
        if not request.path.endswith(".lock"):
            return None
        if request.method == "PUT" and not took[0]:
            took[0] += 1
            return Fault.truncate_response(0)
        if request.method == "DELETE" and released[0] < 2:
            released[0] += 1
            return Fault.reply(503, "SlowDown", "Please reduce your request rate.")
        return None

    proxy.policy = policy
    store = s3_upload_store(proxy.url, s3server, bucket, key_prefix=prefix, lock_wait=3.0)
    check = s3server.client()

    async def scenario() -> float:
        upload = await store.create("R" * 32, f"{prefix}object", NewUpload(size=10))
        started = time.monotonic()
        async with store.lock(upload.id):
            waited = time.monotonic() - started
        async with store.lock(upload.id):  # released: free again at once
            pass
        return waited

    waited = asyncio.run(scenario())
    assert took[0] == 1 and released[0] == 2
    assert waited < 2.0
    assert [k for k in keys_under(check, bucket, prefix) if k.endswith(".lock")] == []


def test_a_state_write_lost_after_completion_still_finishes_the_upload(
    proxy: FaultProxy, s3server: EmbeddedS3, bucket: str, unique_key: str
) -> None:
    """CompleteMultipartUpload went through, then writing the finished state failed once
    (a reset): the client retries the last chunk, and the upload must finish."""
    prefix = f"{unique_key}/"
    completed, failed = [0], [0]

    def policy(request: RequestInfo) -> Fault | None:
        if is_complete(request):
            completed[0] += 1
        elif completed[0] and not failed[0] and is_state_write(request):
            failed[0] += 1
            return Fault.reset_before()
        return None

    proxy.policy = policy
    store = s3_upload_store(proxy.url, s3server, bucket, key_prefix=prefix)
    check = s3server.client()
    data = os.urandom(12 * MiB + 5)
    with TestClient(app_factory(store, Clock())()) as http:
        tus = Tus(http)
        url = tus.new(len(data))
        assert tus.patch(url, 0, data[: 6 * MiB]).status_code == 204
        first = tus.patch(url, 6 * MiB, data[6 * MiB :])
        assert first.status_code == 503 and failed[0] == 1
        offset = int(tus.head(url).headers["Upload-Offset"])
        key = gateway_state(check, bucket, prefix, upload_of(url))["key"]
        assert fetch(check, bucket, key) == data  # complete, correct, but not finished yet
        retried = tus.patch(url, offset, data[offset:])
        assert retried.status_code == 204, retried.text
        assert tus.head(url).headers["Upload-Offset"] == str(len(data))
    state = gateway_state(check, bucket, prefix, upload_of(url))
    assert state["finished"]
    assert fetch(check, bucket, state["key"]) == data


def test_a_staged_chunk_is_not_left_behind_when_the_state_write_fails(
    proxy: FaultProxy, s3server: EmbeddedS3, bucket: str, unique_key: str
) -> None:
    prefix = f"{unique_key}/"
    staged, failed = [0], [0]

    def policy(request: RequestInfo) -> Fault | None:
        if request.method == "PUT" and ".part." in request.path:
            staged[0] += 1
        elif staged[0] and not failed[0] and is_state_write(request):
            failed[0] += 1
            return Fault.reset_before()
        return None

    proxy.policy = policy
    store = s3_upload_store(proxy.url, s3server, bucket, key_prefix=prefix)
    check = s3server.client()
    data = os.urandom(7 * MiB)
    with TestClient(app_factory(store, Clock())()) as http:
        tus = Tus(http)
        url = tus.new(len(data))
        assert tus.patch(url, 0, data[: 3 * MiB]).status_code == 503  # staged, state lost
        assert tus.patch(url, 0, data[: 3 * MiB]).status_code == 204  # the client retries
        assert tus.patch(url, 3 * MiB, data[3 * MiB :]).status_code == 204
    assert failed[0] == 1 and staged[0] == 2
    state = gateway_state(check, bucket, prefix, upload_of(url))
    assert state["finished"] and fetch(check, bucket, state["key"]) == data
    assert keys_under(check, bucket, f"{prefix}_uploads/") == [
        f"{prefix}_uploads/{upload_of(url)}.info"
    ]


# ================================================================== the store restarted


@pytest.mark.slow
def test_uploads_ride_out_the_store_killed_and_restarted_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store of its own (not the session's): a 96 MiB file and a 64 MiB pipe upload in
    parallel in 5 MiB parts while the store is SIGKILLed twice at seeded points and started
    again on the same ports and data directory after a seeded downtime. Both uploads must
    ride it out through retries and land byte-identical; objects stored before survive."""
    rng = random.Random(1207)
    caplog.set_level("INFO", logger="s3stream.engine.retry")
    with EmbeddedS3(data_dir=tmp_path / "store", buckets=("restart",)) as store:
        check = store.client()
        check.put_object(Bucket="restart", Key="before", Body=b"stored before the crashes")
        uploader = S3StreamUploader(
            client=client_via(store.endpoint_url, store, 5.0), store_profile="seaweedfs"
        )
        file_data = rng.randbytes(96 * MiB)
        pipe_data = rng.randbytes(64 * MiB + rng.randrange(MiB))
        path = source_file(tmp_path, "big.bin", file_data)
        options: dict[str, Any] = {
            "part_size": PART,
            "concurrency": 4,
            "retry": RetryPolicy(max_attempts=40, base_delay=0.2, max_delay=2.0),
        }
        points = sorted(
            int(len(file_data) * rng.uniform(lo, hi)) for lo, hi in [(0.15, 0.35), (0.55, 0.75)]
        )
        reached = [threading.Event() for _ in points]
        results: dict[str, Any] = {}

        def on_progress(progress: Progress) -> None:
            for point, event in zip(points, reached, strict=True):
                if progress.bytes_sent >= point:
                    event.set()

        def upload_file() -> None:
            try:
                results["file"] = uploader.upload_file(
                    path, "restart", "file", on_progress=on_progress, **options
                )
            except Exception as exc:
                results["file"] = exc

        def upload_pipe() -> None:
            try:
                with pipe_of(pipe_data, 3) as pipe:
                    results["pipe"] = uploader.upload_stream(pipe, "restart", "pipe", **options)
            except Exception as exc:
                results["pipe"] = exc

        threads = [threading.Thread(target=upload_file), threading.Thread(target=upload_pipe)]
        for thread in threads:
            thread.start()
        pids = []
        for event in reached:
            assert event.wait(60), results
            pids.append(store.pid)
            store.kill()
            time.sleep(rng.uniform(1.0, 2.5))  # down: every request is refused
            store.start()
        for thread in threads:
            thread.join(120)
        assert len(set(pids)) == 2 and store.pid not in pids  # two distinct crashes

        assert not isinstance(results["file"], Exception), results["file"]
        assert not isinstance(results["pipe"], Exception), results["pipe"]
        assert fetch(check, "restart", "file") == file_data
        assert fetch(check, "restart", "pipe") == pipe_data
        assert results["file"].checksum == crc64nvme(file_data)
        assert results["pipe"].checksum == crc64nvme(pipe_data)
        assert fetch(check, "restart", "before") == b"stored before the crashes"
        assert multipart_uploads(check, "restart", "") == []
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) >= 4, "the crashes never hit a request in flight"


# ================================================================== the gateway crashed


CRASH_TRIALS = [
    ("tus-js-client-retries-one-patch", 11),  # a browser's default: the whole file in one PATCH
    ("tus-js-client-retries-10MiB-chunks", 12),
    ("tus-js-client-killed-too-10MiB-chunks", 13),  # a new client resumes from the upload URL
    ("tuspy-10MiB-chunks", 14),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("client", "seed"), CRASH_TRIALS, ids=[f"{c}-{s}" for c, s in CRASH_TRIALS]
)
def test_gateway_killed_at_a_random_point_then_resumed(
    s3server: EmbeddedS3,
    bucket: str,
    unique_key: str,
    tmp_path: Path,
    client: str,
    seed: int,
) -> None:
    """``s3stream serve`` is SIGKILLed at a seeded random point of a tus upload, and a new
    process is started on the same port, bucket and state. The tus client (the one that was
    running, retrying, or a new one given the upload URL) HEADs the offset and continues.
    The object must be byte-identical and nothing may be left but the upload's state."""
    if client.startswith("tus-js") and not HAS_TUS_JS:
        pytest.skip("node or node_modules/tus-js-client missing")
    rng = random.Random(seed)
    prefix = f"{unique_key}/"
    check = s3server.client()
    data = rng.randbytes(8 * PART + rng.randrange(PART))
    path = source_file(tmp_path, "source.bin", data)
    point = int(len(data) * rng.uniform(0.05, 0.7))
    gateway = GatewayServer(
        s3server.endpoint_url,
        s3server.env(),
        bucket,
        *("--prefix", prefix, "--part-size", "5MiB", "--token", TOKEN),
        log_path=tmp_path / "gateway.log",
        lease_ttl=3.0,
    )
    endpoint = gateway.url + "/files/"
    with gateway:
        if client.startswith("tus-js"):
            options: dict[str, Any] = {"endpoint": endpoint, "file": str(path), "token": TOKEN}
            if client.endswith("10MiB-chunks"):
                options["chunkSize"] = 10 * MiB  # whole parts: nothing is staged
            node = NodeUpload(options)
            node.wait_progress(point)
            gateway.kill()
            if "killed-too" in client:
                node.kill()
            assert node.url is not None
            url = node.url
        else:
            url = create_upload(endpoint, len(data), filename="tuspy.bin", token=TOKEN)
            tuspy_result: list[BaseException | None] = []

            def run_tuspy() -> None:
                try:
                    tuspy_upload(endpoint, path, url, chunk=10 * MiB).upload()
                    tuspy_result.append(None)
                except BaseException as exc:
                    tuspy_result.append(exc)

            thread = threading.Thread(target=run_tuspy)
            thread.start()
            deadline = time.monotonic() + 60
            while gateway_state(check, bucket, prefix, upload_of(url))["offset"] < point:
                assert time.monotonic() < deadline and thread.is_alive(), tuspy_result
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))  # somewhere inside the next chunk
            gateway.kill()
        committed = gateway_state(check, bucket, prefix, upload_of(url))["offset"]
        assert 0 <= committed < len(data)
        time.sleep(rng.uniform(0.2, 1.0))
        gateway.start()  # a new process: same port, bucket and state
        if "killed-too" in client:
            NodeUpload({**options, "uploadUrl": url}).finish()
        elif client.startswith("tus-js"):
            node.finish()
        else:
            thread.join(120)
            assert tuspy_result == [None]
        leaked = assert_gateway_upload_clean(check, bucket, prefix, url, data)
    assert leaked == []
    assert keys_under(check, bucket, f"{prefix}_uploads/") == [
        f"{prefix}_uploads/{upload_of(url)}.info"
    ]
    assert gateway.starts == 2
    print(f"{client}: killed past byte {point}, {committed} of {len(data)} committed")
