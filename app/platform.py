"""Composition root: turns settings into concrete backends (database, object store, task queue).

Only this module (and ``app.settings``) knows which backend is configured; everything else receives
a :class:`Platform` or the pieces it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings, StoreKind, get_settings
from storage.db import make_engine, make_session_factory

if TYPE_CHECKING:
    from storage.blobstore import BlobStore


@dataclass
class Platform:
    """The backends of one process, built lazily from settings."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @cached_property
    def engine(self) -> Engine:
        return self._engine or make_engine(self.settings.effective_database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def store(self) -> BlobStore:
        return build_store(self.settings)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def build_store(settings: Settings) -> BlobStore:
    from storage.blobstore import LocalBlobStore, S3BlobStore

    if settings.store is StoreKind.S3:
        return S3BlobStore(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            multipart_threshold=settings.multipart_threshold_bytes,
        )
    return LocalBlobStore(settings.effective_store_path)


_current: Platform | None = None


def get_platform() -> Platform:
    """The process-wide platform (web process, worker process or CLI)."""
    global _current  # noqa: PLW0603 - one composition root per process
    if _current is None:
        _current = Platform(get_settings())
    return _current


def set_platform(platform: Platform | None) -> None:
    """Install a platform built elsewhere (tests, or a process that configured its own)."""
    global _current  # noqa: PLW0603
    _current = platform
