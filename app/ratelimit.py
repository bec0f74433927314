"""Rate limits shared by every web process of an installation (限流), in fixed windows.

An address may make ``limit`` attempts per window of ``window_seconds``; windows are aligned on
the clock (window *n* covers ``[n·w, (n+1)·w)`` seconds of Unix time), so every process agrees on
which window a hit belongs to without talking to the others. The count lives where every process
of the installation can reach it:

* **Redis** when the platform runs on it (``LIANTU_BROKER_URL=redis://…``, the distributed
  deployment): one key per scope, window and address, ``INCR`` then ``EXPIRE`` in one pipelined
  round trip; the key disappears a little after its window ends.
* **A file per window and address** in the data folder otherwise (the embedded default: one host,
  any number of ``--workers``): ``<data_dir>/ratelimit/<scope>/<w>s-<n>/<hash of address>`` holds
  the count as text, read and rewritten under an exclusive ``fcntl`` lock. The first hit of a new
  window removes the folders of earlier windows.

A fixed window lets a client make up to twice ``limit`` attempts around the boundary between two
windows; for keeping one address from occupying the workers that is enough, and it keeps each hit
to one round trip or one locked file. When Redis cannot be reached the hit is counted in this
process instead (logged): verification keeps working with the per-process limit it had before.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from redis import Redis, RedisError

from app.errors import RateLimited
from app.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Seconds of Unix time; the same in every process (unlike ``time.monotonic``)."""


class WindowCounter(Protocol):
    """Counts hits per key in fixed windows."""

    def add(self, key: str, window_seconds: int, window: int) -> int:
        """Count one hit of ``key`` in window number ``window``; the window's count including it."""
        ...


class MemoryCounter:
    """Counts in this process only: the fallback when the shared store cannot be reached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int, int], int] = {}

    def add(self, key: str, window_seconds: int, window: int) -> int:
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[2] >= window}
            slot = (key, window_seconds, window)
            self._counts[slot] = self._counts.get(slot, 0) + 1
            return self._counts[slot]


class RedisCounter:
    """``INCR`` and ``EXPIRE`` of one key per window, pipelined: one round trip a hit."""

    def __init__(self, url: str, prefix: str = "liantu:ratelimit") -> None:
        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.prefix = prefix

    def add(self, key: str, window_seconds: int, window: int) -> int:
        name = f"{self.prefix}:{window_seconds}:{window}:{key}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(name)
        pipe.expire(name, window_seconds + 1)
        count, _ = pipe.execute()
        return int(count)

    def close(self) -> None:
        self._redis.close()


class FileCounter:
    """One small file per window and key under ``folder``, rewritten under an exclusive ``fcntl`` lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, key: str, window_seconds: int, window: int) -> int:
        here = self.folder / f"{window_seconds}s-{window}"
        if not here.is_dir():
            here.mkdir(parents=True, exist_ok=True)
            self._forget_before(window_seconds, window)
        # Hashed: an address (or any key) never becomes a path of its own.
        path = here / hashlib.sha256(key.encode()).hexdigest()[:32]
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.pread(fd, 32, 0).strip()
            count = (int(text) if text.isdigit() else 0) + 1
            os.pwrite(fd, str(count).encode().ljust(20), 0)
            return count
        finally:
            os.close(fd)  # releases the lock

    def _forget_before(self, window_seconds: int, window: int) -> None:
        for old in self.folder.glob(f"{window_seconds}s-*"):
            number = old.name.partition("-")[2]
            if number.isdigit() and int(number) < window:
                shutil.rmtree(old, ignore_errors=True)


class SharedLimiter:
    """A fixed-window limit per address for one ``scope``, counted where the installation's processes share it."""

    def __init__(self, scope: str, refusal: tuple[str, str], *, clock: Clock = time.time) -> None:
        self.scope = scope
        """Which limit this is (``verify``): its counts are kept apart from other limits'."""
        self.refusal = refusal
        """The message of :class:`RateLimited`, in Chinese and English."""
        self.clock = clock
        self._fallback = MemoryCounter()
        self._counters: dict[tuple[str, Path], WindowCounter] = {}
        self._lock = threading.Lock()

    def counter(self, settings: Settings) -> WindowCounter:
        """Redis when the platform runs on it, else files in the data folder (made once per settings)."""
        where = (settings.broker_url, settings.data_dir.resolve())
        with self._lock:
            found = self._counters.get(where)
            if found is None:
                if settings.broker_url.startswith(("redis://", "rediss://")):
                    found = RedisCounter(settings.broker_url, prefix=f"liantu:ratelimit:{self.scope}")
                else:
                    found = FileCounter(settings.data_dir / "ratelimit" / self.scope)
                self._counters[where] = found
            return found

    def hit(self, settings: Settings, client: str, *, limit: int, window_seconds: int) -> None:
        """Count an attempt of ``client``; :class:`RateLimited` when it exceeds ``limit`` in this window."""
        window_seconds = max(1, math.ceil(window_seconds))
        window = int(self.clock() // window_seconds)
        counter = self.counter(settings)
        try:
            count = counter.add(client, window_seconds, window)
        except (RedisError, OSError) as exc:
            log.warning("rate limit store unavailable (%s), counting in this process", exc.__class__.__name__)
            count = self._fallback.add(client, window_seconds, window)
        if count > limit:
            raise RateLimited(*self.refusal)
