"""Upload settings: presets, per-upload options and their validation.

Memory bound (enforced by :class:`~s3stream.engine.buffers.BufferPool`)::

    buffered bytes <= read_buffer + (concurrency + 1) x part_size

``read_buffer`` is the largest chunk a source hands over at once (a ``write()`` argument or
an item of an iterable; file objects are read with ``readinto`` straight into part buffers,
so for them it is 0). ``concurrency`` parts are in flight while one more is being filled.
File uploads read each part by offset through a 1 MiB window (for its checksum, then as it
is sent): ``concurrency x 1 MiB``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from s3stream.checksums import ChecksumAlgorithm
from s3stream.engine.plan import PartPlan, plan_parts, validate_part_size, validate_size
from s3stream.engine.retry import RetryPolicy
from s3stream.errors import ConfigError
from s3stream.limits import MAX_KEY_BYTES, MAX_PARTS, KiB, MiB
from s3stream.store.attributes import CustomerKey, ObjectOptions, RequestOptions, parse_tagging

PresetName = Literal["auto", "conservative", "balanced", "aggressive"]


@dataclass(frozen=True, slots=True)
class Preset:
    part_size: int
    concurrency: int


PRESETS: dict[str, Preset] = {
    "conservative": Preset(10 * MiB, 2),
    "balanced": Preset(50 * MiB, 4),
    "aggressive": Preset(100 * MiB, 8),
}
MIN_BANDWIDTH = 64 * KiB
"""The lowest ``max_bandwidth``: below it a part's body would pause long enough (seconds per
1 MiB send block and connection) for a store to drop the request as idle."""
UNKNOWN_LENGTH_PRESET = Preset(16 * MiB, 4)
"""What ``auto`` picks for a stream of unknown length: 80 MiB of buffers, fast on any link."""


def auto_preset(size: int | None) -> Preset:
    """``auto``: conservative below 50 MB, balanced below 500 MB, aggressive above."""
    if size is None:
        return UNKNOWN_LENGTH_PRESET
    if size < 50_000_000:
        return PRESETS["conservative"]
    if size < 500_000_000:
        return PRESETS["balanced"]
    return PRESETS["aggressive"]


@dataclass(frozen=True, slots=True)
class UploadConfig:
    """Everything an upload can be told; any field can be passed as a keyword option.

    ``part_size`` and ``concurrency`` override the ``preset``'s values. The object's
    attributes (``content_type`` to ``sse_kms_key_id``) are those of
    :class:`~s3stream.store.attributes.ObjectOptions`; ``sse_customer_key`` (SSE-C, 32
    bytes), ``request_payer`` and ``expected_bucket_owner`` go with every request.
    ``max_bandwidth`` limits the bytes sent per second (see
    :class:`~s3stream.uploader.S3StreamUploader` for which uploads share one limit).
    """

    preset: PresetName = "auto"
    part_size: int | None = None
    concurrency: int | None = None
    checksum: ChecksumAlgorithm | str | None = None
    """``None``: the best the store verifies (see :mod:`s3stream.engine.choices`)."""
    max_parts: int | None = None
    """``None``: the store's part limit (S3's 10,000)."""
    equal_parts: bool | None = None
    """``None``: equal parts where the store needs them (Cloudflare R2)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    retry_for: float | None = None
    """Seconds to keep retrying a store that fails or cannot be reached (an outage), however
    many attempts that takes; ``None``: the ``retry`` policy's attempts decide. When it runs
    out on a file, the parts are kept for a resume (:class:`~s3stream.errors.UploadInterrupted`)."""
    leave_parts_on_error: bool = False
    progress_interval: float = 0.1
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    expires: dt.datetime | None = None
    storage_class: str | None = None
    acl: str | None = None
    tagging: Mapping[str, str] | str | None = None
    """Tags as a mapping, or as ``k=v&k2=v2`` (URL-encoded)."""
    sse: str | None = None
    sse_kms_key_id: str | None = None
    sse_customer_key: bytes | CustomerKey | None = field(default=None, repr=False)
    request_payer: bool = False
    expected_bucket_owner: str | None = None
    no_clobber: bool = False
    """Fail (``PreconditionFailed``) instead of overwriting an existing key."""
    max_bandwidth: int | None = None
    """Bytes per second, at least 64 KiB/s (``None``: no limit)."""
    verify: bool = False
    """Read the object back after the upload and compare its checksum."""

    def __post_init__(self) -> None:
        _check_types(self)
        if self.preset != "auto" and self.preset not in PRESETS:
            raise ConfigError(
                f"unknown preset {self.preset!r}: use auto, conservative, balanced or aggressive"
            )
        if self.part_size is not None:
            validate_part_size(self.part_size)
        if self.concurrency is not None and not 1 <= self.concurrency <= 64:
            raise ConfigError(f"concurrency {self.concurrency} is invalid: use 1 to 64")
        if self.max_parts is not None and not 1 <= self.max_parts <= MAX_PARTS:
            raise ConfigError(f"max_parts {self.max_parts} is invalid: use 1 to {MAX_PARTS}")
        if self.progress_interval < 0:
            raise ConfigError("progress_interval must not be negative")
        try:
            if self.checksum is not None:
                object.__setattr__(self, "checksum", ChecksumAlgorithm.parse(self.checksum))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if isinstance(self.tagging, str):
            object.__setattr__(self, "tagging", parse_tagging(self.tagging))
        if self.sse_customer_key is not None and not isinstance(self.sse_customer_key, CustomerKey):
            object.__setattr__(self, "sse_customer_key", CustomerKey(self.sse_customer_key))
        attributes = self.object_options()  # validated, names normalised (STANDARD_IA)
        for name in ("storage_class", "acl", "sse"):
            object.__setattr__(self, name, getattr(attributes, name))
        self.request_options()
        if self.sse is not None and self.sse_customer_key is not None:
            raise ConfigError(
                "choose one encryption: sse (SSE-S3 or KMS) or an SSE-C key, not both"
            )
        if self.verify and self.checksum is ChecksumAlgorithm.NONE:
            raise ConfigError("verify compares checksums: drop checksum none, or verify")
        bandwidth = self.max_bandwidth
        if bandwidth is not None and (
            isinstance(bandwidth, bool)
            or not isinstance(bandwidth, int | float)
            or bandwidth < MIN_BANDWIDTH
        ):
            raise ConfigError(
                f"max_bandwidth {bandwidth!r} is invalid: give bytes per second, at least "
                f"{MIN_BANDWIDTH} (64 KiB/s)"
            )

    def object_options(self) -> ObjectOptions:
        """The attributes the object is created with."""
        return ObjectOptions(**{f.name: getattr(self, f.name) for f in fields(ObjectOptions)})

    def request_options(self) -> RequestOptions:
        """What every request of the upload carries."""
        key = self.sse_customer_key
        return RequestOptions(
            sse_customer_key=key if isinstance(key, CustomerKey) else None,
            request_payer=bool(self.request_payer),
            expected_bucket_owner=self.expected_bucket_owner,
        )

    @property
    def chosen_checksum(self) -> ChecksumAlgorithm | None:
        """The algorithm asked for, or ``None`` when the store's capabilities choose."""
        assert self.checksum is None or isinstance(self.checksum, ChecksumAlgorithm)
        return self.checksum

    @property
    def retry_policy(self) -> RetryPolicy:
        """The ``retry`` policy with ``retry_for`` applied."""
        if self.retry_for is None:
            return self.retry
        return replace(self.retry, retry_for=self.retry_for)

    @property
    def checksum_algorithm(self) -> ChecksumAlgorithm:
        """The algorithm asked for (CRC64NVME, S3's own, when none was)."""
        return self.chosen_checksum or ChecksumAlgorithm.CRC64NVME

    def with_options(self, **options: Any) -> UploadConfig:
        """A copy with ``options`` applied; unknown names are a :class:`ConfigError`."""
        if not options:
            return self
        known = {f.name for f in fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown upload option(s) {', '.join(unknown)}: "
                f"valid are {', '.join(sorted(known))}"
            )
        return replace(self, **options)

    def resolve(self, size: int | None) -> tuple[PartPlan, int]:
        """The part plan and concurrency for an upload of ``size`` bytes (``None``: unknown)."""
        validate_size(size)
        preset = PRESETS[self.preset] if self.preset != "auto" else auto_preset(size)
        part_size = self.part_size or preset.part_size
        concurrency = self.concurrency or preset.concurrency
        plan = plan_parts(
            size,
            part_size,
            max_parts=self.max_parts or MAX_PARTS,
            equal_parts=bool(self.equal_parts),
        )
        return plan, concurrency


