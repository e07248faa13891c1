"""What every command shares: exit codes, the parser class, ``s3://`` URLs, durations, errors."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from typing import NoReturn

from s3stream.config import validate_target
from s3stream.errors import (
    AlreadyExists,
    ConfigError,
    S3StreamError,
    SourceError,
    StoreError,
    UploadAborted,
    UploadFailed,
    UploadInterrupted,
)

PROG = "s3stream"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_RESUMABLE = 75
"""Interrupted by an outage, the parts kept: ``s3stream resume ID`` continues (EX_TEMPFAIL)."""
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

EXIT_CODES_HELP = """\
exit codes:
  0    done
  1    the upload (or the command) failed; nothing was left behind unless
       --leave-parts-on-error was given
  2    usage or configuration error (bad option, URL, size, missing file,
       no credentials): nothing was sent
  75   interrupted: the store failed or could not be reached for longer than
       --retry-for; a file's parts were kept: `s3stream resume ID` continues
  130  interrupted (Ctrl-C); the multipart upload was aborted
  143  terminated (SIGTERM); the multipart upload was aborted"""


class UsageError(Exception):
    """A bad invocation found by the CLI itself (exit 2); nothing was sent."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that the library cleans up the same way (exit 143)."""


class CliParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see `{self.prog} --help`)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-written descriptions and example epilogs as they are."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


# ----------------------------------------------------------------------------- s3:// URLs


@dataclass(frozen=True, slots=True)
class S3Url:
    bucket: str
    key: str
    """The key, a prefix ending in ``/``, or empty (the bucket's root)."""

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def join(self, name: str) -> S3Url:
        """The object ``name`` under this prefix."""
        return S3Url(self.bucket, self.key + name)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_url(text: str) -> S3Url:
    """``s3://bucket/key`` (or ``s3://bucket/prefix/``, ``s3://bucket``); checked, no request."""
    if not text.startswith("s3://"):
        raise UsageError(f"{text!r} is not an S3 URL: write s3://BUCKET/KEY")
    bucket, _, key = text[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"{text!r} names no bucket: write s3://BUCKET/KEY")
    try:
        validate_target(bucket, key or "-")
    except ConfigError as exc:
        raise UsageError(f"{_shortened(text)}: {exc}") from None
    return S3Url(bucket, key)


def _shortened(text: str, limit: int = 100) -> str:
    """``text``, or its start and end around ``...`` when longer than ``limit`` characters."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 23]}...{text[-20:]}"


# ----------------------------------------------------------------------------- durations

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds from ``30s``, ``15m``, ``1h``, ``7d``, ``1h30m``, ``250ms`` or a plain number."""
    compact = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", compact):
        return float(compact)
    if not compact or not re.fullmatch(f"(?:{_DURATION_PART.pattern})+", compact):
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 15m, 1h, 7d or seconds")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(compact))


def format_duration(seconds: float) -> str:
    """``0.4s``, ``12s``, ``3m05s``, ``1h02m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


# ----------------------------------------------------------------------------- errors

_STORE_HINTS = {
    "NoSuchBucket": "check the bucket name, or create the bucket first",
    "AccessDenied": "check that the credentials may write to this bucket and key",
    "InvalidAccessKeyId": "the store does not know this access key: check the credentials "
    "or the profile",
    "SignatureDoesNotMatch": "the store rejected the signature: check the secret key",
    "EndpointConnectionError": "cannot reach the store: check --endpoint-url "
    "(or AWS_ENDPOINT_URL_S3) and that the store is running",
    "ConnectTimeoutError": "cannot reach the store: check --endpoint-url and the network",
    "SSLError": "pass --ca-bundle FILE with the store's CA certificate (or set AWS_CA_BUNDLE)",
}


def _store_cause(exc: BaseException) -> StoreError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StoreError):
            return seen
        seen = seen.__cause__
    return None


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one line to print for ``exc`` and the exit code it maps to."""
    if isinstance(exc, KeyboardInterrupt):
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        detail = f": {_one_line(str(exc))}" if str(exc) else ""
        return what + detail, EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    if isinstance(exc, UploadAborted):
        return _one_line(str(exc)), EXIT_INTERRUPTED
    if isinstance(exc, UsageError | ConfigError):
        return _one_line(str(exc)), EXIT_USAGE
    if isinstance(exc, UploadFailed | SourceError | StoreError):
        store = _store_cause(exc)
        if isinstance(store, AlreadyExists):
            where = f"s3://{exc.bucket}/{exc.key}" if exc.bucket else "the key"
            return (
                f"{where} already exists and --no-clobber is set: nothing was overwritten "
                "(choose another key, or drop --no-clobber)",
                EXIT_FAILED,
            )
        message = _one_line(str(exc))
        hints: list[str] = []
        if store is not None:
            hints += [_one_line(note) for note in getattr(store, "__notes__", [])]
            if store.code in _STORE_HINTS:
                hints.append(_STORE_HINTS[store.code])
        if isinstance(exc, UploadInterrupted):
            hints.append(f"continue it with `s3stream resume {exc.upload_id}`")
        elif isinstance(exc, UploadFailed) and exc.parts_left and exc.upload_id:
            hints.append(f"the parts were kept under upload id {exc.upload_id}")
        code = EXIT_RESUMABLE if isinstance(exc, UploadInterrupted) else EXIT_FAILED
        return (f"{message} ({'; '.join(hints)})" if hints else message), code
    if isinstance(exc, S3StreamError):
        return _one_line(str(exc)), EXIT_FAILED
    embedded = sys.modules.get("s3stream.embedded.process")  # raised only once it is loaded
    if embedded is not None and isinstance(exc, embedded.EmbeddedStoreError):
        return _one_line(str(exc)), EXIT_FAILED
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", EXIT_FAILED
    return (
        f"unexpected {type(exc).__name__}: {_one_line(str(exc))} (run with --debug for details)",
        EXIT_FAILED,
    )


def eprint(message: str) -> None:
    """A line on stderr (looked up at call time, so a live progress display can redirect it)."""
    print(message, file=sys.stderr, flush=True)
