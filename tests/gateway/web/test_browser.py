"""The upload page in a real headless Chromium (Debian's /usr/bin/chromium via Playwright;
no browser is ever downloaded) against the gateway on a real uvicorn (127.0.0.1, a thread)
and the embedded SeaweedFS: two files at once, pause and resume, a reload mid-upload that
resumes from the server's offset, and a fake-webcam recording streamed into a WebM object.
Every object is compared with its source. Screenshots go to artifacts/web/."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3stream.embedded import EmbeddedS3
from s3stream.gateway import GatewayOptions, TusSettings, build_app
from s3stream.gateway.web import WebApp, with_web
from s3stream.gateway.web.vendor import BUNDLE
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
from tests.support.gateway import make_s3_store
from tests.support.paths import ROOT

pytest.importorskip("playwright.sync_api")

ARTIFACTS = ROOT / "artifacts" / "web"
TOKEN = "browser-token-0123456789abcdef"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHUNK = 256 * 1024

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not HAS_CHROMIUM, reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(
        not (ROOT / BUNDLE).is_file(), reason="node_modules missing: run scripts/setup.sh"
    ),
]


@pytest.fixture(scope="module")
def site(s3server: EmbeddedS3) -> Iterator[Site]:
    prefix = f"web-{secrets.token_hex(4)}/"
    store = make_s3_store(s3server, "test", key_prefix=prefix)
    gateway = build_app(
        store,
        TusSettings(key_prefix=prefix),
        GatewayOptions(tokens=(TOKEN,), sweep_interval=None),
    )
    throttle = Throttle(with_web(gateway, WebApp.for_store(store, tokens=(TOKEN,))))
    with Server(throttle) as server:
        yield Site(server.url, throttle, prefix)


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    with browser_page(browser, token=TOKEN, viewport=LAPTOP, camera_for=site.url) as opened:
        yield opened


@pytest.fixture(autouse=True)
def no_throttle(site: Site) -> Iterator[None]:
    yield
    site.throttle.delay = 0.0


def open_page(page: Any, site: Site, query: str = "") -> None:
    page.goto(f"{site.url}/{query}")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#token-status:has-text('Token accepted')")


def shot(page: Any, name: str, *, phone: bool = True) -> None:
    """Screenshots at laptop width and, when asked, phone width too."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-laptop.png"), full_page=True)
    if phone:
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(LAPTOP)


def item(page: Any, name: str) -> Any:
    return page.locator(f"#queue li[data-name='{name}']")


def finished_key(page: Any, name: str, timeout: float = 30_000) -> str:
    done = page.locator("#done .done-item").filter(has=page.locator(f".name[title='{name}']"))
    done.locator("code.checksum").wait_for(timeout=timeout)
    key = done.get_attribute("data-key")
    assert key
    return str(key)


def stored(s3client: Any, bucket: str, key: str) -> bytes:
    body: bytes = s3client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_two_files_land_byte_identical(
    page: Any, site: Site, s3client: Any, bucket: str, tmp_path: Path
) -> None:
    open_page(page, site)
    shot(page, "01-empty")
    a, a_data = make_file(tmp_path, "alpha.bin", 3 * 1024 * 1024 + 17)
    b, b_data = make_file(tmp_path, "beta photo.jpg", 1024 * 1024 + 5)
    page.set_input_files("#picker", [str(a), str(b)])
    keys = {name: finished_key(page, name) for name in ("alpha.bin", "beta photo.jpg")}
    assert keys["alpha.bin"].startswith(site.prefix + "alpha-")
    assert stored(s3client, bucket, keys["alpha.bin"]) == a_data
    assert stored(s3client, bucket, keys["beta photo.jpg"]) == b_data
    checksums = page.locator("#done code.checksum").all_text_contents()
    assert len(checksums) == 2 and all(len(c) == 12 for c in checksums)  # base64 CRC64NVME
    page.locator("#queue li").first.wait_for(state="detached")
    shot(page, "02-finished")


def test_pause_then_resume(
    page: Any, site: Site, s3client: Any, bucket: str, tmp_path: Path
) -> None:
    site.throttle.delay = 0.25
    open_page(page, site, f"?chunkSize={CHUNK}")
    path, data = make_file(tmp_path, "paused.bin", 12 * CHUNK + 1000)
    page.set_input_files("#picker", [str(path)])
    wait_percent(page, "paused.bin", 20)
    shot(page, "03-uploading")
    page.get_by_role("button", name="Pause paused.bin").click()
    entry = item(page, "paused.bin")
    page.wait_for_selector("#queue li[data-state='paused']")
    page.wait_for_timeout(800)  # an aborted PATCH may still land
    before = int(entry.get_attribute("data-percent"))
    page.wait_for_timeout(1200)
    assert int(entry.get_attribute("data-percent")) == before < 100
    assert page.get_by_role("button", name="Resume paused.bin").is_visible()
    shot(page, "04-paused")
    page.get_by_role("button", name="Resume paused.bin").click()
    key = finished_key(page, "paused.bin")
    assert stored(s3client, bucket, key) == data


