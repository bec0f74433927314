"""Errors of revision comparison (修改对比), each with a message in Chinese and in English."""

from __future__ import annotations

from review.errors import ReviewError


class CompareError(ReviewError, ValueError):
    """Root of the comparison errors: a code, and the message in Chinese (``zh``) and English (``en``)."""

    code = "COMPARE_FAILED"

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(f"[{self.code}] {zh} / {en}")

    def message(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.zh


class PageMissing(CompareError):
    """A page number outside the document."""

    code = "COMPARE_PAGE_MISSING"


class SheetMissing(CompareError):
    """A layout name that is not a sheet of the DXF document."""

    code = "COMPARE_SHEET_MISSING"


class PageTooLarge(CompareError):
    """A page whose raster at the comparison resolution would exceed the pixel limit."""

    code = "COMPARE_PAGE_TOO_LARGE"
