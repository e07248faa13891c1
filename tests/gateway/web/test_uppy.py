"""Uppy 6 (@uppy/core, @uppy/tus, @uppy/aws-s3 from npm, bundled by esbuild at test time) in
Debian's Chromium against the gateway `s3stream serve` builds (a real uvicorn, in a thread)
on the embedded SeaweedFS: tus (plain, pause/resume, reload and add the file again) and
aws-s3 (multipart and single form upload, straight to the store through a bucket whose CORS
rule s3stream sets). Uppy cannot send an Authorization header, so the page gets a session
cookie from the gateway first; without it nothing is uploaded. Every object is compared
byte for byte with its source."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import FileResponse

from s3stream.embedded import EmbeddedS3
from s3stream.store.boto import BotoObjects
from s3stream.store.cors import with_upload_origins
from tests.support.browser import (
    CHROMIUM,
    ESBUILD,
    HAS_CHROMIUM,
    Server,
    Site,
    Throttle,
    browser_page,
    bundle,
    make_file,
)
from tests.support.gateway import serve_asgi, upload_id
from tests.support.paths import ROOT

pytest.importorskip("playwright.sync_api")

TOKEN = "uppy-token-0123456789abcdef"
BUCKET = "uppy-browser"
PAGE = ROOT / "tests" / "js" / "uppy_page.html"
ENTRY = ROOT / "tests" / "js" / "uppy_entry.mjs"
CHUNK = 256 * 1024

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not HAS_CHROMIUM, reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(
        not (ROOT / "node_modules" / "@uppy" / "aws-s3").is_dir() or not ESBUILD.exists(),
        reason="Uppy or esbuild missing from node_modules: run scripts/setup.sh",
    ),
]


class UppyPage:
    """Serves the test page and the Uppy bundle at /uppy-test/, the gateway elsewhere."""

    def __init__(self, app: Any, script: Path) -> None:
        self.app = app
        self.script = script

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path == "/uppy-test/":
            await FileResponse(PAGE, media_type="text/html")(scope, receive, send)
        elif scope["type"] == "http" and path == "/uppy-test/uppy.js":
            await FileResponse(self.script, media_type="text/javascript")(scope, receive, send)
        else:
            await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def site(s3server: EmbeddedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    script = bundle(ENTRY, tmp_path_factory.mktemp("uppy") / "uppy.js")
    s3server.create_bucket(BUCKET)
    prefix = f"uppy-{secrets.token_hex(4)}/"
    app = serve_asgi(s3server, prefix, "--token", TOKEN, "--part-size", "5MiB", bucket=BUCKET)
    throttle = Throttle(UppyPage(app, script))
    server = Server(throttle)
    # the bucket lets the page's origin upload and read ETags (what `s3stream cors` sets)
    objects = BotoObjects(s3server.client())
    objects.put_cors(BUCKET, with_upload_origins(objects.get_cors(BUCKET), [server.url]))
    with server:
        yield Site(server.url, throttle, prefix)


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    with browser_page(browser) as opened:
        yield opened
    site.throttle.delay = 0.0


def open_page(page: Any, site: Site, *, login: bool = True) -> None:
    page.goto(f"{site.url}/uppy-test/")
    page.wait_for_function("window.UppyKit !== undefined")
    if login:
        assert page.evaluate("(t) => window.login(t)", TOKEN) == 204


def add(page: Any, path: Path) -> str:
    page.set_input_files("#picker", [str(path)])
    ids: list[str] = page.evaluate("window.addPicked()")
    return ids[0]


def upload(page: Any) -> None:
    page.evaluate("window.uppy.upload()")  # returns when every file succeeded or failed


def result(page: Any) -> dict[str, Any]:
    failures = page.evaluate("window.failures")
    assert not failures, failures
    results: list[dict[str, Any]] = page.evaluate("window.results")
    assert len(results) == 1, results
    return results[0]


def tus_object(s3client: Any, site: Site, url: str) -> bytes:
    info_key = f"{site.prefix}_uploads/{upload_id(url)}.info"
    info = json.loads(s3client.get_object(Bucket=BUCKET, Key=info_key)["Body"].read())
    assert info["finished"]
    body: bytes = s3client.get_object(Bucket=BUCKET, Key=info["key"])["Body"].read()
    return body


def wait_progress(page: Any, name: str, at_least: int) -> int:
    handle = page.wait_for_function(
        "([n, min]) => (window.progress[n] || 0) >= min ? window.progress[n] : null",
        arg=[name, at_least],
        timeout=30_000,
    )
    return int(handle.json_value())


def test_tus_upload(page: Any, site: Site, s3client: Any, tmp_path: Path) -> None:
    open_page(page, site)
    path, data = make_file(tmp_path, "tus-plain.bin", 3 * 1024 * 1024 + 7)
    page.evaluate("window.makeUppy('tus', {})")
    add(page, path)
    upload(page)
    assert tus_object(s3client, site, result(page)["url"]) == data


def test_tus_pause_and_resume(page: Any, site: Site, s3client: Any, tmp_path: Path) -> None:
    site.throttle.delay = 0.2
    open_page(page, site)
    path, data = make_file(tmp_path, "tus-paused.bin", 12 * CHUNK + 99)
    page.evaluate(f"window.makeUppy('tus', {{chunkSize: {CHUNK}}})")
    file_id = add(page, path)
    page.evaluate("window.uppy.upload(); true")
    wait_progress(page, "tus-paused.bin", 3 * CHUNK)
    assert page.evaluate("(id) => window.uppy.pauseResume(id)", file_id) is True  # paused
    page.wait_for_timeout(800)  # a PATCH in flight may still land
    before = page.evaluate("window.progress['tus-paused.bin']")
    page.wait_for_timeout(1200)
    assert page.evaluate("window.progress['tus-paused.bin']") == before < len(data)
    assert page.evaluate("(id) => window.uppy.pauseResume(id)", file_id) is False  # resumed
    page.wait_for_function("window.results.length === 1", timeout=60_000)
    assert tus_object(s3client, site, result(page)["url"]) == data


def test_tus_reload_then_add_the_same_file(
    page: Any, site: Site, s3client: Any, tmp_path: Path
) -> None:
    site.throttle.delay = 0.2
    open_page(page, site)
    path, data = make_file(tmp_path, "tus-reloaded.bin", 14 * CHUNK + 5)
    page.evaluate(f"window.makeUppy('tus', {{chunkSize: {CHUNK}}})")
    add(page, path)
    page.evaluate("window.uppy.upload(); true")
    wait_progress(page, "tus-reloaded.bin", 4 * CHUNK)
    page.reload()
    open_page(page, site, login=False)  # the session cookie outlives the reload
    heads: list[int] = []

    def on_response(response: Any) -> None:
        if response.request.method == "HEAD" and "/files/" in response.url:
            heads.append(int(response.headers.get("upload-offset", "-1")))

    page.on("response", on_response)
    page.evaluate(f"window.makeUppy('tus', {{chunkSize: {CHUNK}}})")
    add(page, path)
    upload(page)
    assert heads and heads[0] >= 4 * CHUNK  # resumed from the server's offset
    assert tus_object(s3client, site, result(page)["url"]) == data


def test_aws_s3_multipart_straight_to_the_store(
    page: Any, site: Site, s3client: Any, tmp_path: Path
) -> None:
    open_page(page, site)
    path, data = make_file(tmp_path, "direct-multi.bin", 11 * 1024 * 1024 + 3)
    store_puts: list[str] = []
    page.on(
        "request",
        lambda r: (
            store_puts.append(r.url) if r.method == "PUT" and "partNumber=" in r.url else None
        ),
    )
    page.evaluate("window.makeUppy('s3', {multipart: true})")
    add(page, path)
    upload(page)
    found = result(page)
    assert found["key"].startswith(site.prefix + "direct-multi-")
    assert s3client.get_object(Bucket=BUCKET, Key=found["key"])["Body"].read() == data
    # the browser sent the parts (5 + 5 + 1 MiB) to the store, not to the gateway
    assert len(store_puts) == 3 and all(
        u.startswith(s3client.meta.endpoint_url) for u in store_puts
    )


def test_aws_s3_single_form_upload(page: Any, site: Site, s3client: Any, tmp_path: Path) -> None:
    open_page(page, site)
    path, data = make_file(tmp_path, "direct-single.txt", 300 * 1024 + 1)
    page.evaluate("window.makeUppy('s3', {multipart: false})")
    add(page, path)
    upload(page)
    found = result(page)
    assert found["key"].startswith(site.prefix + "direct-single-")
    assert s3client.get_object(Bucket=BUCKET, Key=found["key"])["Body"].read() == data


def test_without_a_session_nothing_is_uploaded(
    page: Any, site: Site, s3client: Any, tmp_path: Path
) -> None:
    open_page(page, site, login=False)
    path, _ = make_file(tmp_path, "no-session.bin", 1000)
    page.evaluate("window.makeUppy('s3', {multipart: true})")
    add(page, path)
    upload(page)
    assert page.evaluate("window.results") == []
    assert page.evaluate("window.failures")  # "Companion request failed: Unauthorized"
    listed = s3client.list_objects_v2(Bucket=BUCKET, Prefix=site.prefix + "no-session")
    assert listed.get("KeyCount", 0) == 0
    uploads = s3client.list_multipart_uploads(Bucket=BUCKET, Prefix=site.prefix + "no-session")
    assert not uploads.get("Uploads")
