"""Noto CJK (思源) faces for the letters, subset to the characters of one document.

Debian ships Noto CJK as collections (``.ttc``) whose first face is the Japanese one; the Simplified
Chinese face is copied out with fontTools once per process. Every letter then embeds a subset holding
only its own characters: the whole face is 16 MB, and MuPDF's own subsetting fails on its CID-keyed CFF.
MuPDF maps CIDs to glyphs one to one, so the subset's CIDs are renumbered to equal its glyph indices;
otherwise the text extracts correctly but draws nothing.
"""

from __future__ import annotations

import functools
import io
from enum import StrEnum
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

from review.letters.errors import LetterFontMissing

FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/local/share/fonts"),
)
"""Where ``fonts-noto-cjk`` (or a copy of Source Han) is looked for."""


class Face(StrEnum):
    """The faces a letter uses: body text and headings."""

    REGULAR = "NotoSansCJK-Regular.ttc"
    BOLD = "NotoSansCJK-Bold.ttc"


ALWAYS_INCLUDED = "".join(chr(c) for c in range(0x20, 0x7F)) + "第页共　—…·，。：；（）\u200b"
"""Characters every subset holds (page furniture and the break opportunities inserted into long words)."""


def _collection(face: Face) -> Path:
    for folder in FONT_DIRS:
        path = folder / face.value
        if path.exists():
            return path
    raise LetterFontMissing(
        f"未找到中文字体 {face.value}（请安装 fonts-noto-cjk）",
        f"Chinese font {face.value} not found (install fonts-noto-cjk)",
    )


@functools.cache
def face_bytes(face: Face) -> bytes:
    """The Simplified Chinese face of the collection as a standalone OpenType font."""
    with TTCollection(str(_collection(face)), lazy=True) as collection:
        for font in collection.fonts:
            full_name = str(font["name"].getDebugName(4) or "")
            if " SC" in full_name and "Mono" not in full_name:
                out = io.BytesIO()
                font.save(out)
                return out.getvalue()
    raise LetterFontMissing(
        f"字体 {face.value} 中没有简体中文字形",
        f"font {face.value} has no Simplified Chinese face",
    )


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
