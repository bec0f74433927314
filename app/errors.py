"""Errors of the use cases. Each carries a Chinese and an English message for the user.

The HTTP status of each class is decided in one place only: ``app.web.errors``.
"""

from __future__ import annotations


class LiantuError(Exception):
    """Root of the application's errors: a message in Chinese and in English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en

    def message(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.zh


class NotFound(LiantuError, LookupError):
    """The object does not exist, or the user may not know that it does."""


class Forbidden(LiantuError, PermissionError):
    """The user is known but may not do this."""


class NotAuthenticated(LiantuError, PermissionError):
    """No valid session or token."""


class Conflict(LiantuError, RuntimeError):
    """The object changed in the meantime, or the step does not fit its state."""


class Invalid(LiantuError, ValueError):
    """The request itself is wrong."""


class RateLimited(LiantuError, RuntimeError):
    """Too many attempts; try again later."""


class ServiceUnavailable(LiantuError, ConnectionError):
    """A backing service (database, object store, broker) cannot be reached."""
