"""Writes a one-page PDF: the page, its content stream and the fonts of its text.

The objects are few and fixed, so they are written directly (no PDF library involved). Text uses
Type 3 fonts whose glyphs are the Noto CJK outlines of exactly the characters on the sheet: building
them costs a fraction of a millisecond per glyph (and is cached), where subsetting the 16 MB CFF font
program took half a second per sheet. ToUnicode maps make ``page.get_text()`` return the Chinese text.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from review.drawing.fonts import face_metrics, glyph_outline
from review.drawing.pdf_backend import FontUsage


@dataclass(frozen=True)
class PageInfo:
    """Metadata of the single page written."""

    width_pt: float
    height_pt: float
    title: str = ""
    producer: str = "Liantu drawing renderer"


class _Objects:
    def __init__(self) -> None:
        self._bodies: list[bytes | None] = []

    def reserve(self) -> int:
        self._bodies.append(None)
        return len(self._bodies)

    def put(self, number: int, body: bytes) -> None:
        self._bodies[number - 1] = body

    def add(self, body: bytes) -> int:
        number = self.reserve()
        self.put(number, body)
        return number

    def add_stream(self, entries: bytes, data: bytes, level: int = 6) -> int:
        packed = zlib.compress(data, level)
        header = b"<< " + entries + b" /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
        return self.add(header + packed + b"\nendstream")

    def serialize(self, root: int, info: int) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self._bodies, start=1):
            if body is None:
                raise ValueError(f"object {number} reserved but never written")
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(offsets) + 1,
            root,
            info,
            xref,
        )
        return bytes(out)


def _pdf_text(value: str) -> bytes:
    """A PDF text string in UTF-16BE (hex), good for Chinese titles."""
    return b"<feff" + value.encode("utf-16-be").hex().encode("ascii") + b">"


def _to_unicode(codes: list[str]) -> bytes:
    lines = [
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
        "1 begincodespacerange <00> <FF> endcodespacerange",
    ]
    for start in range(0, len(codes), 100):  # at most 100 entries per block
        block = codes[start : start + 100]
        lines.append(f"{len(block)} beginbfchar")
        lines.extend(f"<{start + i:02x}> <{text.encode('utf-16-be').hex()}>" for i, text in enumerate(block))
        lines.append("endbfchar")
    lines.append("endcmap CMapName currentdict /CMap defineresource pop end end")
    return "\n".join(lines).encode("ascii")


def _add_type3_font(objects: _Objects, usage: FontUsage, index: int, procs: dict[int, int]) -> int:
    """One Type 3 font of up to 256 glyphs drawn from the face's outlines (uncoloured, ``d1``)."""
    metrics = face_metrics(usage.path)
    cids = usage.fonts[index]
    outlines = [glyph_outline(usage.path, cid) for cid in cids]
    names = []
    for cid, outline in zip(cids, outlines, strict=True):
        if cid not in procs:
            x0, y0, x1, y1 = outline.bbox
            body = (
                f"{outline.advance} 0 {x0} {y0} {x1} {y1} d1\n{outline.ops} f\n"
                if outline.ops
                else (f"{outline.advance} 0 0 0 0 0 d1\n")
            )
            procs[cid] = objects.add_stream(b"", body.encode("ascii"))
        names.append(b"/g%d %d 0 R" % (cid, procs[cid]))
    unit = 1.0 / metrics.units_per_em
    x0, y0, x1, y1 = metrics.bbox
    differences = b" ".join(b"/g%d" % cid for cid in cids)
    widths = b" ".join(b"%d" % o.advance for o in outlines)
    to_unicode = objects.add_stream(b"", _to_unicode([usage.glyphs[cid] for cid in cids]))
    return objects.add(
        b"<< /Type /Font /Subtype /Type3 /Name /%s /FontBBox [%d %d %d %d] /FontMatrix [%g 0 0 %g 0 0]"
        b" /CharProcs << %s >> /Encoding << /Type /Encoding /Differences [0 %s] >>"
        b" /FirstChar 0 /LastChar %d /Widths [%s] /Resources << >> /ToUnicode %d 0 R >>"
        % (
            usage.resource_name(index).encode("ascii"),
            x0,
            y0,
            x1,
            y1,
            unit,
            unit,
            b" ".join(names),
            differences,
            len(cids) - 1,
            widths,
            to_unicode,
        )
    )


def write_page_pdf(page: PageInfo, content: bytes, fonts: Iterable[FontUsage], compression: int = 6) -> bytes:
    """A complete one-page PDF with ``content`` as the page's content stream."""
    objects = _Objects()
    catalog = objects.reserve()
    pages = objects.reserve()
    page_obj = objects.reserve()
    font_refs = []
    for usage in fonts:
        procs: dict[int, int] = {}
        for index in range(len(usage.fonts)):
            font_refs.append((usage.resource_name(index), _add_type3_font(objects, usage, index, procs)))
    contents = objects.add_stream(b"", content, compression)
    font_dict = b" ".join(b"/%s %d 0 R" % (name.encode("ascii"), ref) for name, ref in font_refs)
    objects.put(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % pages)
    objects.put(pages, b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page_obj)
    objects.put(
        page_obj,
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /Font << %s >> >>"
        b" /Contents %d 0 R >>" % (pages, page.width_pt, page.height_pt, font_dict, contents),
    )
    # No creation date: the same drawing and options must give the same bytes (artefacts are cached by hash).
    info = objects.add(b"<< /Title %s /Producer %s >>" % (_pdf_text(page.title), _pdf_text(page.producer)))
    return objects.serialize(catalog, info)
