"""The part ledger: one multipart upload's parts, as every door counts them.

The engine's writer, the gateway's chunk writer and resume all number, size and record
parts through a :class:`PartLedger`, so the rules live here once: part numbers run from 1 to
the plan's ``max_parts``; a part's size comes from the plan, the last one cut to what is
left of a known size; the parts acknowledged without a gap from part 1 (the unbroken run)
are what a stream can continue after; and a completion lists parts 1..n with no gap whose
sizes add up to the object's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from s3stream.checksums import ChecksumAlgorithm, combine
from s3stream.engine.plan import PartPlan
from s3stream.errors import S3StreamError, SourceError
from s3stream.limits import format_size
from s3stream.store.types import PartRecord


class TooManyParts(SourceError):
    """The upload would need more parts than its plan allows."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class PartLedger:
    """The parts of one upload planned by ``plan``; ``parts`` are those already
    acknowledged (a resumed upload's). Thread-safe: parts are recorded from worker threads.

    ``hint`` ends the message of :class:`TooManyParts` with what the caller can do.
    """

    def __init__(
        self,
        plan: PartPlan,
        parts: Iterable[PartRecord] = (),
        *,
        hint: str = "declare the size, or use larger parts",
    ) -> None:
        self.plan = plan
        self.hint = hint
        self._parts = {p.number: p for p in parts}
        self._lock = threading.Lock()
        self._next = self.run + 1

    # ------------------------------------------------------------------ numbering and sizes

    @property
    def next_number(self) -> int:
        """The number the next part will get."""
        return self._next

    def check(self) -> None:
        """Raise :class:`TooManyParts` when the plan allows no next part."""
        if self._next > self.plan.max_parts:
            raise TooManyParts(
                f"the upload exceeds {format_size(self.plan.capacity)}, the most "
                f"{self.plan.max_parts} parts can carry: {self.hint}",
                self.plan.max_parts,
            )

    def claim(self) -> int:
        """Take the next part number (:class:`TooManyParts` when there is none)."""
        self.check()
        number = self._next
        self._next += 1
        return number

    def bounds(self, number: int) -> tuple[int, int]:
        """Where part ``number`` starts and how long it is, for parts cut at the plan's
        offsets (the last one ends at the known size)."""
        offset = self.plan.offset(number)
        return offset, self.size_at(number, offset)

    def size_at(self, number: int, start: int) -> int:
        """The size of part ``number`` when it starts at byte ``start``: the plan's nominal
        size, cut to what is left of a known size."""
        size = self.plan.part_size(number)
        if self.plan.size is not None:
            size = min(size, self.plan.size - start)
        return size

    def unsent(self) -> Iterator[int]:
        """The numbers of a known-size upload's parts that are not recorded yet."""
        for number in range(1, (self.plan.part_count or 0) + 1):
            if number not in self._parts:
                yield number

    # ------------------------------------------------------------------ acknowledged parts

    def record(self, part: PartRecord) -> None:
        with self._lock:
            self._parts[part.number] = part

    def __contains__(self, number: int) -> bool:
        return number in self._parts

    def __len__(self) -> int:
        return len(self._parts)

    @property
    def parts(self) -> list[PartRecord]:
        """Every recorded part, by number."""
        with self._lock:
            return [self._parts[n] for n in sorted(self._parts)]

    @property
    def run(self) -> int:
        """The length k of the unbroken run of recorded parts 1..k."""
        with self._lock:
            k = 0
            while k + 1 in self._parts:
                k += 1
            return k

    def run_after(self, k: int) -> list[PartRecord]:
        """The recorded parts k+1, k+2, ... up to the first gap."""
        with self._lock:
            found = []
            while k + 1 in self._parts:
                k += 1
                found.append(self._parts[k])
            return found

    @property
    def recorded_bytes(self) -> int:
        with self._lock:
            return sum(p.size for p in self._parts.values())

    @property
    def resume_offset(self) -> int:
        """Where a replaying producer must start: the end of the unbroken run (for parts cut
        at the plan's offsets)."""
        return self.plan.offset(self.run + 1)

    def completion(self, size: int | None = None) -> list[PartRecord]:
        """The parts to complete the upload with: 1..n without a gap, adding up to ``size``
        (the plan's when not given, if known); anything else is refused, so no object is
        ever completed without some of its bytes or with some twice."""
        parts = self.parts
        size = self.plan.size if size is None else size
        numbered = [p.number for p in parts] == list(range(1, len(parts) + 1))
        total = sum(p.size for p in parts)
        if not parts or not numbered or (size is not None and total != size):
            raise S3StreamError(
                f"the recorded parts ({len(parts)} parts, {total} bytes) do not make the "
                f"object ({size} bytes): nothing was completed"
            )
        return parts


def combined_checksum(algorithm: ChecksumAlgorithm, parts: list[PartRecord]) -> str | None:
    """The whole object's checksum combined from ``parts``' own, when every one has one."""
    digests = [p.digest(algorithm) for p in parts]
    if not digests or any(d is None for d in digests):
        return None
    return combine(algorithm, [d for d in digests if d is not None])
