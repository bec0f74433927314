"""Noto CJK (思源) faces for the letters, subset to the characters of one document.

The Simplified Chinese faces are the ones the drawing renderer already prepares
(:func:`review.drawing.fonts.cjk_fonts`: copied out of Debian's ``.ttc`` collections once per machine).
Every letter then embeds a subset holding only its own characters: the whole face is 16 MB, and MuPDF's
own subsetting fails on its CID-keyed CFF. The subset is cut by HarfBuzz's subsetter (about 10 ms; fontTools
took about 2 s a face, most of it parsing the whole CFF table). MuPDF maps CIDs to glyphs one to one, so the
subset's CIDs are then renumbered to equal its glyph indices; otherwise the text extracts correctly but draws
nothing.
"""

from __future__ import annotations

import functools
import io
from enum import StrEnum

import uharfbuzz as hb
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


_LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "vmtx", "vhea", "VORG", "DSIG", "JSTF", "MATH")
"""Dropped from every subset: horizontal CJK and Latin text is drawn without shaping or vertical metrics."""


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


@functools.cache
def _hb_face(face: Face) -> hb.Face:
    # Immutable once made; HarfBuzz reads its tables on demand.
    return hb.Face(face_bytes(face))


def subset_face(face: Face, text: str) -> bytes:
    """``face`` reduced to the characters of ``text`` (plus :data:`ALWAYS_INCLUDED`), without hints."""
    wanted = hb.SubsetInput()
    for code in sorted({ord(char) for char in text + ALWAYS_INCLUDED}):
        wanted.unicode_set.add(code)
    for tag in _LAYOUT_TABLES:
        wanted.drop_table_tag_set.add(int.from_bytes(tag.encode("ascii"), "big"))
    wanted.flags = hb.SubsetFlags.NOTDEF_OUTLINE | hb.SubsetFlags.NO_HINTING
    cut = hb.subset(_hb_face(face), wanted)
    if cut is None:
        raise LetterFontMissing("中文字体子集生成失败", "the Chinese font could not be subset")
    return _renumber_cids(bytes(cut.blob.data))


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