def _check_types(config: UploadConfig) -> None:
    """Reject values of the wrong type with a ConfigError, before they fail somewhere deep."""
    for name in ("part_size", "concurrency", "max_parts"):
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(
                f"{name} must be a whole number, not {value!r}"
                + (" (sizes are byte counts, e.g. 64 * 1024**2)" if name == "part_size" else "")
            )
    if config.checksum is not None and not isinstance(config.checksum, str | ChecksumAlgorithm):
        raise ConfigError(
            f"checksum must be a ChecksumAlgorithm or one of its names, not {config.checksum!r}"
        )
    interval = config.progress_interval
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise ConfigError(f"progress_interval must be a number of seconds, not {interval!r}")
    if not isinstance(config.retry, RetryPolicy):
        raise ConfigError(f"retry must be a RetryPolicy, not {config.retry!r}")
    retry_for = config.retry_for
    if retry_for is not None and (
        isinstance(retry_for, bool) or not isinstance(retry_for, int | float) or not retry_for > 0
    ):
        raise ConfigError(
            f"retry_for must be a positive number of seconds (or None), not {retry_for!r}"
        )
    if not isinstance(config.metadata, Mapping):
        raise ConfigError(f"metadata must be a mapping of names to values, not {config.metadata!r}")
    if config.content_type is not None and not isinstance(config.content_type, str):
        raise ConfigError(f"content_type must be a string, not {config.content_type!r}")
    if not isinstance(config.request_payer, bool):
        raise ConfigError(f"request_payer must be True or False, not {config.request_payer!r}")


_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def validate_bucket(bucket: str) -> None:
    """Reject a bucket name S3 would refuse, before any request."""
    if not isinstance(bucket, str):
        raise ConfigError(f"the bucket must be a name (str), not {bucket!r}")
    if not _BUCKET_RE.match(bucket) or ".." in bucket or re.match(r"^\d+\.\d+\.\d+\.\d+$", bucket):
        raise ConfigError(
            f"invalid bucket name {bucket!r}: use 3-63 lowercase letters, digits, '.' and '-'"
        )


def validate_target(bucket: str, key: str) -> None:
    """Reject bucket names and keys that S3 would refuse, before any request."""
    validate_bucket(bucket)
    if not isinstance(key, str):
        raise ConfigError(f"the object key must be a str, not {key!r}")
    if not key:
        raise ConfigError("empty object key: give the key to write, e.g. s3://bucket/name")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ConfigError(
            f"object key is {len(key.encode())} bytes: S3 keys are at most {MAX_KEY_BYTES} bytes"
        )
