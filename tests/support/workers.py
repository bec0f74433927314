"""Real worker processes for tests: ``liantu worker`` in a subprocess on a per-test database and broker.

``worker_environment`` (embedded SQLite broker) and ``redis_worker_environment`` (Redis db 15 under
a per-test key prefix) give a :class:`WorkerEnvironment`: a migrated SQLite database file, a local
object-store folder, a broker, the settings a subprocess gets through ``LIANTU_*`` variables, and
:meth:`WorkerEnvironment.start_worker`. Every worker still running at the end is stopped.

The ``tests.*`` jobs below are imported by the workers (``--include tests.support.workers``); they
exist to make retries, failures and a worker death happen on purpose.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.platform import Platform, set_platform
from app.settings import Settings, load_settings
from app.tasks.celery_app import build_celery, set_celery
from app.tasks.jobs import verify
from app.tasks.runs import JobRun, RetryPolicy, job
from storage.db import make_engine, make_session_factory
from storage.errors import StoreUnavailable
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

FLAKY = "tests.flaky"
BROKEN = "tests.broken"
VERIFY_WHEN_RELEASED = "tests.verify_when_released"
NOOP = "tests.noop"
STUBBORN = "tests.stubborn"


# Jobs the test workers import ---------------------------------------------------------------


@job(NOOP)
def noop(run: JobRun, drawing_file_id: int) -> str:
    """Does nothing; a barrier: once it ran, every message sent before it has been taken."""
    return f"noop {drawing_file_id}"


@job(FLAKY, retry=RetryPolicy(max_retries=3, backoff_seconds=0.1, backoff_max_seconds=0.2))
def flaky(run: JobRun, drawing_file_id: int) -> str:
    """The object store is unreachable on the first attempt."""
    run.report(50, "第一步 / half way")
    if run.attempt == 1:
        raise StoreUnavailable("object store unreachable (on purpose)")
    return f"done on attempt {run.attempt} for {drawing_file_id}"


@job(BROKEN, retry=RetryPolicy(max_retries=3, backoff_seconds=0.1))
def broken(run: JobRun, drawing_file_id: int) -> str:
    """A bug: never retried."""
    raise ValueError(f"broken on purpose ({drawing_file_id})")


@job(STUBBORN)
def stubborn(run: JobRun, drawing_file_id: int) -> str:
    """Ignores the soft time limit, so that only the hard one stops it."""
    run.report(5, "忙 / busy")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            run.report(6, "忽略软时限 / ignoring the soft time limit")
    return f"stubborn {drawing_file_id} was not stopped"


def release_marker(data_dir: Path, drawing_file_id: int) -> Path:
    return data_dir / f"release-{drawing_file_id}"


@job(VERIFY_WHEN_RELEASED)
def verify_when_released(run: JobRun, drawing_file_id: int) -> str:
    """Verify a drawing file, but only once the test has created the release marker."""
    run.report(10, "等待 / waiting for the release marker")
    marker = release_marker(run.platform.settings.data_dir, drawing_file_id)
    while not marker.exists():
        time.sleep(0.02)
    return verify(run, drawing_file_id)


# Environment and processes ----------------------------------------------------------------


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and every pool process."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        # The main process stops its pool itself (warm shutdown).
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def pool_processes(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class WorkerEnvironment:
    """Database, object store and broker of one test, and the workers started on them."""

    root: Path
    environ: dict[str, str]
    broker_options: dict[str, Any]
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    celery: Celery
    platform: Platform
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def start_worker(self, concurrency: int = 1) -> WorkerProcess:
        log = self.root / f"worker-{len(self.workers) + 1}.log"
        argv = [sys.executable, "-m", "app", "worker", f"--concurrency={concurrency}", "--loglevel=INFO"]
        argv.append("--include=tests.support.workers")
        argv += [f"--broker-option={key}={value}" for key, value in self.broker_options.items()]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIANTU_")}
        env.update(self.environ)
        with log.open("wb") as handle:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        worker = WorkerProcess(process, log)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        # Nothing is asserted about shutdown here, and a warm one waits up to 2 s for the broker poll.
        for worker in self.workers:
            worker.kill()


def wait_for(check: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _environment(
    root: Path, broker_url: str, broker_options: dict[str, Any], overrides: dict[str, str] | None = None
) -> Iterator[WorkerEnvironment]:
    data_dir = root / "data"
    database = data_dir / "liantu.sqlite3"
    environ = {
        "LIANTU_DATA_DIR": str(data_dir),
        "LIANTU_DATABASE_URL": f"sqlite:///{database}",
        "LIANTU_STORE_PATH": str(root / "objects"),
        "LIANTU_BROKER_URL": broker_url,
        "LIANTU_WORKER_CONCURRENCY": "1",
        "LIANTU_TASK_TIME_LIMIT_SECONDS": "60",
        # No deadline reminders queued by the worker's own timer unless a test asks for them.
        "LIANTU_REMINDER_INTERVAL_SECONDS": "0",
    }
    environ.update({f"LIANTU_{key.upper()}": value for key, value in (overrides or {}).items()})
    settings = load_settings(environ)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    platform = Platform(settings, _engine=engine)
    celery = build_celery(settings, broker_options=broker_options)
    set_platform(platform)
    set_celery(celery)
    environment = WorkerEnvironment(
        root=root,
        environ=environ,
        broker_options=broker_options,
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        celery=celery,
        platform=platform,
    )
    try:
        yield environment
    finally:
        environment.stop_all()
        set_celery(None)
        set_platform(None)
        celery.close()
        engine.dispose()
        _forget_embedded_broker(settings)


def _forget_embedded_broker(settings: Settings) -> None:
    # kombu keeps one engine per broker URL for the life of the process; this test's file is gone.
    from kombu.transport import sqlalchemy

    cached = sqlalchemy.Channel._engines.pop(settings.effective_broker_url.removeprefix("sqla+"), None)
    if cached is not None:
        cached[0].dispose()


@pytest.fixture
def worker_settings_overrides() -> dict[str, str]:
    """Override in a test module to give the worker environment more settings (keys without LIANTU_)."""
    return {}


@pytest.fixture
def worker_environment(tmp_path: Path, worker_settings_overrides: dict[str, str]) -> Iterator[WorkerEnvironment]:
    """Embedded broker: a SQLite file, no server."""
    yield from _environment(tmp_path, "embedded", {}, worker_settings_overrides)


@pytest.fixture
def redis_worker_environment(tmp_path: Path) -> Iterator[WorkerEnvironment]:
    """Redis db 15, keys under a prefix of this test; unacknowledged messages come back after 2 s."""
    import redis

    from tests.conftest import REDIS_URL, service_missing

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        service_missing(f"Redis at {REDIS_URL}: {exc.__class__.__name__}")
    prefix = f"liantu-test-{uuid.uuid4().hex[:12]}:"
    options = {
        "global_keyprefix": prefix,
        "visibility_timeout": 2,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    try:
        yield from _environment(tmp_path, REDIS_URL, options)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
