"""Where the CLI's options come from: flags > ``S3STREAM_*`` environment > config file > defaults.

Every setting has one name: the long option (``--part-size``), the config-file key
(``part-size = "64MiB"``; ``part_size`` works too) and the environment variable
(``S3STREAM_PART_SIZE``). The config file is TOML: ``--config FILE``, else
``$S3STREAM_CONFIG``, else ``$XDG_CONFIG_HOME/s3stream/config.toml`` (``~/.config/...``) if it
exists. Credentials, regions and profiles also follow the standard AWS chain (botocore reads
``AWS_*`` variables and ``~/.aws``); ``endpoint-url``, ``region`` and ``profile`` given here
take precedence over it. A bad value is a usage error that names where it came from.

Commands add settings with :func:`setting`; unknown keys in the config file are errors.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from s3stream.checksums import ChecksumAlgorithm
from s3stream.cli.common import UsageError, parse_duration
from s3stream.config import MIN_BANDWIDTH
from s3stream.engine.plan import validate_part_size
from s3stream.limits import format_size, parse_rate, parse_size
from s3stream.store.profiles import profile
from s3stream.store.timeouts import CONNECT_TIMEOUT, READ_TIMEOUT

T = TypeVar("T")

ENV_PREFIX = "S3STREAM_"
CONFIG_ENV = "S3STREAM_CONFIG"


@dataclass(frozen=True, slots=True)
class Setting(Generic[T]):
    """One option. ``convert`` takes a flag or environment string, or a TOML value."""

    name: str
    convert: Callable[[object], T]
    default: T | None = None
    env: bool = True
    secret: bool = False
    """Never shown (an SSE-C key): errors name where it came from, not its value."""

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.dest.upper()


REGISTRY: dict[str, Setting[Any]] = {}


def setting(
    name: str,
    convert: Callable[[object], T],
    default: T | None = None,
    *,
    env: bool = True,
    secret: bool = False,
) -> Setting[T]:
    """Declare (and register) a setting; the config file accepts registered names only."""
    declared = Setting(name, convert, default, env, secret)
    REGISTRY[name] = declared
    return declared


# ----------------------------------------------------------------------------- converters


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value).strip()
    raise ValueError(f"expected a single value, not {type(value).__name__}")


def text(value: object) -> str:
    found = _scalar(value)
    if not found:
        raise ValueError("must not be empty")
    return found


def endpoint_url(value: object) -> str:
    found = _scalar(value)
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s]*)?", found):
        raise ValueError(
            "not an endpoint URL: write e.g. https://s3.example.com or http://HOST:PORT"
        )
    return found


def part_size(value: object) -> int:
    size = parse_size(_scalar(value))
    validate_part_size(size)
    return size


def byte_count(value: object) -> int:
    return parse_size(_scalar(value))


def rate(value: object) -> int:
    """Bytes per second from ``10MiB/s``, ``80Mbit`` and the like."""
    found = parse_rate(_scalar(value))
    if found < MIN_BANDWIDTH:
        raise ValueError(
            f"{format_size(found)}/s is below the lowest limit, {format_size(MIN_BANDWIDTH)}/s "
            "(slower bodies pause long enough for a store to drop them)"
        )
    return found


def integer(low: int, high: int) -> Callable[[object], int]:
    def convert(value: object) -> int:
        found = _scalar(value)
        if not re.fullmatch(r"\d+", found) or not low <= int(found) <= high:
            raise ValueError(f"use a whole number from {low} to {high}")
        return int(found)

    return convert


def choice(*names: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        found = _scalar(value).lower()
        if found not in names:
            raise ValueError(f"use one of {', '.join(names)}")
        return found

    return convert


def checksum(value: object) -> str:
    return ChecksumAlgorithm.parse(_scalar(value)).value


def store_profile(value: object) -> str:
    """A store profile name (see :mod:`s3stream.store.profiles`)."""
    return profile(_scalar(value)).name


def existing_file(value: object) -> str:
    found = os.path.expanduser(_scalar(value))
    if not os.path.isfile(found):
        raise ValueError(f"{found}: no such file: give the CA certificates file (PEM)")
    return found


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def boolean(value: object) -> bool:
    found = _scalar(value).lower()
    if found in _TRUE | _FALSE:
        return found in _TRUE
    raise ValueError("use true or false")


def duration(low: float, high: float) -> Callable[[object], float]:
    def convert(value: object) -> float:
        seconds = parse_duration(_scalar(value))
        if not low <= seconds <= high:
            raise ValueError(f"use a duration from {_seconds(low)} to {_seconds(high)}")
        return seconds

    return convert


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def metadata(value: object) -> dict[str, str]:
    """``KEY=VALUE[,KEY2=VALUE2]`` strings (flags may repeat), a JSON object, or a TOML table."""
    if isinstance(value, Mapping):
        return {str(k): _scalar(v) for k, v in value.items()}
    items = value if isinstance(value, list) else [_scalar(value)]
    found: dict[str, str] = {}
    for item in items:
        text = str(item).strip()
        if text.startswith("{"):
            try:
                table = json.loads(text)
            except ValueError:
                table = None
            if not isinstance(table, dict):
                raise ValueError(f"{text!r} is not a JSON object of names to values")
            found.update({str(k): _scalar(v) for k, v in table.items()})
            continue
        for pair in text.split(","):
            name, sep, val = pair.partition("=")
            if not sep or not name.strip():
                raise ValueError(
                    f"{pair!r} is not KEY=VALUE: write KEY=VALUE[,KEY2=VALUE2] "
                    """(JSON for values with commas: '{"k": "a,b"}')"""
                )
            found[name.strip()] = val
    return found


# ----------------------------------------------------------------------------- the settings

ENDPOINT_URL = setting("endpoint-url", endpoint_url)
REGION = setting("region", text)
PROFILE = setting("profile", text)
PART_SIZE = setting("part-size", part_size)
CONCURRENCY = setting("concurrency", integer(1, 64))
PRESET = setting("preset", choice("auto", "conservative", "balanced", "aggressive"))
CHECKSUM = setting("checksum", checksum)
MAX_PARTS = setting("max-parts", integer(1, 10_000))
EQUAL_PARTS = setting("equal-parts", boolean)
NO_CLOBBER = setting("no-clobber", boolean)
LEAVE_PARTS_ON_ERROR = setting("leave-parts-on-error", boolean)
CONTENT_TYPE = setting("content-type", text, env=False)
METADATA = setting("metadata", metadata, env=False)
EXPECTED_SIZE = setting("expected-size", byte_count, env=False)
BWLIMIT = setting("bwlimit", rate)
TRANSFERS = setting("transfers", integer(1, 64), 4)
VERIFY = setting("verify", boolean)
STORE_PROFILE = setting("store-profile", store_profile)
CA_BUNDLE = setting("ca-bundle", existing_file)
NO_VERIFY_SSL = setting("no-verify-ssl", boolean)
IDLE = setting("idle", duration(0.1, 86400.0), 5.0)
RETRY_FOR = setting("retry-for", duration(0.0, 7 * 86400.0), 300.0)
"""How long uploads ride out an outage; 0 leaves it to the retry attempts."""
CLI_CONNECT_TIMEOUT = setting("cli-connect-timeout", duration(0.1, 3600.0), CONNECT_TIMEOUT)
CLI_READ_TIMEOUT = setting("cli-read-timeout", duration(0.1, 86400.0), READ_TIMEOUT)
EXPIRES = setting("expires", duration(1.0, 7 * 86400.0), 3600.0)


# ----------------------------------------------------------------------------- places


def config_home(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_CONFIG_HOME")
    return Path(base) if base else Path.home() / ".config"


def state_home(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_STATE_HOME")
    return Path(base) if base else Path.home() / ".local" / "state"


def default_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return config_home(environ) / "s3stream" / "config.toml"


def load_config_file(path: Path, *, required: bool) -> dict[str, object]:
    """The file's settings by canonical name; a missing optional file is empty."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise UsageError(f"config file {path} does not exist: check --config") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsageError(f"config file {path} cannot be read: {exc.strerror}") from None
    found: dict[str, object] = {}
    for key, value in raw.items():
        name = key.replace("_", "-")
        if name not in REGISTRY:
            close = difflib.get_close_matches(name, REGISTRY, n=1)
            suggestion = f"did you mean {close[0]!r}?" if close else "see `s3stream cp --help`"
            raise UsageError(f"config file {path}: unknown setting {key!r}: {suggestion}")
        found[name] = value
    return found


