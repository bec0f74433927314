"""Errors of the review opinion letters (审查意见书)."""

from __future__ import annotations

from review.errors import ReviewError


class LetterError(ReviewError, ValueError):
    """Root of the letter errors, with the message in Chinese (``zh``) and English (``en``)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(f"{zh} / {en}")


class IncompleteLetter(LetterError):
    """A letter that cannot be issued as given (no track, a comment of an unknown track, …)."""


class UnreadableSheet(LetterError):
    """The sheet PDF a comment's markups should be cropped from cannot be opened or lacks the page."""


class LetterFontMissing(LetterError, FileNotFoundError):
    """No Noto CJK font is installed, so Chinese text cannot be embedded."""
