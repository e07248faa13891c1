"""Object attributes on real stores: SeaweedFS honours storage class, SSE-S3, SSE-C, tags
and the Cache-/Content- headers; moto's server emulates KMS and ACLs. Every attribute is
read back from the stored object with a plain botocore client, for single PUTs and
multipart uploads alike, and an SSE-C upload resumes only with its key."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from s3stream import ConfigError, CustomerKey, Journal, S3StreamUploader, UploadOptions
from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from s3stream.store.boto import BotoStore
from tests.support.cli import fetch, uploads_for
from tests.support.moto import MotoS3

PART = 5 * MiB
SIZES = {"single": 1000, "multipart": 2 * PART + 3}
EXPIRES = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


@pytest.fixture
def uploader(s3server: EmbeddedS3, tmp_path: Path) -> S3StreamUploader:
    return S3StreamUploader(client=s3server.client(), journal=Journal(tmp_path / "j.sqlite3"))


@pytest.mark.parametrize("shape", SIZES)
def test_headers_storage_class_sse_s3_and_tags_on_seaweedfs(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, shape: str
) -> None:
    data = os.urandom(SIZES[shape])
    options: UploadOptions = {
        "part_size": PART,
        "content_type": "application/x-demo",
        "cache_control": "public, max-age=600",
        "content_disposition": 'attachment; filename="demo.bin"',
        "content_encoding": "identity",
        "content_language": "de-CH",
        "expires": EXPIRES,
        "storage_class": "standard_ia",
        "sse": "AES256",
        "tagging": "team=media&stage=raw%20cut",
        "metadata": {"origin": "camera-1"},
    }
    result = uploader.upload_stream([data], bucket, unique_key, **options)
    assert result.parts == (1 if shape == "single" else 3)
    head = s3client.head_object(Bucket=bucket, Key=unique_key)
    assert head["ContentType"] == "application/x-demo"
    assert head["CacheControl"] == "public, max-age=600"
    assert head["ContentDisposition"] == 'attachment; filename="demo.bin"'
    assert head["ContentEncoding"] == "identity"
    assert head["ContentLanguage"] == "de-CH"
    assert head["Expires"] == EXPIRES
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"] == {"origin": "camera-1"}
    tags = s3client.get_object_tagging(Bucket=bucket, Key=unique_key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "media", "stage": "raw cut"}
    assert fetch(s3client, bucket, unique_key) == data


@pytest.mark.parametrize("shape", SIZES)
def test_sse_c_encrypts_with_the_key_and_reads_back_only_with_it(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, shape: str
) -> None:
    raw = os.urandom(32)
    key = CustomerKey(raw)
    data = os.urandom(SIZES[shape])
    uploader.upload_stream([data], bucket, unique_key, part_size=PART, sse_customer_key=raw)
    with_key = {
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": key.encoded(),
        "SSECustomerKeyMD5": key.md5,
    }
    assert s3client.get_object(Bucket=bucket, Key=unique_key, **with_key)["Body"].read() == data
    with pytest.raises(s3client.exceptions.ClientError):
        s3client.get_object(Bucket=bucket, Key=unique_key)["Body"].read()


def test_an_sse_c_upload_resumes_only_with_its_key_which_is_never_journaled(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    raw = os.urandom(32)
    journal = Journal(tmp_path / "j.sqlite3")
    uploader = S3StreamUploader(client=s3server.client(), journal=journal)
    first = os.urandom(PART)
    session = uploader.open_upload(
        bucket, unique_key, part_size=PART, sse_customer_key=raw, storage_class="STANDARD_IA"
    )
    session.write(first + b"x")  # part 1 goes up with the key
    info = session.pause()
    assert info.sse_customer_key_md5 == CustomerKey(raw).md5
    stored = (tmp_path / "j.sqlite3").read_bytes() + (tmp_path / "j.sqlite3-wal").read_bytes()
    assert raw not in stored and CustomerKey(raw).encoded().encode() not in stored

    with pytest.raises(ConfigError, match="encrypted with a customer key .SSE-C., which is never"):
        uploader.resume(info.upload_id, [b"x"])
    with pytest.raises(ConfigError, match="not the one upload"):
        uploader.resume(info.upload_id, [b"x"], sse_customer_key=os.urandom(32))
    again = S3StreamUploader(client=s3server.client(), journal=journal)
    result = again.resume(info.upload_id, [b"xyz"], sse_customer_key=raw)  # from resume_offset
    assert result.size == PART + 3
    key = CustomerKey(raw)
    head = s3client.head_object(
        Bucket=bucket,
        Key=unique_key,
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=key.encoded(),
        SSECustomerKeyMD5=key.md5,
    )
    assert head["StorageClass"] == "STANDARD_IA"  # the journaled attributes came back
    assert not uploads_for(s3client, bucket, unique_key)
    journal.close()


@pytest.mark.parametrize("shape", SIZES)
def test_sse_kms_and_acl_on_moto(moto: MotoS3, unique_key: str, shape: str) -> None:
    client = moto.client()
    key_id = moto.kms_client().create_key()["KeyMetadata"]["KeyId"]
    uploader = S3StreamUploader(store=BotoStore(moto.client()), journal=False)
    data = os.urandom(SIZES[shape])
    uploader.upload_stream(
        [data],
        "test",
        unique_key,
        part_size=PART,
        sse="aws:kms",
        sse_kms_key_id=key_id,
        acl="public-read",
        request_payer=True,
        expected_bucket_owner="123456789012",
    )
    head = client.head_object(Bucket="test", Key=unique_key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)
    grants = client.get_object_acl(Bucket="test", Key=unique_key)["Grants"]
    assert any(
        g["Permission"] == "READ" and g["Grantee"].get("URI", "").endswith("/global/AllUsers")
        for g in grants
    )
    assert fetch(client, "test", unique_key) == data
