"""The main upload paths against a second S3 implementation, moto's server: it honours
conditional writes but verifies no checksum, so s3stream sends none, checks the object's size,
says nothing was verified, and reads the object back when asked."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from s3stream import S3StreamUploader
from s3stream.gateway import TusSettings
from s3stream.gateway.s3store import S3UploadStore
from s3stream.limits import MiB
from s3stream.store.boto import BotoObjects, BotoStore
from s3stream.store.probe import Probe
from tests.support.cli import cli_env, events, run_cli
from tests.support.gateway import TUS, Clock, TestClient, Tus, app_factory, upload_id
from tests.support.moto import MotoS3

PART = 5 * MiB


def read(client: Any, bucket: str, key: str) -> bytes:
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def test_the_library_uploads_files_streams_and_sessions_to_moto(
    moto: MotoS3, bucket: str, unique_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("S3STREAM_STORE_PROFILE", raising=False)
    uploader = S3StreamUploader(journal=tmp_path / "journal.sqlite3")  # probes moto once
    data = os.urandom(2 * PART + 11)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    results = {
        "file": uploader.upload_file(path, bucket, f"{unique_key}/file", part_size=PART),
        "stream": uploader.upload_stream([data], bucket, f"{unique_key}/stream", part_size=PART),
        "checked": uploader.upload_stream(
            iter([data[:PART], data[PART:]]), bucket, f"{unique_key}/checked", verify=True
        ),
    }
    with uploader.open_upload(bucket, f"{unique_key}/session", part_size=PART) as session:
        session.write(data[:PART])
        session.write(data[PART:])
    assert session.result is not None
    results["session"] = session.result
    client = moto.client()
    for name, result in results.items():
        assert read(client, bucket, f"{unique_key}/{name}") == data, name
        expected = ("read-back", "s3stream") if name == "checked" else ("none", None)
        assert (result.verified, result.verified_by) == expected, name
    assert results["file"].parts == 3 and uploader.capabilities(bucket).has("trailers") is not None


def test_the_cli_uploads_to_moto_and_says_what_was_verified(
    moto: MotoS3, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, **moto.env())
    src = tmp_path / "data.bin"
    data = os.urandom(PART + 5)
    src.write_bytes(data)
    plain = run_cli(["cp", "--json", str(src), f"s3://{bucket}/{unique_key}"], env)
    assert plain.returncode == 0, plain.stderr
    done = events(plain.stdout)[-1]
    assert (done["event"], done["verified"], done["verified_by"]) == ("completed", "none", None)
    checked = run_cli(["cp", "--verify", str(src), f"s3://{bucket}/{unique_key}-v"], env)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.rstrip().endswith("read back and verified by s3stream")
    kept = run_cli(["cp", "--no-clobber", str(src), f"s3://{bucket}/{unique_key}"], env)
    assert kept.returncode == 1 and "already exists and --no-clobber is set" in kept.stderr
    assert read(moto.client(), bucket, unique_key) == read(moto.client(), bucket, unique_key + "-v")


def test_the_gateway_streams_uploads_and_concatenations_into_moto(
    moto: MotoS3, bucket: str, unique_key: str
) -> None:
    client = moto.client()
    store, objects = BotoStore(client), BotoObjects(client)
    caps = Probe(store, objects, bucket, f"{unique_key}/").run().capabilities
    prefix = f"{unique_key}/"
    gateway = S3UploadStore(
        store, objects, bucket, key_prefix=prefix, part_size=PART, checksum=None, capabilities=caps
    )
    data = os.urandom(2 * PART + 321)
    settings = TusSettings(key_prefix=prefix)
    with TestClient(app_factory(gateway, Clock())(settings)) as http:
        tus = Tus(http)
        url = tus.upload(data, 3 * MiB)
        parts = [tus.upload(p, PART, extra={"Upload-Concat": "partial"}) for p in (data, b"tail")]
        final = http.post("/files/", headers={**TUS, "Upload-Concat": "final;" + " ".join(parts)})
        assert final.status_code == 201, final.text
    keys = [asyncio.run(gateway.get(upload_id(u))).key for u in (url, final.headers["Location"])]
    assert [read(client, bucket, key) for key in keys] == [data, data + b"tail"]
