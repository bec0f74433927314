"""Chinese fonts for seals and stamps (Noto CJK, Simplified Chinese faces).

Debian ships Noto CJK as font collections (``.ttc``). Pillow reads a collection with a face index;
pyHanko reads single fonts only, so the Simplified Chinese face is extracted with fontTools into
memory, once per process.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from signing.errors import SigningProblem

FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))
SANS = "NotoSansCJK-Regular.ttc"
SANS_BOLD = "NotoSansCJK-Bold.ttc"
SERIF_BOLD = "NotoSerifCJK-Bold.ttc"


class FontMissing(SigningProblem, FileNotFoundError):
    """No Noto CJK font is installed."""


def collection_path(file_name: str) -> Path:
    """The installed collection file, or :class:`FontMissing`."""
    for folder in FONT_DIRS:
        path = folder / file_name
        if path.exists():
            return path
    raise FontMissing(
        f"未找到中文字体 {file_name}（请安装 fonts-noto-cjk）",
        f"Chinese font {file_name} not found (install fonts-noto-cjk)",
    )


@functools.cache
def simplified_face_index(file_name: str) -> int:
    """Index of the Simplified Chinese (SC) face inside a Noto CJK collection."""
    collection = TTCollection(str(collection_path(file_name)), lazy=True)
    try:
        for index, face in enumerate(collection.fonts):
            full_name = str(face["name"].getDebugName(4) or "")
            if " SC" in full_name and "Mono" not in full_name:
                return index
        return 0
    finally:
        collection.close()


@functools.cache
def single_font_bytes(file_name: str = SANS) -> bytes:
    """The SC face of a collection as a standalone OpenType font (extracted once per process)."""
    index = simplified_face_index(file_name)
    collection = TTCollection(str(collection_path(file_name)), lazy=True)
    try:
        out = io.BytesIO()
        collection.fonts[index].save(out)
        return out.getvalue()
    finally:
        collection.close()


def subset_font(font_bytes: bytes, characters: str) -> bytes:
    """A font holding only ``characters``: pyHanko then parses kilobytes instead of a 16 MB CJK font.

    Layout tables are dropped; horizontal CJK and Latin text needs no shaping features.
    """
    return _subset(font_bytes, "".join(sorted(set(characters))))


@functools.lru_cache(maxsize=64)
def _subset(font_bytes: bytes, characters: str) -> bytes:
    font = TTFont(io.BytesIO(font_bytes), lazy=True)
    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"]
    options.hinting = False
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    font.close()
    return out.getvalue()


@dataclass(frozen=True)
class InMemoryFont(FontEngineFactory):
    """A pyHanko font engine factory reading the font from memory.

    pyHanko's own factory opens the font file and never closes it.
    """

    font_bytes: bytes
    """A single OpenType/TrueType font (not a collection)."""
    font_size: int = 10
    """Font size in points."""

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
        return GlyphAccumulator(
            writer=writer, font_handle=io.BytesIO(self.font_bytes), font_size=self.font_size, obj_stream=obj_stream
        )
