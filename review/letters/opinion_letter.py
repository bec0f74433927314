"""The review opinion letter (审查意见书) as a PDF.

A4 portrait, laid out by MuPDF's story engine from escaped HTML (see :mod:`review.letters.letter_html`),
then every page gets its running header and the footer 第 n 页 共 N 页 once the page count is known.
Chinese text is embedded as a per-letter subset of Noto Sans CJK SC, so ``page.get_text()`` returns it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Any

import pymupdf as _pymupdf

from review.letters.crops import DEFAULT_CROP_OPTIONS, CropOptions, crop_markups
from review.letters.errors import IncompleteLetter
from review.letters.fonts import Face, subset_face
from review.letters.letter_html import CSS, clean, letter_html, title_of
from review.letters.model import LetterComment, OpinionLetter

# PyMuPDF's annotations are partial; it is handled as untyped at this boundary.
pymupdf: Any = _pymupdf


@dataclass(frozen=True)
class LetterLayout:
    """Page geometry of a letter, in points."""

    page: tuple[float, float] = (595.28, 841.89)
    """A4 portrait."""
    margin_top: float = 72.0
    """Body top (the header sits above it)."""
    margin_bottom: float = 64.0
    """Body bottom (the footer sits below it)."""
    margin_left: float = 72.0
    """Binding side (装订线) of the left page edge."""
    margin_right: float = 62.0
    """Right margin."""
    crops: CropOptions = DEFAULT_CROP_OPTIONS
    """How marked regions are rendered."""

    @property
    def body(self) -> Any:
        """The rectangle the story flows through on every page."""
        width, height = self.page
        return pymupdf.Rect(self.margin_left, self.margin_top, width - self.margin_right, height - self.margin_bottom)


DEFAULT_LAYOUT = LetterLayout()
"""The layout letters are issued in."""

_HEADER_SIZE = 9.0
_MAX_LAYOUT_PASSES = 6
_HEADER_LIMIT = 200.0  # points of header width the project name may take


def build_opinion_letter(letter: OpinionLetter, layout: LetterLayout = DEFAULT_LAYOUT) -> bytes:
    """The letter as PDF bytes (title 施工图联合审查意见书 when it covers several tracks)."""
    _check(letter)
    archive = pymupdf.Archive()
    images: dict[int, list[tuple[str, float, float]]] = {}
    for position, comment in enumerate(letter.comments):
        images[position] = _add_crops(archive, position, comment, layout)
    by_identity = {id(comment): position for position, comment in enumerate(letter.comments)}

    def images_for(comment: LetterComment) -> list[tuple[str, float, float]]:
        return images[by_identity[id(comment)]]

    body, heights = letter_html(letter, images_for)

    header = _header_text(letter)
    characters = body + header + clean(letter.project.name) + "0123456789"
    regular = subset_face(Face.REGULAR, characters)
    archive.add(regular, "regular.otf")
    archive.add(subset_face(Face.BOLD, characters), "bold.otf")

    # MuPDF shrinks an image to the space left at the bottom of a page instead of moving it on;
    # such crops are laid out again starting a new page.
    breaks: frozenset[int] = frozenset()
    for _ in range(_MAX_LAYOUT_PASSES):
        pdf = _layout(body, archive, layout)
        shrunk = breaks | _shrunk_figures(pdf, heights)
        if shrunk == breaks:
            break
        breaks = shrunk
        body, heights = letter_html(letter, images_for, breaks)
    else:
        pdf = _layout(body, archive, layout)
    return _finish(pdf, letter, header, regular, layout)


def _layout(body: str, archive: Any, layout: LetterLayout) -> bytes:
    story = pymupdf.Story(html=body, user_css=CSS, archive=archive)
    out = io.BytesIO()
    writer = pymupdf.DocumentWriter(out, "compress")
    more = True
    while more:
        device = writer.begin_page(pymupdf.Rect(0, 0, *layout.page))
        filled, _ = story.place(layout.body)
        story.draw(device)
        writer.end_page()
        more = bool(filled)
    writer.close()
    return out.getvalue()


def _shrunk_figures(pdf: bytes, heights: list[float]) -> frozenset[int]:
    """Reading-order indexes of crops printed smaller than asked for."""
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    try:
        printed = [info["bbox"][3] - info["bbox"][1] for page in doc for info in page.get_image_info()]
    finally:
        doc.close()
    return frozenset(i for i, (want, got) in enumerate(zip(heights, printed, strict=False)) if got < want - 1.0)


def build_combined_letter(letters: list[OpinionLetter], layout: LetterLayout = DEFAULT_LAYOUT) -> bytes:
    """One joint letter (施工图联合审查意见书) for the designer: every track's section in one document."""
    return build_opinion_letter(combine(letters), layout)


