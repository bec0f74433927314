"""Chinese typesetting for the result: Noto CJK faces, measuring, wrapping, and embedding subsets.

Text is recorded while the pages are laid out and written at the end, once every character is
known: each face is then subset with fontTools to exactly those characters and embedded once.
(MuPDF's own subsetter fails on the CFF outlines of Noto CJK and would embed 16 MB per face.)

Noto CJK is a CID-keyed CFF font. PyMuPDF writes glyph indices as character codes, while a reader
looks glyphs up by CID; the subset's CIDs are therefore renumbered to equal its glyph indices.
Without that, every character renders as some other glyph although text extraction still works.
"""

from __future__ import annotations

import enum
import functools
import io
from collections import defaultdict
from dataclasses import dataclass

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

from signing.fonts import collection_path
from signing.result.mupdf import Document, Page

Colour = tuple[float, float, float]
BLACK: Colour = (0.0, 0.0, 0.0)
SEAL_RED: Colour = (0.78, 0.06, 0.06)


class Face(enum.Enum):
    """The faces of the result and the role each plays (公文字体层级)."""

    TITLE = ("NotoSerifCJK-Bold.ttc", "Noto Serif CJK SC")
    """Document title, in the place of 小标宋."""
    HEADING = ("NotoSansCJK-Bold.ttc", "Noto Sans CJK SC")
    """Section headings and stamp wording, in the place of 黑体."""
    BODY = ("NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC")
    """Values and running text, in the place of 宋体."""
    LABEL = ("NotoSansCJK-Regular.ttc", "Noto Sans CJK SC")
    """Table labels and small print."""
    MONO = ("NotoSansCJK-Regular.ttc", "Noto Sans Mono CJK SC")
    """Hashes and URLs: every character the same width."""

    @property
    def resource_name(self) -> str:
        return f"LT{self.name.title()}"


@functools.cache
def _face_index(face: Face) -> int:
    file_name, family = face.value
    collection = TTCollection(str(collection_path(file_name)), lazy=True)
    try:
        for index, candidate in enumerate(collection.fonts):
            if str(candidate["name"].getDebugName(1) or "") == family:
                return index
        return 0
    finally:
        collection.close()


def _open_face(face: Face) -> TTFont:
    # Read straight from the collection: extracting a 16 MB face first costs seconds per process.
    return TTFont(str(collection_path(face.value[0])), fontNumber=_face_index(face), lazy=True)


@dataclass(frozen=True)
class _Metrics:
    cmap: dict[int, str]
    advances: dict[str, int]
    units_per_em: int
    notdef_advance: int


@functools.cache
def _metrics(face: Face) -> _Metrics:
    font = _open_face(face)
    try:
        metrics = font["hmtx"].metrics
        return _Metrics(
            cmap=dict(font.getBestCmap()),
            advances={name: advance for name, (advance, _) in metrics.items()},
            units_per_em=int(font["head"].unitsPerEm),
            notdef_advance=int(metrics[".notdef"][0]),
        )
    finally:
        font.close()


@functools.lru_cache(maxsize=32)
def embeddable_subset(face: Face, characters: str) -> bytes:
    """``face`` reduced to ``characters``, with CID equal to glyph index (see the module docstring)."""
    font = _open_face(face)
    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"]
    options.hinting = False
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    order = font.getGlyphOrder()
    identity = [".notdef"] + [f"cid{index:05d}" for index in range(1, len(order))]
    rename = dict(zip(order, identity, strict=True))
    for table in font["cmap"].tables:
        table.cmap = {code: rename[name] for code, name in table.cmap.items()}
    metrics = font["hmtx"]
    metrics.metrics = {rename[name]: value for name, value in metrics.metrics.items()}
    if "CFF " in font:
        top = font["CFF "].cff.topDictIndex[0]
        top.CharStrings.charStrings = {rename[name]: value for name, value in top.CharStrings.charStrings.items()}
        top.charset = identity
    font.setGlyphOrder(identity)
    out = io.BytesIO()
    font.save(out)
    font.close()
    return out.getvalue()


