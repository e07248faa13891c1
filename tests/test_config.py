import os
from pathlib import Path
from typing import Any

import pytest

from s3stream import ConfigError, S3StreamUploader, UploadConfig
from s3stream.config import auto_preset
from s3stream.limits import GiB, MiB, format_size, parse_size
from s3stream.store.memory import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"part_size": 5 * MiB - 1}, "part size .* outside S3's limits"),
        ({"part_size": 5 * GiB + 1}, "part size .* outside S3's limits"),
        ({"concurrency": 0}, "concurrency 0 is invalid"),
        ({"checksum": "md5"}, "unknown checksum 'md5'"),
        ({"preset": "turbo"}, "unknown preset"),
        ({"max_parts": 0}, "max_parts 0"),
        ({"colour": "red"}, "unknown upload option"),
        ({"metadata": {"bad key": "v"}}, "metadata"),
    ],
)
def test_bad_options_fail_before_any_request(
    store: MemoryStore, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    uploader = S3StreamUploader(store=store)
    path = tmp_path / "f"
    path.write_bytes(b"data")
    with pytest.raises(ConfigError, match=message):
        uploader.upload_file(path, "bucket", "key", **options)
    with pytest.raises(ConfigError, match=message):
        uploader.upload_stream([b"data"], "bucket", "key", **options)
    with pytest.raises(ConfigError, match=message):
        uploader.open_upload("bucket", "key", **options)
    assert store.calls == []


@pytest.mark.parametrize(
    ("bucket", "key", "message"),
    [
        ("Bad_Bucket", "k", "invalid bucket name"),
        ("ab", "k", "invalid bucket name"),
        ("a" * 64, "k", "invalid bucket name"),
        ("192.168.1.1", "k", "invalid bucket name"),
        ("bucket", "", "empty object key"),
        ("bucket", "k" * 1025, "1025 bytes"),
        ("bucket", "é" * 513, "1026 bytes"),
    ],
)
def test_bad_targets_fail_before_any_request(
    store: MemoryStore, bucket: str, key: str, message: str
) -> None:
    uploader = S3StreamUploader(store=store)
    with pytest.raises(ConfigError, match=message):
        uploader.upload_stream([b"x"], bucket, key)
    assert store.calls == []


def test_declared_size_too_large_fails_before_any_request(store: MemoryStore) -> None:
    with pytest.raises(ConfigError, match="object limit"):
        S3StreamUploader(store=store).open_upload("bucket", "key", size=49 * 1024 * GiB)
    assert store.calls == []


def test_bytes_source_is_refused_with_the_fix(store: MemoryStore) -> None:
    with pytest.raises(ConfigError, match=r"io.BytesIO\(data\)"):
        S3StreamUploader(store=store).upload_stream(b"abc", "bucket", "key")


def test_auto_preset_follows_the_seed_table() -> None:
    assert auto_preset(10_000_000).part_size == 10 * MiB
    assert auto_preset(100_000_000).concurrency == 4
    assert auto_preset(5_000_000_000).part_size == 100 * MiB
    assert auto_preset(None).part_size == 16 * MiB


def test_explicit_values_override_the_preset() -> None:
    plan, concurrency = UploadConfig(preset="aggressive", concurrency=3).resolve(10 * GiB)
    assert (plan.first_part_size, concurrency) == (100 * MiB, 3)


@pytest.mark.parametrize(
    ("text", "value"),
    [("64MiB", 64 * MiB), ("10MB", 10_000_000), ("1.5GiB", 3 * GiB // 2), ("4096", 4096)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "12XB", "-5MiB", "MiB"])
def test_parse_size_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="e.g. 64MiB"):
        parse_size(text)


def test_format_size() -> None:
    assert format_size(1536) == "1.5 KiB"
    assert format_size(5 * GiB) == "5.0 GiB"


def test_missing_credentials_name_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask a metadata service
    uploader = S3StreamUploader(endpoint_url="http://127.0.0.1:9", region="us-east-1")
    with pytest.raises(ConfigError, match="no AWS credentials found: set AWS_PROFILE"):
        uploader.upload_stream([b"x"], "bucket", "key")


def test_unknown_profile_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="profile"):
        S3StreamUploader(profile="nobody-has-this-profile")
