"""``liantu worker``: a Celery worker (prefork) for the configured broker."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import click

from app.platform import Platform, get_platform, set_platform
from app.tasks.celery_app import QUEUE, build_celery, set_celery

log = logging.getLogger(__name__)


def worker_command(*, concurrency: int | None = None, loglevel: str = "INFO") -> list[str]:
    """The argv that starts a worker in a child process of this interpreter (for ``liantu run``)."""
    argv = [sys.executable, "-m", "app", "worker", f"--loglevel={loglevel}"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    return argv


def parse_broker_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; numbers become numbers."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: 应为 KEY=VALUE / expected KEY=VALUE", param_hint="--broker-option")
        number: Any = value
        for kind in (int, float):
            try:
                number = kind(value)
                break
            except ValueError:
                continue
        options[key] = number
    return options


def _recover_on_start(**_: object) -> None:
    # Runs in the main process before the pool forks and before anything is consumed.
    from app.tasks.celery_app import get_celery
    from app.tasks.recovery import recover_embedded

    platform = Platform(get_platform().settings)
    try:
        outcome = recover_embedded(platform, get_celery())
    finally:
        platform.close()
    if outcome.resent or outcome.discarded_messages:
        log.warning(
            "embedded broker recovery: %d stale messages removed, %d runs re-queued",
            outcome.discarded_messages,
            len(outcome.resent),
        )


SWEEP_INTERVAL_SECONDS = 600.0
"""How often a running embedded worker deletes delivered messages from the broker file."""


class _DeliveredSweeper:
    """A thread of the embedded worker's main process that keeps the broker file small."""

    def __init__(self, broker_url: str) -> None:
        self._broker_url = broker_url
        self._stop = threading.Event()

    def start(self, **_: object) -> None:
        threading.Thread(target=self._loop, name="liantu-broker-sweeper", daemon=True).start()

    def stop(self, **_: object) -> None:
        self._stop.set()

    def _loop(self) -> None:
        from app.tasks.recovery import discard_delivered

        while not self._stop.wait(SWEEP_INTERVAL_SECONDS):
            try:
                discard_delivered(self._broker_url)
            except Exception:
                log.warning("could not clean the embedded broker", exc_info=True)


def _fresh_connections_in_child(**_: object) -> None:
    # A forked pool process must not reuse database or broker connections opened by its parent.
    current = get_platform()
    if "engine" in current.__dict__:
        current.engine.dispose(close=False)
    set_platform(Platform(current.settings))
    from kombu.transport import sqlalchemy

    for engine, _factory in sqlalchemy.Channel._engines.values():
        engine.dispose(close=False)
    sqlalchemy.Channel._engines.clear()


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="进程数 / worker processes")
@click.option("--loglevel", default="INFO", show_default=True, help="日志级别 / log level")
@click.option("--include", multiple=True, help="额外导入的任务模块 / extra task modules to import")
@click.option(
    "--broker-option",
    "broker_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Redis 传输选项，如 visibility_timeout=3600 / Redis transport option",
)
def worker(concurrency: int | None, loglevel: str, include: tuple[str, ...], broker_options: tuple[str, ...]) -> None:
    """后台任务进程 / Run a background worker.

    嵌入模式下同一数据目录只能运行一个 worker / in embedded mode run one worker per data folder:
    at start it re-queues whatever a stopped worker left unfinished.
    """
    from celery import signals

    settings = get_platform().settings
    try:
        app = build_celery(settings, broker_options=parse_broker_options(broker_options))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    set_celery(app)
    if settings.embedded_broker:
        signals.worker_init.connect(_recover_on_start, weak=False)
        sweeper = _DeliveredSweeper(settings.effective_broker_url)
        signals.worker_ready.connect(sweeper.start, weak=False)
        signals.worker_shutdown.connect(sweeper.stop, weak=False)
    signals.worker_process_init.connect(_fresh_connections_in_child, weak=False)
    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--loglevel={loglevel}",
        f"--queues={QUEUE}",
        # Gossip, mingle and heartbeats need broadcast messages the embedded broker lacks, and slow the start.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if include:
        argv.append("--include=" + ",".join(include))
    app.worker_main(argv)


commands = [worker]
