"""Errors of markups (批注) and their exchange formats."""

from __future__ import annotations

from review.errors import ReviewError


class MarkupError(ReviewError, ValueError):
    """Root of the markup errors: a code, and the message in Chinese (``zh``) and English (``en``)."""

    code = "MARKUP_INVALID"

    def __init__(self, zh: str, en: str, *, code: str | None = None) -> None:
        self.zh = zh
        self.en = en
        if code is not None:
            self.code = code
        super().__init__(f"[{self.code}] {zh} / {en}")


class InvalidMarkup(MarkupError):
    """A markup whose geometry, text or style breaks the rules; ``code`` names the rule."""


class UnreadableAnnotation(MarkupError):
    """A Web Annotation document or SVG selector that cannot be turned back into a markup."""

    code = "ANNOTATION_UNREADABLE"


class RejectedXfdf(MarkupError):
    """An XFDF file refused as a whole: not XFDF, hostile XML (DOCTYPE, entities) or over the size limits."""

    code = "XFDF_REJECTED"