class Settings:
    """Looks settings up in flags, then the environment, then the config file."""

    def __init__(
        self,
        flags: argparse.Namespace | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        config_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._flags = flags if flags is not None else argparse.Namespace()
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        explicit = config_path or self._environ.get(CONFIG_ENV) or None
        if explicit:
            self.config_path: Path | None = Path(explicit)
            self._file = load_config_file(self.config_path, required=True)
        else:
            self.config_path = default_config_path(self._environ)
            self._file = load_config_file(self.config_path, required=False)
        self.sources: dict[str, str] = {}
        """Where each looked-up setting came from (for --debug)."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        return cls(args, config_path=getattr(args, "config", None))

    def get(self, item: Setting[T]) -> T | None:
        flag = getattr(self._flags, item.dest, None)
        if flag is not None:
            shown = "" if isinstance(flag, bool | list) or item.secret else f" {flag}"
            return self._convert(item, flag, f"--{item.name}{shown}", "flag")
        if item.env:
            value = self._environ.get(item.env_var)
            if value:
                shown = "" if item.secret else f"={value}"
                return self._convert(item, value, f"{item.env_var}{shown}", "environment")
        if item.name in self._file:
            stored = self._file[item.name]
            shown = "" if item.secret else f" = {stored!r}"
            return self._convert(
                item, stored, f"{self.config_path}: {item.name}{shown}", "config file"
            )
        self.sources[item.name] = "default"
        return item.default

    def _convert(self, item: Setting[T], raw: object, label: str, source: str) -> T:
        try:
            value = item.convert(raw)
        except ValueError as exc:  # ConfigError is a ValueError too
            raise UsageError(f"{label}: {exc}") from None
        self.sources[item.name] = source
        return value
