"""The bounded cache: its bound, which entry it forgets first, and many threads at once."""

from __future__ import annotations

import threading

import pytest

from app.bounded_cache import BoundedCache


def test_keeps_at_most_its_size() -> None:
    cache: BoundedCache[int, str] = BoundedCache(3)
    for n in range(10):
        cache.put(n, str(n))
        assert len(cache) == min(n + 1, 3)
    assert [n for n in range(10) if n in cache] == [7, 8, 9]
    assert cache.get(9) == "9"
    assert cache.get(0) is None


def test_forgets_the_least_recently_read_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("d", 4)
    assert "b" not in cache
    assert [cache.get(k) for k in ("a", "c", "d")] == [1, 3, 4]


def test_writing_a_kept_key_makes_it_recent_and_replaces_its_value() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert "b" not in cache
    assert cache.get("a") == 10
    assert len(cache) == 2


def test_a_miss_changes_nothing() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("x") is None
    cache.put("c", 3)
    assert "a" not in cache
    assert "b" in cache


def test_clear_empties_it() -> None:
    cache: BoundedCache[int, int] = BoundedCache(2)
    cache.put(1, 1)
    cache.clear()
    assert len(cache) == 0
    assert cache.get(1) is None


def test_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BoundedCache(0)


def test_threads_reading_and_writing_keep_the_bound_and_the_values() -> None:
    size = 64
    cache: BoundedCache[tuple[int, int], int] = BoundedCache(size)
    threads = 8
    start = threading.Barrier(threads)
    wrong: list[tuple[tuple[int, int], int]] = []

    def work(t: int) -> None:
        start.wait()
        for n in range(5_000):
            key = (t, n % 100)
            cache.put(key, t * 1_000 + n % 100)
            found = cache.get((t, (n * 7) % 100))
            if found is not None and found != t * 1_000 + (n * 7) % 100:
                wrong.append(((t, (n * 7) % 100), found))
            if len(cache) > size:
                wrong.append(((t, -1), len(cache)))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)
    assert wrong == []
    assert len(cache) == size
