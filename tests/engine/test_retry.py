import pytest

from s3stream import ConfigError, RetryPolicy, StoreError
from s3stream.engine.retry import call_with_retry


def test_full_jitter_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    assert policy.delay(1, lambda: 1.0) == 1.0
    assert policy.delay(3, lambda: 1.0) == 4.0
    assert policy.delay(10, lambda: 1.0) == 5.0
    assert policy.delay(10, lambda: 0.0) == 0.0


def test_invalid_policy() -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)


def test_retries_retryable_errors_with_backoff_and_no_real_sleep() -> None:
    sleeps: list[float] = []
    errors = [StoreError("slow", code="SlowDown", status=503, retryable=True) for _ in range(3)]
    calls = 0

    def operation() -> str:
        nonlocal calls
        calls += 1
        if errors:
            raise errors.pop()
        return "ok"

    result = call_with_retry(
        operation, RetryPolicy(base_delay=0.5), describe="op", sleep=sleeps.append, rand=lambda: 1.0
    )
    assert result == "ok" and calls == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_fatal_errors_fail_at_once() -> None:
    calls = 0

    def operation() -> None:
        nonlocal calls
        calls += 1
        raise StoreError("denied", code="AccessDenied", status=403)

    with pytest.raises(StoreError, match="denied"):
        call_with_retry(operation, RetryPolicy(), describe="op", sleep=lambda s: None)
    assert calls == 1


def test_gives_up_after_max_attempts_and_says_so() -> None:
    def operation() -> None:
        raise StoreError("reset", code="ConnectionClosedError", retryable=True)

    with pytest.raises(StoreError) as info:
        call_with_retry(operation, RetryPolicy(max_attempts=3), describe="op", sleep=lambda s: None)
    assert "gave up after 3 attempts" in "".join(info.value.__notes__)


def test_should_stop_ends_retries() -> None:
    calls = 0

    def operation() -> None:
        nonlocal calls
        calls += 1
        raise StoreError("reset", code="X", retryable=True)

    with pytest.raises(StoreError):
        call_with_retry(
            operation, RetryPolicy(), describe="op", sleep=lambda s: None, should_stop=lambda: True
        )
    assert calls == 1
