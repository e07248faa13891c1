"""The capability model, the store profiles with their sources, host recognition and the
cache of probed capabilities."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from s3stream.checksums import ChecksumAlgorithm
from s3stream.errors import ConfigError
from s3stream.store.capabilities import FACTS, Capabilities, Support
from s3stream.store.known import CapabilityCache, KnownStores
from s3stream.store.memory import MemoryStore
from s3stream.store.probe import ProbeReport
from s3stream.store.profiles import PROFILES, SEAWEEDFS_RUN, UNDOCUMENTED, profile, recognise

NAMES = ["aws", "minio", "ceph", "r2", "b2", "gcs", "wasabi", "seaweedfs", "garage", "generic"]


def test_every_store_users_have_has_a_profile() -> None:
    assert list(PROFILES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_fact_of_a_profile_cites_its_source(name: str) -> None:
    caps = PROFILES[name]
    for fact in FACTS:
        source = caps.source(fact)
        assert source.startswith("https://") or source in (UNDOCUMENTED, SEAWEEDFS_RUN), (
            fact,
            source,
        )
    known = [f for f in FACTS if caps.source(f) != UNDOCUMENTED]
    assert name == "generic" or known, "a profile documents something"


def test_profiles_hold_what_their_sources_say() -> None:
    r2, b2, aws = profile("r2"), profile("b2"), profile("aws")
    assert r2.needs_equal_parts and r2.whole(ChecksumAlgorithm.CRC64NVME) == "full_object"
    assert r2.whole(ChecksumAlgorithm.CRC32C) == "composite"
    assert all(b2.support(a) is Support.REFUSED for a in b2.checksums) and not b2.trailers
    assert aws.conditional_writes and aws.part_limit == 10_000 and not aws.needs_equal_parts
    generic = profile("generic")
    assert generic.part_limit == 1_000 and generic.needs_equal_parts
    assert not generic.conditional_writes and not generic.has("trailers")


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [
        (None, "aws"),
        ("https://s3.us-west-2.amazonaws.com", "aws"),
        ("https://my-bucket.s3.eu-central-1.amazonaws.com", "aws"),
        ("https://0123abcd.r2.cloudflarestorage.com", "r2"),
        ("https://0123abcd.eu.r2.cloudflarestorage.com", "r2"),
        ("https://storage.googleapis.com", "gcs"),
        ("https://s3.us-west-004.backblazeb2.com", "b2"),
        ("https://s3.eu-central-1.wasabisys.com", "wasabi"),
        ("http://127.0.0.1:9000", None),
        ("https://minio.example.com", None),
        ("https://notamazonaws.com", None),
    ],
)
def test_a_profile_is_recognised_from_the_host_name(endpoint: str | None, name: str | None) -> None:
    assert recognise(endpoint) == name


def test_an_unknown_profile_is_one_line_naming_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        profile("s4")
    assert str(info.value) == f"unknown store profile 's4': use one of {', '.join(NAMES)}"
    assert profile(" R2 ").name == "r2"


def test_capabilities_round_trip_through_json() -> None:
    for caps in PROFILES.values():
        assert Capabilities.from_json(json.loads(json.dumps(caps.to_json()))) == caps
    with pytest.raises(ConfigError, match="unreadable store capabilities"):
        Capabilities.from_json({"name": "x", "checksums": {"md5": "verified"}})


def report(caps: Capabilities) -> ProbeReport:
    return ProbeReport(caps, (), full=True)


def test_the_cache_keeps_probes_per_endpoint_and_bucket(tmp_path: Path) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cache = CapabilityCache(tmp_path / "stores.json", clock=lambda: now)
    cache.put("http://127.0.0.1:9000", "media", report(profile("minio")))
    found = cache.get("http://127.0.0.1:9000/", "media")
    assert found is not None and found[0] == profile("minio") and found[1]["full"] is True
    assert cache.get("http://127.0.0.1:9000", "other") is None
    assert cache.get("http://127.0.0.1:9001", "media") is None
    later = CapabilityCache(tmp_path / "stores.json", clock=lambda: now + dt.timedelta(days=31))
    assert later.get("http://127.0.0.1:9000", "media") is None  # stale: probed again
    (tmp_path / "stores.json").write_text("{not json")
    assert cache.get("http://127.0.0.1:9000", "media") is None  # unreadable: ignored


class Undescribed(MemoryStore):
    """An in-memory store that does not say what it can do (as a real store)."""

    capabilities = None  # type: ignore[assignment]


def test_known_stores_ask_the_user_then_the_store_then_the_cache(tmp_path: Path) -> None:
    memory = MemoryStore()
    cache = CapabilityCache(tmp_path / "stores.json")
    assert KnownStores(memory, memory, profile="r2").for_bucket("b") == profile("r2")
    assert KnownStores(memory, memory, cache=cache).for_bucket("b") is memory.capabilities
    other = Undescribed()
    other.endpoint_url = "http://127.0.0.1:1"
    cache.put(other.endpoint_url, "b", report(profile("ceph")))
    assert KnownStores(other, other, cache=cache).for_bucket("b") == profile("ceph")
    probed = KnownStores(other, other, cache=cache).for_bucket("fresh")
    assert probed.name == "probed" and probed.equal_parts is None  # the quick probe
    assert probed.support(ChecksumAlgorithm.CRC64NVME) is Support.VERIFIED
    assert cache.get(other.endpoint_url, "fresh") is not None
    assert KnownStores(other, None).for_bucket("b").name == "generic"  # cannot probe
