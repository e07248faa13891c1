"""The part ledger: numbering, sizes from the plan, the limit, the unbroken run, completion."""

from __future__ import annotations

import pytest

from s3stream.checksums import ChecksumAlgorithm, combine, digest, encode
from s3stream.engine.ledger import PartLedger, TooManyParts, combined_checksum
from s3stream.engine.plan import plan_parts
from s3stream.errors import S3StreamError
from s3stream.limits import MiB
from s3stream.store.types import PartRecord

PART = 5 * MiB


def part(number: int, size: int = PART, checksum: str | None = None) -> PartRecord:
    return PartRecord(number, size, f'"e{number}"', checksum)


def test_numbers_run_from_one_to_the_plans_limit() -> None:
    ledger = PartLedger(plan_parts(None, PART, max_parts=3), hint="use larger parts")
    assert [ledger.claim() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(TooManyParts, match="the most 3 parts can carry: use larger parts"):
        ledger.claim()
    assert ledger.next_number == 4


def test_sizes_come_from_the_plan_and_the_last_part_is_cut() -> None:
    ledger = PartLedger(plan_parts(2 * PART + 10, PART))
    assert [ledger.bounds(n) for n in (1, 2, 3)] == [(0, PART), (PART, PART), (2 * PART, 10)]
    assert ledger.size_at(3, 2 * PART + 4) == 6  # a part starting off the plan's offsets
    assert list(ledger.unsent()) == [1, 2, 3]
    ledger.record(part(2))
    assert list(ledger.unsent()) == [1, 3]


def test_a_resumed_ledger_continues_after_its_unbroken_run() -> None:
    ledger = PartLedger(plan_parts(None, PART), [part(1), part(2), part(4)])
    assert ledger.run == 2 and ledger.next_number == 3
    assert ledger.resume_offset == 2 * PART
    assert [p.number for p in ledger.run_after(0)] == [1, 2]
    assert ledger.run_after(2) == []
    ledger.record(part(3))
    assert [p.number for p in ledger.run_after(2)] == [3, 4]
    assert ledger.recorded_bytes == 4 * PART


def test_completion_refuses_gaps_and_parts_that_do_not_add_up() -> None:
    ledger = PartLedger(plan_parts(2 * PART + 1, PART), [part(1), part(3, 1)])
    with pytest.raises(S3StreamError, match="do not make the object"):
        ledger.completion()
    ledger.record(part(2))
    assert [p.number for p in ledger.completion()] == [1, 2, 3]
    with pytest.raises(S3StreamError, match="do not make the object"):
        ledger.completion(2 * PART)
    with pytest.raises(S3StreamError):
        PartLedger(plan_parts(None, PART)).completion()


def test_the_object_checksum_combines_every_parts_or_is_none() -> None:
    algorithm = ChecksumAlgorithm.CRC64NVME
    a, b = b"a" * 100, b"b" * 50
    da, db = digest(algorithm, a), digest(algorithm, b)
    assert da is not None and db is not None
    parts = [part(1, 100, encode(algorithm, da)), part(2, 50, encode(algorithm, db))]
    assert combined_checksum(algorithm, parts) == combine(algorithm, [da, db])
    assert combined_checksum(algorithm, [parts[0], part(2, 50)]) is None
    assert combined_checksum(ChecksumAlgorithm.NONE, parts) is None
