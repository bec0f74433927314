"""DXF drawings at intake (一窗受理): reading uploaded DXF files and rendering their sheets as vector PDF.

- :func:`~review.drawing.dxf_reader.read_dxf` reads bytes (ASCII or binary DXF, R12–R2018, GBK code
  pages), recovering damaged files and reporting what was wrong as findings;
- :func:`~review.drawing.layouts.find_sheets` decides which layouts are sheets, on which paper and scale;
- :func:`~review.drawing.render.render_sheet_pdf` draws one sheet as a white vector PDF page with real,
  searchable Chinese text (Noto CJK standing in for 宋体, 仿宋, 黑体, txt.shx, gbcbig.shx …).
"""

from review.drawing.dxf_reader import DxfReadResult, ReadOptions, read_dxf, read_dxf_file
from review.drawing.errors import DrawingTooLarge, UnreadableDxf
from review.drawing.layouts import PaperSize, SheetOptions, SheetSource, find_sheets
from review.drawing.render import (
    ColorMode,
    RenderedDrawing,
    RenderedSheet,
    RenderOptions,
    render_dxf,
    render_dxf_file,
    render_sheet,
    render_sheet_pdf,
)

__all__ = [
    "ColorMode",
    "DrawingTooLarge",
    "DxfReadResult",
    "PaperSize",
    "ReadOptions",
    "RenderOptions",
    "RenderedDrawing",
    "RenderedSheet",
    "SheetOptions",
    "SheetSource",
    "UnreadableDxf",
    "find_sheets",
    "read_dxf",
    "read_dxf_file",
    "render_dxf",
    "render_dxf_file",
    "render_sheet",
    "render_sheet_pdf",
]
