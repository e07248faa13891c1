"""Upload lifecycle hooks: ``created``, ``progress`` (throttled), ``finished``, ``terminated``.

Each event goes to the Python callbacks (plain or async functions) and, when a webhook URL
is configured, is POSTed there as JSON from a background thread, so a slow receiver never
holds up an upload. A failing callback or webhook is logged and otherwise ignored.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from s3stream.gateway.model import Upload, metadata_value

log = logging.getLogger(__name__)

EventName = Literal["created", "progress", "finished", "terminated"]


@dataclass(frozen=True, slots=True)
class HookEvent:
    event: EventName
    upload_id: str
    offset: int
    size: int | None
    bucket: str
    key: str
    owner: str
    filename: str | None
    metadata: dict[str, str | None]
    partial: bool
    final: bool
    time: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


HookCallback = Callable[[HookEvent], Awaitable[None] | None]


class Hooks:
    """Dispatches events; ``progress`` at most every ``progress_interval`` seconds per upload."""

    def __init__(
        self,
        callbacks: Sequence[HookCallback] = (),
        *,
        webhook_url: str | None = None,
        webhook_timeout: float = 5.0,
        progress_interval: float = 1.0,
        bucket: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.callbacks = list(callbacks)
        self.webhook_url = webhook_url
        self.webhook_timeout = webhook_timeout
        self.progress_interval = progress_interval
        self.bucket = bucket
        self._clock = clock
        self._last_progress: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> bool:
        return bool(self.callbacks or self.webhook_url)

    def _event(self, name: EventName, upload: Upload, offset: int | None = None) -> HookEvent:
        return HookEvent(
            event=name,
            upload_id=upload.id,
            offset=upload.offset if offset is None else offset,
            size=upload.size,
            bucket=self.bucket,
            key=upload.key,
            owner=upload.owner,
            filename=metadata_value(upload.metadata, "filename"),
            metadata=dict(upload.metadata),
            partial=upload.partial,
            final=upload.final,
            time=time.time(),
        )

    def progress_callback(self, upload: Upload) -> Callable[[int], None] | None:
        """A throttled offset reporter for one PATCH, or ``None`` when nobody listens."""
        if not self.active:
            return None

        def report(offset: int) -> None:
            now = self._clock()
            if now - self._last_progress.get(upload.id, float("-inf")) < self.progress_interval:
                return
            self._last_progress[upload.id] = now
            self.emit("progress", upload, offset)

        return report

    def emit(self, name: EventName, upload: Upload, offset: int | None = None) -> None:
        if not self.active:
            return
        if name in ("finished", "terminated"):
            self._last_progress.pop(upload.id, None)
        event = self._event(name, upload, offset)
        for callback in self.callbacks:
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(_logged(result, name))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                log.exception("hook callback for %s of upload %s failed", name, upload.id)
        if self.webhook_url:
            url = self.webhook_url
            body = json.dumps(event.to_json()).encode()
            threading.Thread(
                target=self._post, args=(url, body, name), name="s3stream-webhook", daemon=True
            ).start()

    def _post(self, url: str, body: bytes, name: str) -> None:
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.webhook_timeout) as response:
                response.read()
        except Exception as exc:  # a webhook must never break an upload
            log.warning("webhook %s for %s failed: %s", url, name, exc)

    async def drain(self) -> None:
        """Wait for async callbacks still running (for tests and shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _logged(result: Awaitable[None], name: str) -> None:
    try:
        await result
    except Exception:
        log.exception("async hook callback for %s failed", name)
