"""Object attributes and request options: checked as S3 checks them, kept without the
SSE-C key, and honoured by the in-memory store as S3 honours an SSE-C key."""

from __future__ import annotations

import datetime as dt
import os
import typing

import pytest

from s3stream import ConfigError, S3StreamUploader, UploadConfig, UploadOptions
from s3stream.checksums import ChecksumAlgorithm
from s3stream.errors import StoreError
from s3stream.resume.info import ResumeInfo, attribute_fields
from s3stream.store.attributes import (
    CustomerKey,
    ObjectOptions,
    RequestOptions,
    format_tagging,
    parse_expires,
    parse_tagging,
)
from s3stream.store.memory import MemoryStore

KEY = bytes(range(32))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"storage_class": "NEARLINE"}, "unknown storage class 'NEARLINE': use STANDARD"),
        ({"acl": "world-writable"}, "unknown ACL 'world-writable'"),
        ({"sse": "aes128"}, "unknown sse 'aes128': use AES256, aws:kms"),
        ({"sse_kms_key_id": "alias/k"}, "needs sse='aws:kms'"),
        ({"cache_control": "no-cache\r\nX-Evil: 1"}, "is not a header value"),
        ({"content_disposition": 'attachment; filename="ü.txt"'}, "printable ASCII"),
        ({"expires": dt.datetime(2030, 1, 1)}, "timezone-aware"),
        ({"tagging": {"aws:owner": "x"}}, "the aws: prefix is reserved"),
        ({"tagging": {f"k{i}": "v" for i in range(11)}}, "11 tags: S3 takes at most 10"),
        ({"tagging": {"k": "a<b"}}, "'<' is not allowed"),
        ({"metadata": {"k": "v" * 2100}}, "S3 takes at most 2048"),
        ({"metadata": {"bad name": "v"}}, "use a token name"),
    ],
)
def test_attributes_s3_would_refuse_are_refused_first(
    options: dict[str, typing.Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ObjectOptions(**options)


def test_names_are_normalised_and_json_round_trips() -> None:
    options = ObjectOptions(
        storage_class="standard_ia",
        sse="aes256",
        acl="private",
        tagging={"team": "a b", "env": "prod"},
        expires=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        cache_control="max-age=60",
    )
    assert (options.storage_class, options.sse) == ("STANDARD_IA", "AES256")
    assert ObjectOptions.from_json(options.to_json()) == options
    assert options.updated(ObjectOptions(acl="public-read", metadata={"a": "1"})).acl == (
        "public-read"
    )


def test_tagging_and_dates_parse_as_the_aws_cli_writes_them() -> None:
    tags = parse_tagging("team=a%20b&env=prod&empty=")
    assert tags == {"team": "a b", "env": "prod", "empty": ""}
    assert parse_tagging(format_tagging(tags)) == tags
    for bad, message in [("team", "not key=value"), ("a=1&a=2", "twice"), ("", "empty")]:
        with pytest.raises(ConfigError, match=message):
            parse_tagging(bad)
    expected = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert parse_expires("2030-01-01") == expected
    assert parse_expires("2030-01-01T00:00:00Z") == expected
    assert parse_expires("Tue, 01 Jan 2030 00:00:00 GMT") == expected
    with pytest.raises(ConfigError, match="is not a date"):
        parse_expires("next year")


def test_a_customer_key_never_shows_itself() -> None:
    key = CustomerKey(KEY)
    config = UploadConfig(sse_customer_key=KEY)
    for shown in (repr(key), repr(config), repr(config.request_options())):
        assert KEY.hex() not in shown and key.encoded() not in shown and str(KEY) not in shown
    info_fields = attribute_fields(config.object_options(), config.request_options())
    info = ResumeInfo("b", "k", "u", 5 << 20, None, 10_000, True, "crc32", **info_fields)
    assert key.encoded() not in info.to_json()
    assert info.sse_customer_key_md5 == key.md5
    with pytest.raises(ConfigError, match="the SSE-C key is 16 bytes: AES256 needs exactly 32"):
        CustomerKey(KEY[:16])
    with pytest.raises(ConfigError, match="choose one encryption"):
        UploadConfig(sse="AES256", sse_customer_key=KEY)
    with pytest.raises(ConfigError, match="12 digits"):
        RequestOptions(expected_bucket_owner="acme")


def test_the_typed_options_are_the_config_fields() -> None:
    names = set(typing.get_type_hints(UploadOptions))
    assert names == {f for f in UploadConfig.__dataclass_fields__} | {"control"}


def test_the_memory_store_holds_an_sse_c_upload_to_its_key() -> None:
    store = MemoryStore()
    keyed = store.with_request_options(RequestOptions(CustomerKey(KEY)))
    other = store.with_request_options(RequestOptions(CustomerKey(os.urandom(32))))
    upload_id = keyed.create_multipart_upload(
        "b", "k", checksum=ChecksumAlgorithm.CRC32, options=ObjectOptions()
    )
    data = memoryview(b"x" * 100)
    for wrong in (store, other):  # no key, another key
        with pytest.raises(StoreError, match="SSE-C key does not match"):
            wrong.upload_part(
                "b", "k", upload_id, 1, data, checksum=ChecksumAlgorithm.CRC32, checksum_value=None
            )
    part = keyed.upload_part(
        "b", "k", upload_id, 1, data, checksum=ChecksumAlgorithm.CRC32, checksum_value=None
    )
    keyed.complete_multipart_upload(
        "b", "k", upload_id, [part], checksum=ChecksumAlgorithm.CRC32, checksum_value=None
    )
    assert keyed.head_object("b", "k") is not None
    with pytest.raises(StoreError, match="SSE-C key does not match"):
        store.head_object("b", "k")


def test_uploads_carry_their_attributes_to_the_store() -> None:
    store = MemoryStore()
    uploader = S3StreamUploader(store=store, journal=False)
    options: UploadOptions = {
        "storage_class": "GLACIER_IR",
        "tagging": "a=1",
        "sse": "aws:kms",
        "sse_kms_key_id": "alias/k",
        "cache_control": "no-store",
        "part_size": 5 << 20,
    }
    uploader.upload_stream([b"small"], "bkt", "single", **options)
    uploader.upload_stream([b"x" * (11 << 20)], "bkt", "multi", **options)
    for key in ("single", "multi"):
        stored = store.options("bkt", key)
        assert (stored.storage_class, stored.sse, stored.sse_kms_key_id) == (
            "GLACIER_IR",
            "aws:kms",
            "alias/k",
        )
        assert stored.tagging == {"a": "1"} and stored.cache_control == "no-store"
