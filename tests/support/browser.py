"""Helpers for the browser tests (no tests here): Debian's Chromium driven by Playwright
(never a downloaded browser), an ASGI app on a real uvicorn thread, and a PATCH throttle."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.gateway import free_port
from tests.support.paths import ROOT

CHROMIUM = "/usr/bin/chromium"
HAS_CHROMIUM = os.access(CHROMIUM, os.X_OK)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"


class Throttle:
    """Delays every PATCH (and every presigned part's sign request) by ``delay`` seconds, so
    uploads are slow enough to interrupt."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.delay = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.delay and _slowed(scope):
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


def _slowed(scope: Any) -> bool:
    path = scope["path"]
    signing = path.startswith("/s3/multipart/") and path.rsplit("/", 1)[-1].isdigit()
    return bool(scope["method"] == "PATCH" or signing)


class Server:
    """uvicorn on 127.0.0.1 in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, http="h11", log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Site:
    """A gateway served for a browser test: its URL, its throttle and its key prefix."""

    def __init__(self, url: str, throttle: Throttle, prefix: str) -> None:
        self.url = url
        self.throttle = throttle
        self.prefix = prefix


@contextmanager
def browser_page(
    browser: Any,
    *,
    token: str | None = None,
    viewport: dict[str, int] | None = None,
    camera_for: str | None = None,
) -> Iterator[Any]:
    """A page in a fresh context (``token`` saved as the upload page's access token, the
    camera and microphone granted to ``camera_for``); an uncaught page error fails the test."""
    context = browser.new_context(viewport=viewport) if viewport else browser.new_context()
    if camera_for is not None:
        context.grant_permissions(["camera", "microphone"], origin=camera_for)
    if token is not None:
        context.add_init_script(
            f"if (!localStorage.getItem('s3stream.token')) "
            f"localStorage.setItem('s3stream.token', '{token}');"
        )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
        assert not errors, errors
    finally:
        context.close()


def make_file(directory: Path, name: str, size: int) -> tuple[Path, bytes]:
    """A file of ``size`` random bytes, and its bytes."""
    data = os.urandom(size)
    path = directory / name
    path.write_bytes(data)
    return path, data


def wait_percent(page: Any, name: str, at_least: int) -> int:
    """Wait until the upload page shows ``name`` at ``at_least`` percent; the percent."""
    handle = page.wait_for_function(
        """([name, min]) => {
            const li = document.querySelector(`#queue li[data-name="${name}"]`);
            return li && Number(li.dataset.percent) >= min ? Number(li.dataset.percent) : null;
        }""",
        arg=[name, at_least],
        timeout=30_000,
    )
    return int(handle.json_value())


def bundle(entry: Path, out: Path) -> Path:
    """``entry`` and what it imports from node_modules as one browser script (esbuild)."""
    subprocess.run(
        [
            str(ESBUILD),
            str(entry),
            "--bundle",
            "--format=iife",
            "--log-level=warning",
            f"--outfile={out}",
        ],
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    return out
