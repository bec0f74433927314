"""Crops of marked regions: the markup is drawn in red exactly where it is on the sheet."""

from __future__ import annotations

from typing import Any

import pymupdf as _pymupdf
import pytest

from review.letters import CropOptions, UnreadableSheet, crop_markups
from review.markups.model import Markup, MarkupKind
from tests.review.letters.conftest import sheet_pdf

pymupdf: Any = _pymupdf


def _is_red(pix: Any, x: int, y: int) -> bool:
    r, g, b = pix.pixel(x, y)[:3]
    return bool(r > 180 and g < 90 and b < 90)


def test_rectangle_is_red_at_its_edges_and_not_inside() -> None:
    markup = Markup(MarkupKind.RECTANGLE, ((400.0, 300.0), (520.0, 380.0)))
    (crop,) = crop_markups(sheet_pdf("A-01"), 0, (markup,), CropOptions(dpi=150))
    pix = pymupdf.Pixmap(crop.png)
    zoom = 150 / 72

    def px(x: float, y: float) -> tuple[int, int]:
        return round((x - crop.clip.x0) * zoom), round((y - crop.clip.y0) * zoom)

    assert crop.clip.x0 < 400
    assert crop.clip.x1 > 520
    assert crop.clip.y0 < 300
    assert crop.clip.y1 > 380
    assert (pix.width, pix.height) == (crop.width_px, crop.height_px)
    assert abs(pix.width - crop.clip.width * zoom) <= 1
    for point in [(400, 340), (520, 340), (460, 300), (460, 380)]:
        assert _is_red(pix, *px(*point)), point
    assert not _is_red(pix, *px(460, 340))
    assert not _is_red(pix, *px(crop.clip.x0 + 2, crop.clip.y0 + 2))
    # A grey frame marks the edge of the cut-out.
    assert pix.pixel(0, 0) == (128, 128, 128)
    assert pix.pixel(pix.width - 1, pix.height // 2) == (128, 128, 128)


def test_crop_is_clamped_to_the_page_and_large_regions_lose_resolution() -> None:
    sheet = sheet_pdf("A-02")
    corner = Markup(MarkupKind.ELLIPSE, ((5.0, 5.0), (60.0, 40.0)))
    whole = Markup(MarkupKind.RECTANGLE, ((10.0, 10.0), (1180.0, 830.0)))
    first, second = crop_markups(sheet, 0, (corner, whole), CropOptions(max_pixels=1000))
    assert first.clip.x0 == 0
    assert first.clip.y0 == 0
    assert max(second.width_px, second.height_px) <= 1001


def test_unreadable_sheet_and_missing_page() -> None:
    markup = Markup(MarkupKind.RECTANGLE, ((10.0, 10.0), (60.0, 40.0)))
    with pytest.raises(UnreadableSheet):
        crop_markups(b"not a pdf", 0, (markup,))
    with pytest.raises(UnreadableSheet) as caught:
        crop_markups(sheet_pdf("A-03"), 3, (markup,))
    assert "第 4 页" in caught.value.zh
    assert "page 4" in caught.value.en


def test_rotated_sheet_is_cropped_as_displayed() -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=842, height=595)
    page.set_rotation(90)
    sheet = bytes(doc.tobytes())
    # Sheet coordinates are those of the page as shown (595 wide, 842 tall once rotated).
    markup = Markup(MarkupKind.RECTANGLE, ((100.0, 600.0), (200.0, 700.0)))
    (crop,) = crop_markups(sheet, 0, (markup,), CropOptions(dpi=72))
    pix = pymupdf.Pixmap(crop.png)

    def px(x: float, y: float) -> tuple[int, int]:
        return round(x - crop.clip.x0), round(y - crop.clip.y0)

    assert crop.clip.y1 <= 842
    assert _is_red(pix, *px(100, 650))
    assert _is_red(pix, *px(150, 700))
    assert not _is_red(pix, *px(150, 650))
