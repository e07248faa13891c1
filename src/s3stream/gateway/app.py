"""The gateway as one ASGI app, composed of small pieces:

``access log -> CORS -> bearer auth -> router -> {tus handler | presign API | /health |
/ready | /metrics}``, plus a lifespan that runs the expiration sweeper (tus uploads and
abandoned presigned uploads). Everything is wiring: the pieces are built from objects, never
from the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, PlainTextResponse, Response

from s3stream.gateway.access import AccessLog
from s3stream.gateway.auth import BearerAuth
from s3stream.gateway.datastore import ExpirationStore, UploadStore
from s3stream.gateway.handler import Context, TusHandler
from s3stream.gateway.hooks import Hooks
from s3stream.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from s3stream.gateway.presign import PresignAPI
from s3stream.gateway.ready import Readiness
from s3stream.gateway.settings import TusSettings

log = logging.getLogger("s3stream.gateway")

HEALTH_PATH = "/health"
READY_PATH = "/ready"
METRICS_PATH = "/metrics"
OPEN_PATHS = (HEALTH_PATH, READY_PATH, METRICS_PATH)
"""Paths served without a token: they tell nothing about anyone's uploads."""

TUS_HEADERS = [
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Max-Size",
    "Tus-Extension",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Expires",
    "Upload-Checksum",
    "Location",
]


@dataclass
class GatewayOptions:
    tokens: Sequence[str] = ()
    """Bearer tokens; empty: no authentication (only sensible on loopback)."""
    cors_origins: Sequence[str] = ()
    hooks: Hooks = field(default_factory=Hooks)
    sweep_interval: float | None = 60.0
    """Seconds between expiration sweeps (``None``: no sweeper)."""
    presign: PresignAPI | None = None
    """The presign API serving ``/s3/...``."""
    readiness: Readiness | None = None
    """What ``/ready`` checks (``None``: ready whenever the process answers)."""
    metrics: GatewayMetrics | None = None
    """The metrics ``/metrics`` serves (``None``: the upload store's, or new ones)."""
    access_log: bool = True
    """Wrap the app in :class:`~s3stream.gateway.access.AccessLog` (off when the caller
    wraps a larger composition, as ``s3stream serve`` does with the page)."""
    clock: Callable[[], float] = time.time
    """Wall-clock time for expiry decisions (injected by tests)."""


class Router:
    """Routes by path prefix and runs the sweeper during the ASGI lifespan."""

    def __init__(
        self,
        tus: TusHandler,
        presign: PresignAPI | None,
        sweep_interval: float | None,
        readiness: Readiness | None = None,
    ) -> None:
        self.tus = tus
        self.presign = presign
        self.sweep_interval = sweep_interval
        self.readiness = readiness
        self._sweeper: asyncio.Task[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == HEALTH_PATH:
            await JSONResponse({"status": "ok"})(scope, receive, send)
        elif path == READY_PATH:
            await (await self._ready())(scope, receive, send)
        elif path == METRICS_PATH:
            body = self.tus.ctx.metrics.exposition()
            await Response(body, media_type=CONTENT_TYPE)(scope, receive, send)
        elif self.tus.matches(path):
            await self.tus(scope, receive, send)
        elif self.presign is not None and path.startswith("/s3/"):
            await self.presign(scope, receive, send)
        else:
            await PlainTextResponse("not found\n", status_code=404)(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_sweeper()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop_sweeper()
                await self.tus.ctx.hooks.drain()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _ready(self) -> Response:
        problem = None if self.readiness is None else await self.readiness.check()
        if problem is None:
            return JSONResponse({"status": "ready"}, headers={"Cache-Control": "no-store"})
        log.warning("not ready: %s", problem)
        return JSONResponse(
            {"status": "unavailable", "reason": problem},
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )

    def start_sweeper(self) -> None:
        if self.sweep_interval is None:
            return
        self._sweeper = asyncio.create_task(self._sweep_forever(self.sweep_interval))

    async def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def sweep(self) -> int:
        """One sweep: expired tus uploads and abandoned presigned uploads; how many."""
        now, removed = self.tus.ctx.clock(), 0
        store = self.tus.ctx.store
        if isinstance(store, ExpirationStore):
            removed += await store.sweep(now)
        if self.presign is not None:
            removed += await self.presign.sweep(now)
        return removed

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self.sweep()
                if removed:
                    log.info("expired %d upload(s)", removed)
            except Exception:
                log.exception("expiration sweep failed")


def build_app(
    store: UploadStore, settings: TusSettings | None = None, options: GatewayOptions | None = None
) -> Any:
    """The gateway ASGI app over ``store``."""
    settings = settings or TusSettings()
    options = options or GatewayOptions()
    metrics = options.metrics or getattr(store, "metrics", None) or GatewayMetrics()
    ctx = Context(store, settings, options.hooks, options.clock, metrics)
    if options.presign is not None:
        options.presign.metrics = metrics
    app: Any = Router(TusHandler(ctx), options.presign, options.sweep_interval, options.readiness)
    if options.tokens:
        app = BearerAuth(app, options.tokens, open_paths=OPEN_PATHS)
    if options.cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(options.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Requested-With",
                "X-HTTP-Method-Override",
                *TUS_HEADERS,
            ],
            expose_headers=TUS_HEADERS,
            max_age=86400,
        )
    return AccessLog(app, metrics, settings.base_path) if options.access_log else app
