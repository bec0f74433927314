"""Errors of the storage adapters. The SDKs' own errors never leave this package."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every storage error."""


class BlobNotFound(StorageError, KeyError):
    """No object under that key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "blob not found"


class StoreUnavailable(StorageError, ConnectionError):
    """The object store cannot be reached or refused the request for a reason of its own."""


class IntegrityMismatch(StorageError, ValueError):
    """What was stored does not have the expected size or SHA-256."""
