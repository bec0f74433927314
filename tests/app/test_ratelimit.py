"""Rate limits shared between processes: two limiters stand for two web workers, on Redis and on files."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import RateLimited
from app.ratelimit import FileCounter, RedisCounter, SharedLimiter
from app.settings import Settings, load_settings
from tests.conftest import REDIS_URL, service_missing

REFUSAL = ("尝试次数过多", "too many attempts")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _settings(data_dir: Path, broker_url: str = "embedded") -> Settings:
    return load_settings(
        {"LIANTU_DATA_DIR": str(data_dir), "LIANTU_SECRET_KEY": "k" * 40, "LIANTU_BROKER_URL": broker_url}
    )


@pytest.fixture
def redis_settings(tmp_path: Path) -> Iterator[Settings]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        service_missing(f"Redis at {REDIS_URL}: {exc.__class__.__name__}")
    yield _settings(tmp_path, REDIS_URL)
    client.close()


def _attempts(limiters: list[SharedLimiter], settings: Settings, client: str, count: int) -> list[bool]:
    """Alternate between the limiters; True for each attempt allowed."""
    allowed = []
    for index in range(count):
        try:
            limiters[index % len(limiters)].hit(settings, client, limit=4, window_seconds=60)
            allowed.append(True)
        except RateLimited:
            allowed.append(False)
    return allowed


@pytest.mark.parametrize("backend", ["files", "redis"])
def test_two_limiters_share_the_count_and_the_window_resets(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = request.getfixturevalue("redis_settings") if backend == "redis" else _settings(tmp_path)
    clock = Clock(1_800_000_000.0 + 5)  # 5 s into a 60 s window
    # A scope of this test's own, so that Redis keys of earlier runs cannot count.
    scope = f"test-{uuid.uuid4().hex[:8]}"
    first, second = SharedLimiter(scope, REFUSAL, clock=clock), SharedLimiter(scope, REFUSAL, clock=clock)
    expected = RedisCounter if backend == "redis" else FileCounter
    assert isinstance(first.counter(settings), expected)

    assert _attempts([first, second], settings, "10.0.0.1", 6) == [True] * 4 + [False] * 2
    assert _attempts([second], settings, "10.0.0.2", 1) == [True]  # another address counts apart

    clock.now += 54  # 59 s into the window: still refused
    assert _attempts([first], settings, "10.0.0.1", 1) == [False]
    clock.now += 1  # the next window
    assert _attempts([second, first], settings, "10.0.0.1", 5) == [True] * 4 + [False]


def _hit_in_a_process(data_dir: str, scope: str, now: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limiter = SharedLimiter(scope, REFUSAL, clock=lambda: now)
    results.put(_attempts([limiter], _settings(Path(data_dir)), "10.0.0.9", 10))


def test_processes_share_the_file_counts(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [
        context.Process(target=_hit_in_a_process, args=(str(tmp_path), "verify", 1_800_000_000.0, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    allowed = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    # 20 attempts from one address in two processes, 4 allowed in all: the lock keeps every increment.
    assert sum(sum(run) for run in allowed) == 4


def test_old_windows_are_removed_from_the_data_folder(tmp_path: Path) -> None:
    clock = Clock(1_800_000_000.0)
    limiter = SharedLimiter("verify", REFUSAL, clock=clock)
    settings = _settings(tmp_path)
    for step in range(3):
        clock.now = 1_800_000_000.0 + 60 * step
        limiter.hit(settings, "10.0.0.1", limit=4, window_seconds=60)
    windows = sorted(p.name for p in (tmp_path / "ratelimit" / "verify").iterdir())
    assert windows == [f"60s-{(1_800_000_000 // 60) + 2}"]


def test_an_unreachable_redis_counts_in_the_process(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "redis://127.0.0.1:1/0")
    limiter = SharedLimiter("verify", REFUSAL, clock=Clock(1_800_000_000.0))
    assert _attempts([limiter], settings, "10.0.0.1", 6) == [True] * 4 + [False] * 2
