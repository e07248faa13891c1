"""The gateway as one ASGI app, composed of small pieces:

``CORS -> bearer auth -> router -> {tus handler | presign API | health}``, plus a lifespan
that runs the expiration sweeper. Everything is wiring: the pieces are built from objects,
never from the environment.
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
from starlette.responses import JSONResponse, PlainTextResponse

from s3stream.gateway.auth import BearerAuth
from s3stream.gateway.datastore import ExpirationStore, UploadStore
from s3stream.gateway.handler import Context, TusHandler
from s3stream.gateway.hooks import Hooks
from s3stream.gateway.settings import TusSettings

log = logging.getLogger("s3stream.gateway")

HEALTH_PATH = "/health"

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
    presign: Any = None
    """An ASGI app serving ``/s3/...`` (:class:`~s3stream.gateway.presign.PresignAPI`)."""
    clock: Callable[[], float] = time.time
    """Wall-clock time for expiry decisions (injected by tests)."""


class Router:
    """Routes by path prefix and runs the sweeper during the ASGI lifespan."""

    def __init__(self, tus: TusHandler, presign: Any, sweep_interval: float | None) -> None:
        self.tus = tus
        self.presign = presign
        self.sweep_interval = sweep_interval
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

    def start_sweeper(self) -> None:
        store = self.tus.ctx.store
        if self.sweep_interval is None or not isinstance(store, ExpirationStore):
            return
        self._sweeper = asyncio.create_task(self._sweep_forever(store, self.sweep_interval))

    async def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep_forever(self, store: ExpirationStore, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await store.sweep(self.tus.ctx.clock())
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
    ctx = Context(store, settings, options.hooks, options.clock)
    app: Any = Router(TusHandler(ctx), options.presign, options.sweep_interval)
    if options.tokens:
        app = BearerAuth(app, options.tokens, open_paths=(HEALTH_PATH,))
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
    return app
