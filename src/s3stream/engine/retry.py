"""Retry policy: exponential backoff with full jitter, as an immutable value."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from s3stream.errors import ConfigError, StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed store call is tried again.

    The delay before retry ``n`` (1-based) is uniform in ``[0, min(max_delay, base_delay x
    2^(n-1))]`` ("full jitter"), which spreads retries of many parts apart after a throttle.
    Only errors marked retryable at the store boundary (5xx, SlowDown, RequestTimeout,
    connection resets and timeouts) are retried; anything else fails at once.

    ``retry_for`` (seconds) rides out an outage: a call keeps being retried until that long
    has passed since its first failure, however many attempts that takes (``max_attempts``
    then no longer limits it). ``None``: ``max_attempts`` decides.
    """

    max_attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 15.0
    retry_for: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts {self.max_attempts} must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("retry delays must not be negative")
        if self.retry_for is not None and not self.retry_for > 0:
            raise ConfigError(
                f"retry_for {self.retry_for!r} is invalid: give a positive number of seconds, "
                "or None to let max_attempts decide"
            )

    def delay(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (retry_number - 1))
        return rand() * ceiling


def call_with_retry(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    describe: str,
    sleep: Callable[[float], object] = time.sleep,
    rand: Callable[[], float] = random.random,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``operation``, retrying retryable :class:`StoreError` s per ``policy``.

    ``should_stop`` is checked before every retry, so an aborting upload does not keep trying.
    With ``policy.retry_for`` the last wait is cut short so that one attempt comes at the end
    of the budget.
    """
    attempt = 0
    deadline: float | None = None
    while True:
        try:
            return operation()
        except StoreError as exc:
            attempt += 1
            now = clock()
            if deadline is None and policy.retry_for is not None:
                deadline = now + policy.retry_for
            spent = attempt >= policy.max_attempts if deadline is None else now >= deadline
            if not exc.retryable or spent or should_stop():
                if attempt > 1:
                    over = "" if deadline is None else f" in {policy.retry_for:g}s"
                    exc.add_note(f"{describe}: gave up after {attempt} attempts{over}")
                raise
            pause = policy.delay(attempt, rand)
            if deadline is not None:
                pause = min(pause, deadline - now)
            log.info("%s failed (%s); retry %d in %.2fs", describe, exc.code, attempt, pause)
            sleep(pause)
