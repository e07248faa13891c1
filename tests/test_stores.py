"""Stores that refuse what s3stream would send: the quirk proxy plays each documented refusal
in front of the real SeaweedFS, the probe finds it, and the fallback works end to end (the
object is byte-identical, and the result says what was verified)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from s3stream import ConfigError, S3StreamUploader
from s3stream.checksums import ChecksumAlgorithm, digest, encode
from s3stream.embedded import EmbeddedS3
from s3stream.errors import StoreError
from s3stream.gateway import TusSettings
from s3stream.gateway.instance import InstanceMarker
from s3stream.gateway.s3store import S3UploadStore
from s3stream.limits import GiB, MiB
from s3stream.store.attributes import ObjectOptions
from s3stream.store.boto import BotoObjects, BotoStore, make_client
from s3stream.store.capabilities import Capabilities, Support
from s3stream.store.probe import Probe
from s3stream.store.profiles import AWS
from tests.support.cli import Running, cli_env, run_cli
from tests.support.faultproxy import FaultProxy
from tests.support.gateway import TUS, Clock, TestClient, Tus, app_factory, free_port, upload_id
from tests.support.quirks import Quirks

PART = 5 * MiB
CRC64 = ChecksumAlgorithm.CRC64NVME


@contextmanager
def quirky(server: EmbeddedS3, quirks: Quirks) -> Iterator[Any]:
    """A botocore client for ``server`` through a proxy playing ``quirks``."""
    with FaultProxy(server.endpoint_url, quirks) as proxy:
        yield make_client(
            endpoint_url=proxy.url,
            region=server.region,
            access_key=server.access_key,
            secret_key=server.secret_key,
        )


def probe(client: Any, bucket: str, *, full: bool = False) -> Capabilities:
    return (
        Probe(BotoStore(client), BotoObjects(client), bucket, "quirks/").run(full=full).capabilities
    )


def crc(data: bytes) -> str:
    found = digest(CRC64, data)
    assert found is not None
    return encode(CRC64, found)


def read(s3client: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


# ------------------------------------------------------------------ checksums


def test_a_refused_checksum_falls_back_to_the_next_the_store_verifies(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Any
) -> None:
    quirks = Quirks(refuse_checksums=frozenset({"crc64nvme"}))
    with quirky(s3server, quirks) as client:
        uploader = S3StreamUploader(client=client, journal=tmp_path / "journal.sqlite3")
        data = os.urandom(2 * PART + 99)
        result = uploader.upload_stream([data], bucket, unique_key, part_size=PART)
        caps = uploader.capabilities(bucket)
    assert caps.support(CRC64) is Support.REFUSED  # found by the quick probe
    assert caps.support(ChecksumAlgorithm.CRC32C) is Support.VERIFIED
    assert quirks.played.count("checksum") >= 1
    assert (result.checksum_algorithm, result.parts) == ("crc32c", 3)
    assert (result.verified, result.verified_by) == ("full-object", "store")
    assert read(s3client, bucket, unique_key) == data


def test_a_store_that_takes_no_checksum_gets_none_and_verify_reads_back(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Any
) -> None:
    quirks = Quirks.all_checksums_refused()
    with quirky(s3server, quirks) as client:
        uploader = S3StreamUploader(client=client, journal=tmp_path / "journal.sqlite3")
        uploader.capabilities(bucket)
        refused_by_probe = quirks.played.count("checksum")
        data = os.urandom(2 * PART + 5)
        plain = uploader.upload_stream([data], bucket, unique_key, part_size=PART)
        verified = uploader.upload_stream(
            [data], bucket, unique_key + "-v", part_size=PART, verify=True
        )
    assert quirks.played.count("checksum") == refused_by_probe  # the uploads sent none
    assert (plain.verified, plain.verified_by) == ("none", None)
    assert plain.checksum == crc(data)  # computed by s3stream, said to be unverified
    assert (verified.verified, verified.verified_by) == ("read-back", "s3stream")
    assert read(s3client, bucket, unique_key) == read(s3client, bucket, unique_key + "-v") == data


# ------------------------------------------------------------------ the gateway


def gateway_store(
    client: Any, bucket: str, prefix: str, caps: Capabilities, part_size: int = PART
) -> S3UploadStore:
    store = BotoStore(client)
    return S3UploadStore(
        store,
        BotoObjects(client),
        bucket,
        key_prefix=prefix,
        part_size=part_size,
        max_buffers=4,
        checksum=None,
        capabilities=caps,
    )


@contextmanager
def tus_client(store: S3UploadStore, prefix: str) -> Iterator[Tus]:
    with TestClient(app_factory(store, Clock())(TusSettings(key_prefix=prefix))) as http:
        yield Tus(http)


def stored_key(store: S3UploadStore, url: str) -> str:
    return asyncio.run(store.get(upload_id(url))).key


def test_refused_trailers_hold_each_part_and_send_its_checksum_in_a_header(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str
) -> None:
    quirks = Quirks(refuse_trailers=True)
    prefix = f"{unique_key}/"
    with quirky(s3server, quirks) as client:
        caps = probe(client, bucket)
        assert caps.trailers is False and quirks.played == ["trailer"]
        store = gateway_store(client, bucket, prefix, caps)
        data = os.urandom(2 * PART + 777)
        with tus_client(store, prefix) as tus:
            url = tus.upload(data, 3 * MiB)
        key = stored_key(store, url)
    assert quirks.played == ["trailer"]  # no part of the upload tried a trailer
    head = s3client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == crc(data)  # the store verified the whole object
    assert read(s3client, bucket, key) == data


def test_no_upload_part_copy_concatenates_by_streaming(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str
) -> None:
    quirks = Quirks(refuse_part_copy=True)
    prefix = f"{unique_key}/"
    with quirky(s3server, quirks) as client:
        caps = probe(client, bucket)
        assert caps.upload_part_copy is False
        store = gateway_store(client, bucket, prefix, caps)
        pieces = [os.urandom(n) for n in (PART + 11, PART, 999)]
        with tus_client(store, prefix) as tus:
            urls = [tus.upload(p, 4 * MiB, extra={"Upload-Concat": "partial"}) for p in pieces]
            final = tus.http.post(
                "/files/", headers={**TUS, "Upload-Concat": "final;" + " ".join(urls)}
            )
            assert final.status_code == 201, final.text
        key = stored_key(store, final.headers["Location"])
    assert quirks.played == ["part copy"]  # the probe's only
    head = s3client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == crc(b"".join(pieces))
    assert read(s3client, bucket, key) == b"".join(pieces)


def test_equal_parts_hold_for_tus_chunks_and_deferred_lengths(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str
) -> None:
    """Chunks of 7 MiB over 8 MiB parts leave tails of 5 MiB or more, which would be parts of
    their own: they are staged, so every part but the last has the plan's size, also when
    the length comes last."""
    quirks = Quirks(equal_parts=True)
    prefix = f"{unique_key}/"
    data = os.urandom(3 * 8 * MiB + 1234)
    with quirky(s3server, quirks) as client:
        caps = probe(client, bucket, full=True)
        assert caps.equal_parts is True and quirks.played == ["equal parts"]
        equal = gateway_store(client, bucket, prefix, caps, 8 * MiB)
        with tus_client(equal, prefix) as tus:
            known = tus.upload(data, 7 * MiB)
            deferred = tus.new(None)
            offset = 0
            while offset < len(data):
                chunk = data[offset : offset + 7 * MiB]
                last = offset + len(chunk) == len(data)
                extra = {"Upload-Length": str(len(data))} if last else None
                response = tus.patch(deferred, offset, chunk, extra)
                assert response.status_code == 204, response.text
                offset += len(chunk)
        assert quirks.played == ["equal parts"]  # neither upload was refused
        # the same upload on a store profile that allows unequal parts is refused
        unequal = gateway_store(client, bucket, prefix + "aws/", AWS, 8 * MiB)
        with tus_client(unequal, prefix + "aws/") as tus:
            url = tus.new(len(data))
            responses = [tus.patch(url, 0, data[: 7 * MiB])]
            responses.append(tus.patch(url, 7 * MiB, data[7 * MiB :]))
        keys = [stored_key(equal, url) for url in (known, deferred)]
    assert responses[0].status_code == 204 and responses[1].status_code >= 500
    assert quirks.played == ["equal parts", "equal parts"]
    assert [read(s3client, bucket, key) for key in keys] == [data, data]


# ------------------------------------------------------------------ limits and conditions


def test_a_part_limit_of_1000_keeps_plans_within_it(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Any
) -> None:
    quirks = Quirks(part_limit=1000)
    with quirky(s3server, quirks) as client:
        uploader = S3StreamUploader(client=client, journal=tmp_path / "journal.sqlite3")
        config = uploader.upload_config(bucket, unique_key, part_size=PART)
        plan, _ = config.resolve(6 * GiB)
        stream, _ = config.resolve(None)
        data = os.urandom(2 * PART + 1)
        result = uploader.upload_stream([data], bucket, unique_key, part_size=PART)
        store = BotoStore(client)
        upload = store.create_multipart_upload(
            bucket, unique_key, checksum=ChecksumAlgorithm.NONE, options=ObjectOptions()
        )
        with pytest.raises(StoreError, match="between 1 and 1000"):
            store.upload_part(
                bucket,
                unique_key,
                upload,
                1001,
                memoryview(b"x"),
                checksum=ChecksumAlgorithm.NONE,
                checksum_value=None,
            )
        store.abort_multipart_upload(bucket, unique_key, upload)
    assert config.max_parts == 1000 and plan.part_count is not None and plan.part_count <= 1000
    assert plan.first_part_size > PART  # grown to fit 6 GiB in 1,000 parts
    assert stream.capacity <= 1000 * PART  # a stream is held to 1,000 equal parts
    assert (result.verified, read(s3client, bucket, unique_key)) == ("full-object", data)


def test_ignored_if_none_match_refuses_no_clobber_and_keeps_the_gateway_to_one_instance(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Any
) -> None:
    quirks = Quirks(ignore_if_none_match=True)
    s3client.put_object(Bucket=bucket, Key=unique_key, Body=b"first")
    with quirky(s3server, quirks) as client:
        uploader = S3StreamUploader(client=client, journal=tmp_path / "journal.sqlite3")
        caps = uploader.capabilities(bucket)
        assert not caps.if_none_match_put and not caps.conditional_writes
        with pytest.raises(ConfigError, match="does not honour If-None-Match.*drop --no-clobber"):
            uploader.upload_stream([b"second"], bucket, unique_key, no_clobber=True)
        assert read(s3client, bucket, unique_key) == b"first"
        prefix = f"{unique_key}/"
        store = gateway_store(client, bucket, prefix, caps)
        assert store.single_instance
        data = os.urandom(PART + 3)
        with tus_client(store, prefix) as tus:
            url = tus.upload(data, 2 * MiB)
        assert read(s3client, bucket, stored_key(store, url)) == data
        objects = BotoObjects(client)
        first = InstanceMarker(objects, bucket, f"{prefix}gateway.instance")
        first.claim()
        try:
            with pytest.raises(ConfigError, match="another gateway .* serves"):
                InstanceMarker(objects, bucket, f"{prefix}gateway.instance").claim()
        finally:
            first.release()
        again = InstanceMarker(objects, bucket, f"{prefix}gateway.instance")
        again.claim()  # free again once the first stopped
        again.release()


def test_serve_checks_conditional_writes_at_start_up_and_stays_one_instance_without_them(
    s3server: EmbeddedS3, bucket: str, unique_key: str, tmp_path: Any
) -> None:
    """``s3stream serve`` probes the store when it starts; where conditional writes are
    ignored it runs as the only instance (and says so), and a second one is refused."""
    quirks = Quirks(ignore_if_none_match=True)
    prefix = f"{unique_key}/"
    with FaultProxy(s3server.endpoint_url, quirks) as proxy:
        env = {k: v for k, v in cli_env(tmp_path, s3server).items() if "PROFILE" not in k}
        args = ["serve", "--endpoint-url", proxy.url, "--bucket", bucket, "--prefix", prefix]
        first = Running([*args, "--port", str(free_port())], env)
        try:
            _, line = first.wait_for(lambda name, line: "s3stream gateway: store" in line, 60)
            assert "does not honour conditional writes" in line and "the only one" in line
            second = run_cli([*args, "--port", str(free_port())], env, timeout=60)
            assert second.returncode == 2
            assert "another gateway" in second.stderr and "stop it" in second.stderr
        finally:
            first.proc.send_signal(signal.SIGTERM)
            first.finish(timeout=20)
            first.kill()
    client = s3server.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}_uploads/gateway.instance")
    assert listed.get("KeyCount") == 0  # the first one removed its marker when it stopped