def combine(letters: list[OpinionLetter]) -> OpinionLetter:
    """The track letters of one project and round merged into one letter, tracks in the given order."""
    if not letters:
        raise IncompleteLetter("没有可合并的审查意见书", "there are no letters to combine")
    first = letters[0]
    for other in letters[1:]:
        if other.project.code != first.project.code or other.round_number != first.round_number:
            raise IncompleteLetter(
                "只能合并同一项目同一轮次的审查意见书",
                "only letters of the same project and round can be combined",
            )
    organisations = list(dict.fromkeys(letter.issuing_organisation for letter in letters))
    return replace(
        first,
        tracks=tuple(track for letter in letters for track in letter.tracks),
        comments=tuple(comment for letter in letters for comment in letter.comments),
        issue_date=max(letter.issue_date for letter in letters),
        issuing_organisation="、".join(organisations),
    )


def _check(letter: OpinionLetter) -> None:
    if not letter.tracks:
        raise IncompleteLetter("审查意见书至少应包含一个审查专项", "a letter needs at least one review track")
    keys = [track.key for track in letter.tracks]
    if len(set(keys)) != len(keys):
        raise IncompleteLetter("审查专项重复", "a review track appears twice in the letter")
    for comment in letter.comments:
        if comment.track not in keys:
            raise IncompleteLetter(
                f"意见 {comment.number} 所属的审查专项不在本意见书中",
                f"comment {comment.number} belongs to a track that is not in this letter",
            )


def _add_crops(
    archive: Any, position: int, comment: LetterComment, layout: LetterLayout
) -> list[tuple[str, float, float]]:
    if comment.sheet_pdf is None or not comment.markups:
        return []
    # Crops span the text column (less a hair for the frame), rendered to print at the crop resolution.
    options = replace(layout.crops, print_width=layout.body.width - 4)
    placed: list[tuple[str, float, float]] = []
    for index, crop in enumerate(crop_markups(comment.sheet_pdf, comment.page_index, comment.markups, options)):
        name = f"crop-{position}-{index}.png"
        archive.add(crop.png, name)
        placed.append((name, crop.print_width, crop.print_width * crop.height_px / crop.width_px))
    return placed


def _header_text(letter: OpinionLetter) -> str:
    return f"{title_of(letter)}　审查编号：{clean(letter.project.review_number)[:40]}"


def _finish(pdf: bytes, letter: OpinionLetter, header: str, font: bytes, layout: LetterLayout) -> bytes:
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    try:
        measure = pymupdf.Font(fontbuffer=font)
        project = _fit(measure, clean(letter.project.name).replace("\n", " "), _HEADER_LIMIT)
        total = doc.page_count
        width, height = layout.page
        left, right = layout.margin_left, width - layout.margin_right
        for number, page in enumerate(doc, start=1):
            page.insert_font(fontname="lt", fontbuffer=font)
            top = layout.margin_top - 24
            project_width = measure.text_length(project, fontsize=_HEADER_SIZE)
            title = _fit(measure, header, right - left - project_width - 18)
            page.insert_text((left, top), title, fontname="lt", fontsize=_HEADER_SIZE)
            page.insert_text((right - project_width, top), project, fontname="lt", fontsize=_HEADER_SIZE)
            page.draw_line((left, top + 5), (right, top + 5), color=(0.75, 0, 0), width=0.75)
            footer = f"第 {number} 页 共 {total} 页"
            footer_width = measure.text_length(footer, fontsize=_HEADER_SIZE)
            page.insert_text(
                ((width - footer_width) / 2, height - layout.margin_bottom + 32),
                footer,
                fontname="lt",
                fontsize=_HEADER_SIZE,
            )
        doc.set_metadata(
            {
                "title": f"{title_of(letter)} {clean(letter.project.review_number)}",
                "subject": clean(letter.project.name),
                "creator": "Liantu",
                "producer": "Liantu",
            }
        )
        return bytes(doc.tobytes(garbage=3, deflate=True))
    finally:
        doc.close()


def _fit(font: Any, value: str, limit: float) -> str:
    if font.text_length(value, fontsize=_HEADER_SIZE) <= limit:
        return value
    while value and font.text_length(value + "…", fontsize=_HEADER_SIZE) > limit:
        value = value[:-1]
    return value + "…"
