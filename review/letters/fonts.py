"""Noto CJK (思源) faces for the letters, subset to the characters of one document.

The Simplified Chinese faces are the ones the drawing renderer already prepares
(:func:`review.drawing.fonts.cjk_fonts`: copied out of Debian's ``.ttc`` collections once per machine).
Every letter then embeds a subset holding only its own characters: the whole face is 16 MB, and MuPDF's
own subsetting fails on its CID-keyed CFF. MuPDF maps CIDs to glyphs one to one, so the subset's CIDs
are renumbered to equal its glyph indices; otherwise the text extracts correctly but draws nothing.
"""

from __future__ import annotations

import functools
import io
from enum import StrEnum

from fontTools import subset
from fontTools.ttLib import TTFont

from review.drawing.fonts import FaceKind, cjk_fonts
from review.letters.errors import LetterFontMissing


class Face(StrEnum):
    """The faces a letter uses: body text and headings."""

    REGULAR = "regular"
    BOLD = "bold"


_KINDS = {Face.REGULAR: FaceKind.SANS, Face.BOLD: FaceKind.SANS_BOLD}

ALWAYS_INCLUDED = "".join(chr(c) for c in range(0x20, 0x7F)) + "第页共　—…·，。：；（）\u200b"
"""Characters every subset holds (page furniture and the break opportunities inserted into long words)."""


@functools.cache
def face_bytes(face: Face) -> bytes:
    """The Simplified Chinese face as a standalone OpenType font."""
    path = cjk_fonts().path(_KINDS[face])
    if path is None:
        raise LetterFontMissing(
            "未找到中文字体 Noto Sans CJK（请安装 fonts-noto-cjk）",
            "Chinese font Noto Sans CJK not found (install fonts-noto-cjk)",
        )
    return path.read_bytes()


def subset_face(face: Face, text: str) -> bytes:
    """``face`` reduced to the characters of ``text`` (plus :data:`ALWAYS_INCLUDED`)."""
    options = subset.Options()
    options.layout_features = []  # horizontal CJK and Latin need no shaping
    options.notdef_outline = True
    options.name_IDs = [1, 2, 3, 4, 6]
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "vmtx", "vhea", "VORG", "DSIG", "JSTF", "MATH"]
    font = TTFont(io.BytesIO(face_bytes(face)), lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(set(text + ALWAYS_INCLUDED))))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return _renumber_cids(out.getvalue())


def _renumber_cids(font_bytes: bytes) -> bytes:
    """Give glyph ``n`` the CID ``n``: MuPDF draws CID-keyed fonts as if CIDs were glyph indices.

    Subsetting keeps each glyph's original CID (e.g. 施 stays CID 17,000-something while becoming the
    fifth glyph); MuPDF writes the glyph index into the content stream and the glyph is then not found
    when the page is drawn. Keeping all 65,535 glyph slots instead (``retain_gids``) works too, but costs
    two seconds and 400 kB per face and letter.
    """
    font = TTFont(io.BytesIO(font_bytes))
    top = font["CFF "].cff.topDictIndex[0]
    if not hasattr(top, "ROS"):
        return font_bytes
    order: list[str] = font.getGlyphOrder()
    new = {name: f"cid{index:05d}" if index else ".notdef" for index, name in enumerate(order)}
    charstrings = top.CharStrings
    charstrings.charStrings = {new[name]: value for name, value in charstrings.charStrings.items()}
    top.charset = [new[name] for name in top.charset]
    for table in font["cmap"].tables:
        table.cmap = {code: new[name] for code, name in table.cmap.items()}
    font["hmtx"].metrics = {new[name]: value for name, value in font["hmtx"].metrics.items()}
    font.setGlyphOrder([new[name] for name in order])
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()
