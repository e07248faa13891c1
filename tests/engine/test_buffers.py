"""The buffer pool's byte budget."""

from __future__ import annotations

import threading

import pytest

from s3stream.engine.buffers import BufferPool, PoolClosed

MiB = 1024 * 1024


def test_budget_blocks_and_release_wakes() -> None:
    pool = BufferPool(2, MiB)
    a = pool.acquire(MiB)
    b = pool.acquire(MiB)
    assert a is not None and b is not None
    assert pool.try_acquire(MiB) is None
    pool.release(a)
    c = pool.try_acquire(MiB)
    assert c is a  # reused, not reallocated
    assert pool.peak_bytes == 2 * MiB


def test_larger_parts_fit_fewer_buffers_in_the_same_budget() -> None:
    pool = BufferPool(4, MiB)  # 4 MiB budget
    small = [pool.acquire(MiB) for _ in range(4)]
    for buf in small:
        assert buf is not None
        pool.release(buf)
    big = [pool.acquire(2 * MiB), pool.acquire(2 * MiB)]
    assert pool.try_acquire(2 * MiB) is None  # a third 2 MiB buffer would exceed 4 MiB
    assert pool.held_bytes == 4 * MiB and pool.peak_bytes == 4 * MiB
    for buf in big:
        assert buf is not None
        pool.release(buf)
    huge = pool.acquire(8 * MiB)  # one part beyond the budget: two are still allowed
    assert huge is not None and pool.try_acquire(8 * MiB) is not None
    assert pool.try_acquire(8 * MiB) is None
    assert pool.held_bytes == 16 * MiB


def test_close_wakes_waiters() -> None:
    pool = BufferPool(1, MiB)
    assert pool.acquire(MiB) is not None
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            pool.acquire(MiB)
        except PoolClosed as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiter.join(0.1)
    pool.close()
    waiter.join(5)
    assert len(errors) == 1
    with pytest.raises(PoolClosed):
        pool.acquire(MiB)
