"""Part plans: which part sizes an upload uses, as pure functions of its size and settings.

A known size gets one part size, grown just enough to fit within ``max_parts``.

An unknown length gets a *growing* schedule: the first ``max_parts / 10`` parts have the
configured size, and every following tenth of the part budget doubles it, up to the 5 GiB
part maximum. With 16 MiB first parts and 10,000 parts a stream can reach 12.68 TiB (with
64 MiB, 22.4 TiB), where a constant part size caps it at ``part_size x 10,000`` (48 GiB with
5 MiB parts, 488 GiB with 50 MiB). Growth starts after 1,000 parts (15.6 GiB with 16 MiB
parts); ``equal_parts`` (for stores such as Cloudflare R2 that require equal part sizes)
turns growth off.
"""

from __future__ import annotations

from dataclasses import dataclass

from s3stream.errors import ConfigError
from s3stream.limits import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    MiB,
    format_size,
)

GROWTH_TIERS = 10
"""An unknown-length schedule doubles the part size every ``max_parts / GROWTH_TIERS`` parts."""


@dataclass(frozen=True, slots=True)
class PartPlan:
    """The part sizes of one upload; ``size`` is ``None`` for an unknown length."""

    first_part_size: int
    size: int | None
    max_parts: int = MAX_PARTS
    growing: bool = False

    @property
    def growth_step(self) -> int:
        return max(1, self.max_parts // GROWTH_TIERS)

    def part_size(self, part_number: int) -> int:
        """The nominal size of part ``part_number`` (1-based); the last may be shorter."""
        if not self.growing:
            return self.first_part_size
        doublings = (part_number - 1) // self.growth_step
        return min(MAX_PART_SIZE, self.first_part_size << min(doublings, 40))

    def offset(self, part_number: int) -> int:
        """The byte offset at which part ``part_number`` starts."""
        if not self.growing:
            return (part_number - 1) * self.first_part_size
        total, n = 0, 1
        while n < part_number:
            span = min(part_number - n, self.growth_step - (n - 1) % self.growth_step)
            total += span * self.part_size(n)
            n += span
        return total

    @property
    def capacity(self) -> int:
        """The most bytes this plan can carry within ``max_parts``."""
        if self.size is not None:
            return self.size
        return min(MAX_OBJECT_SIZE, self.offset(self.max_parts + 1))

    @property
    def part_count(self) -> int | None:
        """How many parts a known size takes (at least 1); ``None`` for an unknown length."""
        if self.size is None:
            return None
        return max(1, -(-self.size // self.first_part_size))


def validate_part_size(part_size: int) -> None:
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ConfigError(
            f"part size {format_size(part_size)} is outside S3's limits: "
            f"use a part size from {format_size(MIN_PART_SIZE)} to {format_size(MAX_PART_SIZE)}"
        )


def validate_size(size: int | None) -> None:
    """Reject a declared size that is not a byte count (``None``: unknown length)."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise ConfigError(f"size must be a whole number of bytes, or None if unknown: not {size!r}")


def plan_parts(
    size: int | None,
    part_size: int,
    *,
    max_parts: int = MAX_PARTS,
    equal_parts: bool = False,
) -> PartPlan:
    """Plan an upload of ``size`` bytes (``None``: unknown), starting at ``part_size``."""
    validate_part_size(part_size)
    if not 1 <= max_parts <= MAX_PARTS:
        raise ConfigError(f"max_parts {max_parts} is invalid: use a number from 1 to {MAX_PARTS}")
    if size is None:
        return PartPlan(part_size, None, max_parts, growing=not equal_parts)
    validate_size(size)
    if size < 0:
        raise ConfigError(f"size {size} is negative: give the byte count, or None if unknown")
    if size > MAX_OBJECT_SIZE:
        raise ConfigError(
            f"size {format_size(size)} exceeds the S3 object limit "
            f"of {format_size(MAX_OBJECT_SIZE)}"
        )
    needed = -(-size // max_parts)
    if needed > part_size:
        # Round up to a whole MiB so part sizes stay readable in listings.
        part_size = -(-needed // MiB) * MiB
    if part_size > MAX_PART_SIZE:
        raise ConfigError(
            f"size {format_size(size)} does not fit in {max_parts} parts of at most "
            f"{format_size(MAX_PART_SIZE)}: raise max_parts"
        )
    return PartPlan(part_size, size, max_parts, growing=False)