def text_width(text: str, face: Face, size: float) -> float:
    """Advance width of ``text`` in points (no kerning: the text is written without it)."""
    metrics = _metrics(face)
    units = 0
    for char in text:
        name = metrics.cmap.get(ord(char))
        units += metrics.advances.get(name, metrics.notdef_advance) if name else metrics.notdef_advance
    return units * size / metrics.units_per_em


def wrap(text: str, face: Face, size: float, width: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width``; CJK breaks anywhere, Latin words stay whole."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in _tokens(paragraph):
            if line and text_width(line + token, face, size) > width:
                lines.append(line.rstrip())
                line = token.lstrip()
                while text_width(line, face, size) > width and len(line) > 1:
                    cut = len(line) - 1
                    while cut > 1 and text_width(line[:cut], face, size) > width:
                        cut -= 1
                    lines.append(line[:cut])
                    line = line[cut:]
            else:
                line += token
        lines.append(line)
    return lines


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    for char in text:
        if char.isascii() and not char.isspace():
            word += char
            continue
        if word:
            tokens.append(word)
            word = ""
        tokens.append(char)
    if word:
        tokens.append(word)
    return tokens


def fit(
    text: str, face: Face, size: float, width: float, *, max_lines: int, min_size: float = 5.5
) -> tuple[list[str], float]:
    """Lines and font size so that ``text`` fits ``width`` in at most ``max_lines`` lines (shrinking if needed)."""
    while True:
        lines = wrap(text, face, size, width)
        if len(lines) <= max_lines or size <= min_size:
            return lines, size
        size = max(min_size, size - 0.5)


@dataclass(frozen=True)
class TextRun:
    """A line of text waiting to be written."""

    page: int
    """Zero-based page number."""
    x: float
    """Left end of the baseline, in points from the left edge."""
    y: float
    """Baseline, in points from the top edge."""
    text: str
    """The text, one line."""
    face: Face
    """Face to set it in."""
    size: float
    """Font size in points."""
    colour: Colour
    """Fill colour, RGB 0..1."""


class Typesetter:
    """Records text while pages are laid out; :meth:`burn` writes it with embedded subset fonts."""

    def __init__(self) -> None:
        self._runs: list[TextRun] = []

    def text(
        self,
        page: Page,
        at: tuple[float, float],
        text: str,
        face: Face,
        size: float,
        *,
        colour: Colour = BLACK,
        align: str = "left",
    ) -> float:
        """Place one line at ``at`` (x, baseline); x is the left end, the centre or the right end per ``align``.

        Returns the line's width.
        """
        x, y = at
        width = text_width(text, face, size)
        if align == "centre":
            x -= width / 2
        elif align == "right":
            x -= width
        if text:
            self._runs.append(TextRun(page.number or 0, x, y, text, face, size, colour))
        return width

    def burn(self, doc: Document) -> None:
        """Write every recorded line into ``doc`` (each face subset once and shared by all pages)."""
        characters: dict[Face, set[str]] = defaultdict(set)
        by_page: dict[int, list[TextRun]] = defaultdict(list)
        for run in self._runs:
            characters[run.face].update(run.text)
            by_page[run.page].append(run)
        subsets = {face: embeddable_subset(face, "".join(sorted(chars | {" "}))) for face, chars in characters.items()}
        for number, runs in by_page.items():
            page = doc[number]
            for face in {run.face for run in runs}:
                page.insert_font(fontname=face.resource_name, fontbuffer=subsets[face])
            # One shape per page: one content stream instead of one per line.
            shape = page.new_shape()
            for run in runs:
                shape.insert_text(
                    (run.x, run.y), run.text, fontname=run.face.resource_name, fontsize=run.size, color=run.colour
                )
            shape.commit()
        self._runs.clear()
