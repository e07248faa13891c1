"""The S3 multipart limits, in one place (bytes unless the name says otherwise), and human
byte sizes (``64MiB``, ``1.5GB``) for the CLI and messages.

https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
"""

from __future__ import annotations

import re

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

MIN_PART_SIZE = 5 * MiB
"""Every part but the last must be at least this large."""
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE
"""10,000 x 5 GiB = 48.8 TiB."""
MAX_SINGLE_PUT_SIZE = 5 * GiB
MAX_KEY_BYTES = 1024
"""Object keys are at most 1,024 bytes of UTF-8."""

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Parse `64MiB`, `10MB`, `5m` (decimal), `1.5GiB` or a plain byte count into bytes."""
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(f"invalid size {text!r}: use a number with an optional unit, e.g. 64MiB")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(n: float) -> str:
    """Format a byte count with binary units: 1536 -> '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


_BITS = {"bit": 1, "kbit": 1000, "mbit": 1000**2, "gbit": 1000**3}
_BITS |= {"kibit": 1024, "mibit": 1024**2, "gibit": 1024**3}
_BITS |= {"bps": 1, "kbps": 1000, "mbps": 1000**2, "gbps": 1000**3}
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*(?:/s(?:ec)?)?\s*$")


def parse_rate(text: str) -> int:
    """Bytes per second from ``10MiB/s``, ``500KB/s``, ``2MB`` (``/s`` optional) or bits:
    ``80Mbit``, ``80Mbit/s``, ``100Mbps``."""
    match = _RATE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if match and unit in _BITS:
        return int(float(match.group(1)) * _BITS[unit] / 8)
    if match and unit in _UNITS:
        return int(float(match.group(1)) * _UNITS[unit])
    raise ValueError(f"invalid rate {text!r}: use e.g. 10MiB/s, 500KB/s or 80Mbit")
