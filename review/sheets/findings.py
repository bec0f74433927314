"""Findings: problems found inside a user's file, collected with codes and shown, never raised."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How much a finding matters to intake (受理)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One problem found in a drawing, with a stable code and a message in Chinese and English."""

    code: str
    """Stable identifier, e.g. ``SHEET_NUMBER_GAP``; the interface and tests key on it."""
    severity: Severity
    """Whether intake can go on as it is (info, warning) or must act (error)."""
    zh: str
    """Message shown in the Chinese interface."""
    en: str
    """Message shown in the English interface."""
    page: int | None = None
    """Zero-based page index the finding is about, when it is about one page."""
