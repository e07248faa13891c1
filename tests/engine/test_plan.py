import pytest

from s3stream import ConfigError, plan_parts
from s3stream.limits import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, GiB, MiB, TiB


def test_known_size_keeps_part_size_when_it_fits() -> None:
    plan = plan_parts(100 * MiB, 8 * MiB)
    assert plan.first_part_size == 8 * MiB
    assert plan.part_count == 13
    assert plan.offset(13) == 96 * MiB


def test_known_size_grows_part_size_to_fit_max_parts() -> None:
    plan = plan_parts(1 * TiB, 8 * MiB)
    assert plan.part_count is not None and plan.part_count <= MAX_PARTS
    assert plan.first_part_size % MiB == 0
    assert plan.first_part_size * MAX_PARTS >= 1 * TiB


def test_largest_object_fits_exactly() -> None:
    plan = plan_parts(MAX_OBJECT_SIZE, 5 * MiB)
    assert plan.first_part_size == MAX_PART_SIZE
    assert plan.part_count == MAX_PARTS


def test_max_parts_option_is_respected() -> None:
    plan = plan_parts(20 * GiB, 5 * MiB, max_parts=1000)
    assert plan.part_count is not None and plan.part_count <= 1000


@pytest.mark.parametrize(
    ("size", "message"),
    [(MAX_OBJECT_SIZE + 1, "object limit"), (-1, "negative")],
)
def test_impossible_sizes_are_rejected(size: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_parts(size, 8 * MiB)


def test_too_large_for_max_parts_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="raise max_parts"):
        plan_parts(6 * TiB, 8 * MiB, max_parts=1000)


@pytest.mark.parametrize("part_size", [5 * MiB - 1, 5 * GiB + 1, 0])
def test_part_size_limits(part_size: int) -> None:
    with pytest.raises(ConfigError, match="part size"):
        plan_parts(None, part_size)


def test_unknown_length_grows_far_beyond_a_constant_part_size() -> None:
    plan = plan_parts(None, 16 * MiB)
    constant = 16 * MiB * MAX_PARTS
    assert plan.capacity > 50 * constant  # 12.9 TiB against 156 GiB
    assert plan.capacity > 12 * TiB
    # part sizes never shrink, never exceed the maximum, and offsets add up
    sizes = [plan.part_size(n) for n in range(1, MAX_PARTS + 1)]
    assert sizes == sorted(sizes)
    assert max(sizes) <= MAX_PART_SIZE
    assert plan.offset(MAX_PARTS + 1) == sum(sizes)
    # the first tenth of the budget keeps the configured size: memory stays flat early
    assert plan.part_size(MAX_PARTS // 10) == 16 * MiB
    assert plan.part_size(MAX_PARTS // 10 + 1) == 32 * MiB


def test_unknown_length_with_large_parts_reaches_tens_of_tib() -> None:
    assert plan_parts(None, 64 * MiB).capacity > 20 * TiB


def test_equal_parts_turns_growth_off() -> None:
    plan = plan_parts(None, 16 * MiB, equal_parts=True)
    assert plan.part_size(MAX_PARTS) == 16 * MiB
    assert plan.capacity == 16 * MiB * MAX_PARTS


def test_offsets_match_sum_of_sizes_for_small_budget() -> None:
    plan = plan_parts(None, 5 * MiB, max_parts=1000)
    total = 0
    for n in range(1, 1001):
        assert plan.offset(n) == total
        total += plan.part_size(n)
