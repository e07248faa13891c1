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
    """

    max_attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 15.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts {self.max_attempts} must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("retry delays must not be negative")

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
) -> T:
    """Run ``operation``, retrying retryable :class:`StoreError` s per ``policy``.

    ``should_stop`` is checked before every retry, so an aborting upload does not keep trying.
    """
    attempt = 0
    while True:
        try:
            return operation()
        except StoreError as exc:
            attempt += 1
            if not exc.retryable or attempt >= policy.max_attempts or should_stop():
                if attempt > 1:
                    exc.add_note(f"{describe}: gave up after {attempt} attempts")
                raise
            pause = policy.delay(attempt, rand)
            log.info("%s failed (%s); retry %d in %.2fs", describe, exc.code, attempt, pause)
            sleep(pause)
