"""Shared fixtures: one embedded SeaweedFS store per session, started only when a test needs it."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3stream.embedded import EmbeddedS3
from tests.support.moto import MotoS3

TEST_BUCKET = "test"


@pytest.fixture(scope="session", autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep every journal the tests write (library and CLI subprocesses) out of $HOME."""
    path = tmp_path_factory.mktemp("state")
    previous = os.environ.get("S3STREAM_STATE_DIR")
    os.environ["S3STREAM_STATE_DIR"] = str(path)
    yield path
    if previous is None:
        del os.environ["S3STREAM_STATE_DIR"]
    else:
        os.environ["S3STREAM_STATE_DIR"] = previous


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that (directly or not) uses the embedded store as ``integration``."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "s3server" in names:
            item.add_marker(pytest.mark.integration)
        if "moto" in names or "moto_tls" in names:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.moto)
        if "s3server_tls" in names or "moto_tls" in names:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.tls)


@pytest.fixture(scope="session")
def s3server() -> Iterator[EmbeddedS3]:
    """A running embedded S3 store with the bucket ``test``, shared by the whole session."""
    with EmbeddedS3(buckets=(TEST_BUCKET,)) as server:
        yield server


@pytest.fixture(scope="session")
def s3client(s3server: EmbeddedS3) -> Any:
    """A botocore S3 client for the session store."""
    return s3server.client()


@pytest.fixture
def bucket(s3server: EmbeddedS3) -> str:
    """Name of the bucket that exists in the session store."""
    return TEST_BUCKET


@pytest.fixture
def unique_key(request: pytest.FixtureRequest) -> str:
    """An object key unique to this test run: the test name plus a random suffix."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")
    return f"{name}-{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """moto's S3 server with the bucket ``test``: a second S3 implementation."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with MotoS3(buckets=(TEST_BUCKET,), log_path=log) as server:
        yield server


@pytest.fixture(scope="session")
def s3server_tls() -> Iterator[EmbeddedS3]:
    """The embedded store serving HTTPS (a certificate from a local CA), bucket ``test``."""
    with EmbeddedS3(buckets=(TEST_BUCKET,), tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def moto_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """moto's S3 server over HTTPS, bucket ``test``."""
    folder = tmp_path_factory.mktemp("moto-tls")
    with MotoS3(buckets=(TEST_BUCKET,), log_path=folder / "moto.log", tls_dir=folder) as server:
        yield server
