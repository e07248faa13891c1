"""Which capabilities an upload works with, and the cache of probed ones.

In order: a profile named by the user, what the store says of itself (the in-memory store),
the probe result cached for the endpoint and bucket (``s3stream doctor`` writes it), the
profile the endpoint's host name identifies, and finally a quick probe made on first
contact (cached in turn). A store that cannot be probed gets the conservative ``generic``
profile, and a warning says why.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from s3stream.errors import ConfigError, StoreError
from s3stream.store.capabilities import Capabilities
from s3stream.store.probe import Probe, ProbeError, ProbeReport
from s3stream.store.profiles import GENERIC, profile, recognise
from s3stream.store.protocol import Objects, ObjectStore

log = logging.getLogger(__name__)

CACHE_VERSION = 1
CACHE_TTL = dt.timedelta(days=30)
"""A cached probe older than this is probed again (stores get upgraded)."""


def endpoint_key(endpoint_url: str | None, bucket: str) -> str:
    """``scheme://host:port/bucket``: what a cached probe is filed under."""
    if endpoint_url is None:
        return f"aws/{bucket}"
    parts = urlsplit(endpoint_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}/{bucket}"


class CapabilityCache:
    """Probe results by endpoint and bucket, in one JSON file (written atomically)."""

    def __init__(self, path: Path, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.path = path
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable store cache %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        stores = data.get("stores")
        return stores if isinstance(stores, dict) else {}

    def get(
        self, endpoint_url: str | None, bucket: str
    ) -> tuple[Capabilities, dict[str, Any]] | None:
        """The cached capabilities and their record (``probed``, ``full``), unless stale."""
        with self._lock:
            entry = self._load().get(endpoint_key(endpoint_url, bucket))
        if not isinstance(entry, dict):
            return None
        try:
            probed = dt.datetime.fromisoformat(str(entry["probed"]))
            caps = Capabilities.from_json(entry["capabilities"])
        except (KeyError, ValueError, ConfigError) as exc:
            log.warning("ignoring a malformed entry of the store cache %s: %s", self.path, exc)
            return None
        if self._clock() - probed > CACHE_TTL:
            return None
        return caps, entry

    def put(self, endpoint_url: str | None, bucket: str, report: ProbeReport) -> None:
        record = {
            "probed": self._clock().isoformat(timespec="seconds"),
            "full": report.full,
            "capabilities": report.capabilities.to_json(),
        }
        with self._lock:
            stores = self._load()
            stores[endpoint_key(endpoint_url, bucket)] = record
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "stores": stores}, indent=1))
            os.replace(tmp, self.path)


class KnownStores:
    """Resolves (and remembers) the capabilities of each bucket of one store.

    ``profile`` is a profile name or ready :class:`Capabilities` (``None``: find out);
    ``objects`` the store's object calls (needed to probe); ``cache`` where probes are kept.
    """

    def __init__(
        self,
        store: ObjectStore,
        objects: Objects | None,
        *,
        profile: str | Capabilities | None = None,
        cache: CapabilityCache | None = None,
    ) -> None:
        self.store = store
        self.objects = objects
        self.explicit = _explicit(profile)
        self.cache = cache
        self._known: dict[str, Capabilities] = {}
        self._lock = threading.Lock()

    def for_bucket(self, bucket: str, prefix: str = "") -> Capabilities:
        """The bucket's capabilities; a first contact with an unknown store probes it under
        ``prefix`` (where the upload writes, so the credentials may write there too)."""
        with self._lock:
            known = self._known.get(bucket)
            if known is None:
                known = self._resolve(bucket, prefix)
                self._known[bucket] = known
            return known

    def learn(self, bucket: str, report: ProbeReport) -> None:
        """Use (and cache) what a probe of ``bucket`` found; a profile named explicitly
        still wins."""
        with self._lock:
            self._known[bucket] = self.explicit or report.capabilities
        if self.cache is not None:
            self.cache.put(self.store.endpoint_url, bucket, report)

    def _resolve(self, bucket: str, prefix: str) -> Capabilities:
        endpoint = self.store.endpoint_url
        if self.explicit is not None:
            return self.explicit
        own = getattr(self.store, "capabilities", None)
        if isinstance(own, Capabilities):
            return own
        if self.cache is not None:
            cached = self.cache.get(endpoint, bucket)
            if cached is not None:
                log.debug("store capabilities of %s from %s", bucket, self.cache.path)
                return cached[0]
        name = recognise(endpoint)
        if name is not None:
            log.debug("store profile %s recognised from %s", name, endpoint)
            return profile(name)
        return self._probe(bucket, prefix)

    def _probe(self, bucket: str, prefix: str) -> Capabilities:
        endpoint = self.store.endpoint_url
        if self.objects is None:
            log.warning("%s cannot be probed: using the generic store profile", endpoint)
            return GENERIC
        log.info(
            "probing %s (bucket %s) once: run `s3stream doctor` for a full report", endpoint, bucket
        )
        try:
            report = Probe(self.store, self.objects, bucket, prefix).run(full=False)
        except ProbeError:
            raise  # no write access, no such bucket, no store: the upload cannot work either
        except StoreError as exc:
            log.warning(
                "could not probe %s (%s): using the generic store profile; "
                "pass --store-profile to choose one",
                endpoint,
                exc,
            )
            return GENERIC
        if self.cache is not None:
            self.cache.put(endpoint, bucket, report)
        return report.capabilities


def _explicit(chosen: str | Capabilities | None) -> Capabilities | None:
    if chosen is None or isinstance(chosen, Capabilities):
        return chosen
    return profile(chosen)
