"""Findings of DXF reading and rendering, as the review domain's :class:`~review.sheets.findings.Finding`."""

from __future__ import annotations

from collections.abc import Iterable

from review.sheets.findings import Finding, Severity

__all__ = ["Finding", "Severity", "finding"]


def finding(
    code: str,
    severity: Severity,
    zh: str,
    en: str,
    *,
    details: Iterable[str] = (),
    page: int | None = None,
) -> Finding:
    """A finding whose messages end with its specifics (audit codes, counts) in brackets."""
    items = "; ".join(details)
    if items:
        zh = f"{zh}（{items}）"
        en = f"{en} ({items})"
    return Finding(code, severity, zh, en, page)
