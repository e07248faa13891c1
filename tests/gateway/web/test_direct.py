"""The page's direct mode in Debian's Chromium: files go from the browser straight to the
embedded SeaweedFS as presigned multipart uploads (parts in parallel, each with the CRC64NVME
the page computed, which the store verifies), pause and resume, and a reload after which the
same file continues from the parts the store lists. The gateway is the one `s3stream serve`
builds with ``--page-mode auto`` (in a uvicorn thread); `s3stream cors` (the real command)
sets the bucket's rule that makes auto pick direct. Objects are compared byte for byte."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3stream.embedded import EmbeddedS3
from tests.support.browser import (
    CHROMIUM,
    HAS_CHROMIUM,
    Server,
    Site,
    Throttle,
    browser_page,
    make_file,
    wait_percent,
)
from tests.support.cli import cli_env, run_cli
from tests.support.gateway import serve_asgi

pytest.importorskip("playwright.sync_api")

TOKEN = "direct-token-0123456789abcdef"
BUCKET = "direct-browser"
MiB = 1024 * 1024

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not HAS_CHROMIUM, reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture(scope="module")
def site(s3server: EmbeddedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s3server.create_bucket(BUCKET)
    prefix = f"direct-{secrets.token_hex(4)}/"
    flags = ("--token", TOKEN, "--part-size", "5MiB", "--page-mode", "auto")
    throttle = Throttle(serve_asgi(s3server, prefix, *flags, bucket=BUCKET))
    server = Server(throttle)
    env = cli_env(tmp_path_factory.mktemp("cors"), s3server)
    done = run_cli(["cors", f"s3://{BUCKET}", "--origin", server.url], env)
    assert done.returncode == 0, done.stderr
    assert f"a page on {server.url} can upload to s3://{BUCKET}" in done.stdout
    with server:
        yield Site(server.url, throttle, prefix)


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    with browser_page(browser, token=TOKEN) as opened:
        yield opened
    site.throttle.delay = 0.0


def open_page(page: Any, site: Site, query: str = "") -> None:
    page.goto(f"{site.url}/{query}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.get_attribute("body", "data-mode") == "direct"


def finished_key(page: Any, name: str) -> str:
    done = page.locator("#done .done-item").filter(has=page.locator(f".name[title='{name}']"))
    done.wait_for(timeout=60_000)
    key = done.get_attribute("data-key")
    assert key
    return str(key)


def stored(s3client: Any, key: str) -> bytes:
    body: bytes = s3client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


class PartPuts:
    """The part PUTs the page sends to the store: how many, how many at once, their CRCs."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        self.checksums: list[str | None] = []
        self.open = 0
        self.most = 0
        page.on("request", self._sent)
        page.on("requestfinished", self._done)
        page.on("requestfailed", self._done)

    @staticmethod
    def _is_part(request: Any) -> bool:
        return bool(request.method == "PUT" and "partNumber=" in request.url)

    def _sent(self, request: Any) -> None:
        if self._is_part(request):
            self.urls.append(request.url)
            self.checksums.append(request.headers.get("x-amz-checksum-crc64nvme"))
            self.open += 1
            self.most = max(self.most, self.open)

    def _done(self, request: Any) -> None:
        if self._is_part(request):
            self.open -= 1


def test_files_go_straight_to_the_store_in_parallel_parts(
    page: Any, site: Site, s3client: Any, tmp_path: Path
) -> None:
    config = page.request.get(f"{site.url}/api/config").json()
    assert config["mode"] == "direct"
    assert config["direct"]["checksum"] == "crc64nvme" and config["direct"]["partSize"] == 5 * MiB
    puts = PartPuts(page)
    patches: list[str] = []
    page.on("request", lambda r: patches.append(r.url) if r.method == "PATCH" else None)
    open_page(page, site)
    path, data = make_file(tmp_path, "direct.bin", 17 * MiB + 9)
    page.set_input_files("#picker", [str(path)])
    key = finished_key(page, "direct.bin")
    assert key.startswith(site.prefix + "direct-")
    assert stored(s3client, key) == data
    assert len(puts.urls) == 4 and puts.most >= 2  # 5 + 5 + 5 + 2 MiB, several at once
    assert all(url.startswith(s3client.meta.endpoint_url) for url in puts.urls)
    assert all(puts.checksums), puts.checksums  # every part carried its CRC64NVME
    assert patches == []  # nothing went through the gateway's tus endpoint
    text = page.locator("#done .done-item").first.text_content() or ""
    assert "CRC64NVME per part" in text and "verified by the store" in text


def test_pause_then_resume(page: Any, site: Site, s3client: Any, tmp_path: Path) -> None:
    site.throttle.delay = 0.4  # each part's signature
    open_page(page, site, "?parallel=1")
    path, data = make_file(tmp_path, "paused.bin", 26 * MiB)
    page.set_input_files("#picker", [str(path)])
    wait_percent(page, "paused.bin", 19)
    page.get_by_role("button", name="Pause paused.bin").click()
    page.wait_for_selector("#queue li[data-state='paused']")
    entry = page.locator("#queue li[data-name='paused.bin']")
    page.wait_for_timeout(600)
    before = int(entry.get_attribute("data-percent"))
    page.wait_for_timeout(1200)
    assert int(entry.get_attribute("data-percent")) == before < 100
    page.get_by_role("button", name="Resume paused.bin").click()
    key = finished_key(page, "paused.bin")
    assert stored(s3client, key) == data


def test_reload_then_add_the_same_file_resumes_from_the_stored_parts(
    page: Any, site: Site, s3client: Any, tmp_path: Path
) -> None:
    site.throttle.delay = 0.4
    open_page(page, site, "?parallel=1")
    path, data = make_file(tmp_path, "reloaded.bin", 26 * MiB + 3)
    page.set_input_files("#picker", [str(path)])
    wait_percent(page, "reloaded.bin", 39)  # two of six parts stored
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#resumable:not([hidden]) li:has-text('reloaded.bin')")
    listed: list[str] = []
    page.on(
        "request",
        lambda r: (
            listed.append(r.url)
            if r.method == "GET"
            and "/s3/multipart/" in r.url
            and r.url.split("?")[0].count("/") == 5
            else None
        ),
    )
    page.set_input_files("#picker", [str(path)])
    note = page.locator("#queue li[data-name='reloaded.bin'] .note")
    note.filter(has_text="resumed at").wait_for(timeout=15_000)
    resumed = int(
        page.locator("#queue li[data-name='reloaded.bin']").get_attribute("data-resume-offset")
    )
    assert resumed >= 10 * MiB and resumed % (5 * MiB) == 0  # whole parts, from ListParts
    assert listed  # the page asked the gateway which parts the store holds
    key = finished_key(page, "reloaded.bin")
    assert stored(s3client, key) == data
    assert page.locator("#resumable").is_hidden()