def test_reload_mid_upload_resumes_from_server_offset(
    page: Any, site: Site, s3client: Any, bucket: str, tmp_path: Path
) -> None:
    site.throttle.delay = 0.25
    query = f"?chunkSize={CHUNK}"
    open_page(page, site, query)
    path, data = make_file(tmp_path, "reloaded.bin", 14 * CHUNK + 333)
    page.set_input_files("#picker", [str(path)])
    wait_percent(page, "reloaded.bin", 30)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    # the page remembers the unfinished upload and says how to continue it
    page.wait_for_selector("#resumable:not([hidden]) li:has-text('reloaded.bin')")
    heads: list[int] = []

    def on_response(response: Any) -> None:
        if response.request.method == "HEAD" and "/files/" in response.url:
            heads.append(int(response.headers.get("upload-offset", "-1")))

    page.on("response", on_response)
    page.set_input_files("#picker", [str(path)])
    note = item(page, "reloaded.bin").locator(".note")
    note.filter(has_text="resumed at").wait_for(timeout=15_000)
    resumed_at = int(item(page, "reloaded.bin").get_attribute("data-resume-offset"))
    # tus-js-client asks the server (HEAD) for the offset; a PATCH the reload cut off may
    # still be finishing on the server, so a retry can HEAD again and start further on
    assert heads and all(h > 0 for h in heads) and resumed_at in heads
    assert note.text_content() in {f"resumed at {h * 100 // len(data)}%" for h in heads}
    shot(page, "05-resumed")
    key = finished_key(page, "reloaded.bin")
    assert stored(s3client, bucket, key) == data
    assert page.locator("#resumable").is_hidden()  # the fingerprint went with success


def test_webcam_recording_becomes_a_webm_object(
    page: Any, site: Site, s3client: Any, bucket: str
) -> None:
    open_page(page, site)
    page.get_by_role("button", name="Record camera").click()
    page.wait_for_selector("#rec-view[data-state='recording']")
    page.wait_for_timeout(6000)
    uploaded_live = int(page.locator("#rec-view").get_attribute("data-uploaded") or 0)
    assert uploaded_live > 0  # bytes reached the server while it was still recording
    shot(page, "06-recording")
    page.wait_for_timeout(4000)
    page.get_by_role("button", name="Stop").click()
    done = page.locator("#done .done-item").filter(has=page.locator(".name[title^='camera-']"))
    done.locator("code.checksum").wait_for(timeout=30_000)
    key = str(done.get_attribute("data-key"))
    assert key.endswith(".webm")
    body = stored(s3client, bucket, key)
    assert body[:4] == bytes.fromhex("1A45DFA3")  # EBML magic
    assert bytes.fromhex("18538067") in body[:200]  # Segment
    assert bytes.fromhex("1F43B675") in body  # Cluster
    assert len(body) > 20_000 and len(body) > uploaded_live
    head = s3client.head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "video/webm"
    shot(page, "07-recorded")


def test_keyboard_picker_and_cancel_all(
    page: Any, site: Site, s3client: Any, bucket: str, tmp_path: Path
) -> None:
    site.throttle.delay = 0.3
    first, _ = make_file(tmp_path, "one.bin", 10 * CHUNK)
    second, _ = make_file(tmp_path, "two.bin", 10 * CHUNK)
    chosen: list[bool] = []

    def choose(chooser: Any) -> None:
        chooser.set_files([str(first), str(second)])
        chosen.append(True)

    page.on("filechooser", choose)  # before the page loads: interception is set up by then
    open_page(page, site, f"?chunkSize={CHUNK}")
    # keyboard only: Tab to "Choose files…" and press Enter
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "pick":
            break
    assert page.evaluate("document.activeElement.id") == "pick"
    page.keyboard.press("Enter")
    wait_percent(page, "one.bin", 10)
    wait_percent(page, "two.bin", 10)
    assert chosen == [True]
    urls = page.evaluate(
        "Object.keys(localStorage).filter((k) => k.startsWith('tus::'))"
        ".map((k) => JSON.parse(localStorage.getItem(k)).uploadUrl)"
    )
    assert len(urls) == 2
    page.get_by_role("button", name="Cancel all").click()
    page.wait_for_function("document.querySelectorAll('#queue li').length === 0")
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('tus::'))") == []
    site.throttle.delay = 0.0
    for url in urls:  # terminated on the server too
        status = page.evaluate(
            """async ([url, token]) => (await fetch(url, {method: 'HEAD', headers: {
                'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}`}})).status""",
            [url, TOKEN],
        )
        assert status == 404
    page.wait_for_function(
        "document.getElementById('summary').textContent === 'No uploads in progress.'",
        timeout=3000,
    )
    shot(page, "08-canceled", phone=False)
