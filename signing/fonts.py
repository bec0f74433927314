"""Chinese fonts for seals and stamps (Noto CJK, Simplified Chinese faces).

Debian ships Noto CJK as font collections (``.ttc``). Pillow reads a collection with a face index;
pyHanko reads single fonts only, so the stamp text's characters are cut out of the Simplified
Chinese face with HarfBuzz's subsetter, straight from the collection: a few milliseconds, where
fontTools needed over a second to parse and rewrite the 16 MB CFF outlines at every signature.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uharfbuzz as hb
from fontTools.ttLib import TTCollection
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
def _collection_face(file_name: str) -> hb.Face:
    # HarfBuzz maps the file and reads tables on demand; the face is immutable and shared.
    return hb.Face(hb.Blob.from_file_path(str(collection_path(file_name))), simplified_face_index(file_name))


def subset_font(font_bytes: bytes, characters: str) -> bytes:
    """A single OpenType font (not a collection) reduced to ``characters``."""
    return _subset(hb.Face(font_bytes), "".join(sorted(set(characters))))


def subset_collection_face(file_name: str, characters: str) -> bytes:
    """The SC face of a Noto CJK collection reduced to ``characters``: pyHanko then parses kilobytes
    instead of a 16 MB CJK font."""
    return _cached_collection_subset(file_name, "".join(sorted(set(characters))))


@functools.lru_cache(maxsize=64)
def _cached_collection_subset(file_name: str, characters: str) -> bytes:
    return _subset(_collection_face(file_name), characters)


_DROPPED_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx")


def _subset(face: hb.Face, characters: str) -> bytes:
    """Layout tables are dropped (horizontal CJK and Latin text needs no shaping features) and so are
    hints. A CID-keyed CFF font keeps its CIDs in the subset's charset, which is what pyHanko writes."""
    request = hb.SubsetInput()
    for char in characters:
        request.unicode_set.add(ord(char))
    for tag in _DROPPED_TABLES:
        request.drop_table_tag_set.add(int.from_bytes(tag.encode("ascii"), "big"))
    request.flags = hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.NOTDEF_OUTLINE
    result = hb.subset(face, request)
    if result is None:
        raise SigningProblem("印章文字字体子集生成失败", "The stamp font could not be subset")
    return bytes(result.blob.data)


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
