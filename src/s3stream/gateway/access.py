"""The access log and request metrics, as the outermost ASGI middleware.

One line per answered request on the ``s3stream.access`` logger, as JSON::

    {"method": "PATCH", "path": "/files/Xy..", "status": 204, "ms": 812.4,
     "in": 1048576, "out": 0, "owner": "3f9a2c1b", "client": "127.0.0.1"}

The path is logged without its query string and no header is logged, so tokens and
signatures never reach the log; ``owner`` is the first 8 characters of the owner id (a hash
of the token). Body bytes read are counted as ``s3stream_received_bytes_total``; a request
writing an upload (a tus ``POST`` or ``PATCH``, a presign ``complete``) that ends in a 5xx
counts as a failed upload.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from s3stream.gateway.auth import OWNER_SCOPE_KEY
from s3stream.gateway.metrics import GatewayMetrics

access_log = logging.getLogger("s3stream.access")


class AccessLog:
    def __init__(self, app: Any, metrics: GatewayMetrics, tus_base: str = "/files/") -> None:
        self.app = app
        self.metrics = metrics
        self.tus_base = tus_base

    def _door(self, method: str, path: str) -> str | None:
        """Which door a request writing an upload came through (``None``: not one)."""
        if path.startswith("/s3/") and path.endswith("/complete"):
            return "presign"
        if method in ("POST", "PATCH") and (path + "/").startswith(self.tus_base):
            return "tus"
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen = {"status": 0, "in": 0, "out": 0}
        received = self.metrics.received

        async def counting_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                seen["in"] += size
                received.inc(size)
            return message

        async def watching_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = int(message["status"])
            elif message["type"] == "http.response.body":
                seen["out"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        finally:
            self._record(scope, seen, time.perf_counter() - started)

    def _record(self, scope: Any, seen: dict[str, int], seconds: float) -> None:
        method, path, status = scope["method"], scope["path"], seen["status"] or 500
        self.metrics.requests.labels(method, str(status)).inc()
        door = self._door(method, path)
        if door is not None and status >= 500:
            self.metrics.failed.labels(door).inc()
        if not access_log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client")
        line = {
            "method": method,
            "path": path,
            "status": status,
            "ms": round(seconds * 1000, 1),
            "in": seen["in"],
            "out": seen["out"],
            "owner": str(scope.get(OWNER_SCOPE_KEY, ""))[:8] or None,
            "client": client[0] if client else None,
        }
        access_log.info(json.dumps(line, separators=(",", ":")))
