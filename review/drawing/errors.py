"""Errors of drawing reading and rendering, each with a message in Chinese and in English."""

from __future__ import annotations

from review.errors import ReviewError, UnreadableDrawing


class UnreadableDxf(UnreadableDrawing):
    """A DXF file that cannot be read at all; the message says why, in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en

    def message(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.zh


class DrawingTooLarge(UnreadableDxf):
    """A drawing with more entities than the configured limit; refused before it is parsed."""


class RenderFailed(ReviewError, RuntimeError):
    """A sheet that was read but could not be turned into a PDF page (a bug or an exhausted resource)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
