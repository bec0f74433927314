"""A web process puts what it made while starting out of the garbage collector's reach."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import gc, time
from app.web import asgi
asgi()
frozen = gc.get_freeze_count()
started = time.perf_counter()
gc.collect()
print(frozen, len(gc.get_objects()), (time.perf_counter() - started) * 1000)
"""


def test_the_app_factory_freezes_the_start_up_heap_so_a_full_collection_walks_little(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIANTU_")}
    env |= {"LIANTU_DATA_DIR": str(tmp_path), "LIANTU_BROKER_URL": "memory://", "LIANTU_SECRET_KEY": "heap-test"}
    answer = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    frozen, tracked, _ = answer.stdout.split()
    # Start-up leaves over a hundred thousand objects (modules, routes, mappings, the clause catalogue); all frozen,
    # and what a full collection still walks is a small rest.
    assert int(frozen) > 100_000
    assert int(tracked) < int(frozen) // 20
