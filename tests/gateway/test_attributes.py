"""The gateway's object attributes: the operator's defaults (serve's attribute flags) and
the tus metadata keys clients may map to attributes (``--tus-metadata``), through a real
``s3stream serve`` process on SeaweedFS."""

from __future__ import annotations

import secrets
import subprocess
import sys
from typing import Any

import httpx

from s3stream.embedded import EmbeddedS3
from tests.support.gateway import GatewayProcess, Tus, metadata


def object_under(client: Any, bucket: str, prefix: str) -> str:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    keys = [o["Key"] for o in listed if "/_uploads/" not in o["Key"]]
    assert len(keys) == 1, keys
    return str(keys[0])


def test_defaults_and_mapped_tus_metadata_become_attributes(
    s3server: EmbeddedS3, s3client: Any, bucket: str
) -> None:
    root = f"gw-attributes-{secrets.token_hex(4)}/"
    flags = [
        "--prefix", root, "--storage-class", "STANDARD_IA", "--sse",
        "--cache-control", "max-age=60", "--tus-metadata", "tags=tagging",
        "--tus-metadata", "cacheControl=cache-control", "--tus-metadata", "author=metadata.author",
    ]  # fmt: skip
    with (
        GatewayProcess(s3server, bucket, *flags) as gateway,
        httpx.Client(base_url=gateway.url) as http,
    ):
        tus = Tus(http)
        first = tus.upload(
            b"hello",
            5,
            meta=metadata(filename="a.txt", filetype="text/plain", tags="a=1", author="ann"),
        )
        key = object_under(s3client, bucket, f"{root}a")
        head = s3client.head_object(Bucket=bucket, Key=key)
        assert head["StorageClass"] == "STANDARD_IA"
        assert head["ServerSideEncryption"] == "AES256"
        assert head["CacheControl"] == "max-age=60"  # the operator's default
        assert head["ContentType"] == "text/plain"
        assert head["Metadata"] == {"author": "ann", "tus-upload-id": first.rsplit("/", 1)[-1]}
        tags = s3client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        assert tags == [{"Key": "a", "Value": "1"}]

        tus.upload(b"world", 5, meta=metadata(filename="b.txt", cacheControl="no-store"))
        head = s3client.head_object(Bucket=bucket, Key=object_under(s3client, bucket, f"{root}b"))
        assert head["CacheControl"] == "no-store"  # the client's, where allowed

        refused = tus.create(5, meta=metadata(filename="c.txt", tags="aws:x=1"))
        assert refused.status_code == 400
        assert "Upload-Metadata 'tags': tag 'aws:x': the aws: prefix is reserved" in refused.text
        assert not s3client.list_objects_v2(Bucket=bucket, Prefix=f"{root}c").get("Contents")


def test_a_mapping_to_an_unknown_attribute_stops_serve() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "s3stream.cli", "serve", "--endpoint-url", "http://127.0.0.1:9",
         "--tus-metadata", "secret=sse"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "tus metadata 'secret' cannot set 'sse': map it to one of content-type" in done.stderr
