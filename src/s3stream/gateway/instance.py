"""One gateway instance at a time, where the store cannot make several safe.

Gateway processes share uploads through leases and state written on conditions; on a store
that does not honour conditional writes they cannot. There a gateway writes an instance
marker (``{state_prefix}gateway.instance``: holder and expiry) at start-up, renews it while
it runs and deletes it when it stops; a second gateway that finds a live marker of another
holder refuses to start. Without conditional writes the check is not atomic (two gateways
started at the same instant may both pass it), which is why it is a guard against running
a second instance by mistake, not a lock.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from s3stream.errors import ConfigError, StoreError
from s3stream.store.protocol import Objects

log = logging.getLogger(__name__)

MARKER_NAME = "gateway.instance"


class InstanceMarker:
    """The marker at ``bucket/key``, renewed every ``ttl / 3`` seconds."""

    def __init__(
        self,
        objects: Objects,
        bucket: str,
        key: str,
        *,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.objects = objects
        self.bucket = bucket
        self.key = key
        self.ttl = ttl
        self.clock = clock
        self.holder = f"{socket.gethostname()} pid {os.getpid()} ({secrets.token_hex(4)})"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def claim(self) -> None:
        """Write the marker and start renewing it; a live marker of another gateway is a
        :class:`~s3stream.errors.ConfigError`."""
        blob = self.objects.get(self.bucket, self.key)
        if blob is not None:
            try:
                found = json.loads(blob.data)
                holder, expires = str(found["holder"]), float(found["expires"])
            except (ValueError, KeyError, TypeError):
                holder, expires = "", 0.0
            if holder != self.holder and expires > self.clock():
                raise ConfigError(
                    f"another gateway ({holder}) serves s3://{self.bucket}/{self.key} and the "
                    "store does not honour conditional writes, so two cannot share uploads: "
                    "stop it, or use a store that honours them (see `s3stream doctor`)"
                )
        self._write()
        self._thread = threading.Thread(target=self._renew, name="s3stream-instance", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        body = {"holder": self.holder, "expires": self.clock() + self.ttl}
        self.objects.put(self.bucket, self.key, json.dumps(body).encode())

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._write()
            except StoreError as exc:
                log.warning("could not renew the gateway's instance marker: %s", exc)

    def release(self) -> None:
        """Stop renewing and delete the marker (if it is still this gateway's)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            blob = self.objects.get(self.bucket, self.key)
            if blob is not None and json.loads(blob.data).get("holder") == self.holder:
                self.objects.delete(self.bucket, self.key)
        except (StoreError, ValueError) as exc:
            log.warning("could not remove the gateway's instance marker: %s", exc)
