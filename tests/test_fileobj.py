"""``s3stream.open()``: S3 objects written through the standard library's and the data
libraries' file writers, against the real SeaweedFS; every object read back and checked."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import os
import re
import tarfile
import zipfile
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

import s3stream
from s3stream import ConfigError, ObjectWriter, S3StreamUploader
from s3stream.embedded import EmbeddedS3
from s3stream.limits import MiB
from tests.support.cli import fetch, key_absent, uploads_for

PART = 5 * MiB


@pytest.fixture
def uploader(s3server: EmbeddedS3) -> S3StreamUploader:
    return S3StreamUploader(client=s3server.client(), journal=False)


@pytest.fixture
def url(bucket: str, unique_key: str) -> str:
    return f"s3://{bucket}/{unique_key}"


def test_it_is_a_binary_file_that_completes_on_close(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, url: str
) -> None:
    data = os.urandom(PART + 123)
    with s3stream.open(url, "wb", uploader=uploader, part_size=PART) as f:
        assert isinstance(f, io.BufferedIOBase)
        assert (f.writable(), f.readable(), f.seekable()) == (True, False, False)
        assert f.write(data[:100]) == 100
        assert f.write(memoryview(data)[100:]) == len(data) - 100
        assert f.tell() == len(data)
        f.flush()
        with pytest.raises(io.UnsupportedOperation):
            f.seek(0)
        with pytest.raises(io.UnsupportedOperation):
            f.read()
        assert key_absent(s3client, bucket, unique_key)  # nothing exists before close
    assert f.closed
    assert f.result is not None and f.result.parts == 2
    assert fetch(s3client, bucket, unique_key) == data
    f.close()  # a second close does nothing


def test_an_exception_inside_with_aborts_and_leaves_nothing(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, url: str
) -> None:
    with (
        pytest.raises(RuntimeError, match="producer broke"),
        s3stream.open(url, uploader=uploader, part_size=PART) as f,
    ):
        f.write(os.urandom(2 * PART + 1))  # a multipart upload exists by now
        raise RuntimeError("producer broke")
    assert f.closed and f.result is None
    assert key_absent(s3client, bucket, unique_key)
    assert not uploads_for(s3client, bucket, unique_key)


def test_a_writer_dropped_unclosed_is_aborted_not_completed(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, url: str
) -> None:
    f = s3stream.open(url, uploader=uploader, part_size=PART)
    f.write(os.urandom(PART + 1))
    with pytest.warns(ResourceWarning, match="never closed: the upload is aborted"):
        f.__del__()
    assert key_absent(s3client, bucket, unique_key)
    assert not uploads_for(s3client, bucket, unique_key)


def test_zipfile_streams_into_it(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, url: str
) -> None:
    members = {"a.txt": b"hello " * 1000, "dir/b.bin": os.urandom(300_000)}
    with (
        s3stream.open(url, uploader=uploader) as f,
        zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name, content in members.items():
            with archive.open(name, "w") as member:
                member.write(content)
    with zipfile.ZipFile(io.BytesIO(fetch(s3client, bucket, unique_key))) as archive:
        assert archive.testzip() is None
        assert {n: archive.read(n) for n in archive.namelist()} == members
        assert all(info.flag_bits & 0x08 for info in archive.infolist())  # data descriptors


def test_tarfile_gzip_and_text_csv(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    content = os.urandom(200_000)
    with (
        s3stream.open(f"s3://{bucket}/{unique_key}.tgz", uploader=uploader) as f,
        tarfile.open(fileobj=f, mode="w|gz") as tar,
    ):
        info = tarfile.TarInfo("data.bin")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    with tarfile.open(fileobj=io.BytesIO(fetch(s3client, bucket, f"{unique_key}.tgz"))) as tar:
        member = tar.extractfile("data.bin")
        assert member is not None and member.read() == content

    with (
        s3stream.open(f"s3://{bucket}/{unique_key}.gz", uploader=uploader) as f,
        gzip.GzipFile(fileobj=f, mode="wb") as gz,
    ):
        gz.write(content)
    assert gzip.decompress(fetch(s3client, bucket, f"{unique_key}.gz")) == content

    rows = [["name", "city"], ["Zoë", "Zürich"], ["a,b", 'say "hi"']]
    text = io.TextIOWrapper(
        s3stream.open(
            f"s3://{bucket}/{unique_key}.csv", uploader=uploader, content_type="text/csv"
        ),
        encoding="utf-8",
        newline="",
    )
    with text:
        csv.writer(text).writerows(rows)
    stored = fetch(s3client, bucket, f"{unique_key}.csv").decode()
    assert list(csv.reader(io.StringIO(stored))) == rows
    head = s3client.head_object(Bucket=bucket, Key=f"{unique_key}.csv")
    assert head["ContentType"] == "text/csv"


def test_pandas_and_pyarrow_writers(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str
) -> None:
    frame = pd.DataFrame({"n": range(1000), "s": [f"row {i}" for i in range(1000)]})
    with s3stream.open(f"s3://{bucket}/{unique_key}.csv", uploader=uploader) as f:
        frame.to_csv(f, index=False)
    back = pd.read_csv(io.BytesIO(fetch(s3client, bucket, f"{unique_key}.csv")))
    pd.testing.assert_frame_equal(back, frame)

    with s3stream.open(f"s3://{bucket}/{unique_key}.parquet", uploader=uploader) as f:
        frame.to_parquet(f)
    back = pd.read_parquet(io.BytesIO(fetch(s3client, bucket, f"{unique_key}.parquet")))
    pd.testing.assert_frame_equal(back, frame)

    table = pa.table({"x": list(range(5000)), "y": [float(i) / 3 for i in range(5000)]})
    with s3stream.open(f"s3://{bucket}/{unique_key}.arrow.parquet", uploader=uploader) as f:
        pq.write_table(table, f)
    stored = fetch(s3client, bucket, f"{unique_key}.arrow.parquet")
    assert pq.read_table(pa.BufferReader(stored)).equals(table)

    with s3stream.open(f"s3://{bucket}/{unique_key}.arrow.csv", uploader=uploader) as f:
        pa_csv.write_csv(table, f)
    stored = fetch(s3client, bucket, f"{unique_key}.arrow.csv")
    assert pa_csv.read_csv(pa.BufferReader(stored)).equals(table)


def test_the_async_twin(
    uploader: S3StreamUploader, s3client: Any, bucket: str, unique_key: str, url: str
) -> None:
    data = os.urandom(PART + 7)

    async def main() -> None:
        async with s3stream.aopen(url, uploader=uploader, part_size=PART) as f:
            for start in range(0, len(data), 100_000):
                assert await f.write(data[start : start + 100_000]) == len(
                    data[start : start + 100_000]
                )
            assert f.tell() == len(data)
        assert f.result is not None and f.result.size == len(data)
        with pytest.raises(ValueError, match="already completed"):
            await f.write(b"more")

        aborted = s3stream.aopen(f"{url}.aborted", uploader=uploader, part_size=PART)
        with pytest.raises(KeyError):
            async with aborted:
                await aborted.write(os.urandom(PART + 1))
                raise KeyError("stop")

    asyncio.run(main())
    assert fetch(s3client, bucket, unique_key) == data
    assert key_absent(s3client, bucket, f"{unique_key}.aborted")
    assert not uploads_for(s3client, bucket, f"{unique_key}.aborted")


def test_bad_modes_and_urls_are_refused_before_any_request(uploader: S3StreamUploader) -> None:
    for mode in ("rb", "ab", "r+b", "xb"):
        with pytest.raises(
            ConfigError, match=re.escape(f"mode '{mode}' is not supported, use 'wb'")
        ):
            s3stream.open("s3://test/key", mode, uploader=uploader)
    with pytest.raises(ConfigError, match=r"io\.TextIOWrapper\(s3stream\.open"):
        s3stream.open("s3://test/key", "w", uploader=uploader)
    with pytest.raises(ConfigError, match="not an S3 URL"):
        s3stream.open("/tmp/file", uploader=uploader)
    with pytest.raises(ConfigError, match="empty object key"):
        s3stream.open("s3://test/", uploader=uploader)
    writer = s3stream.open("s3://test/k", uploader=uploader)
    assert isinstance(writer, ObjectWriter)
    writer.abort()
