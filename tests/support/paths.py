"""Where the tests find the repository's other files (the node packages, the JS clients)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root (``tests/support`` is two levels below it)."""
