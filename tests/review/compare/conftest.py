"""Two revisions of a sheet, generated: PDF pages with PyMuPDF and DXF documents with ezdxf."""

from __future__ import annotations

import io

import ezdxf
import pymupdf
from ezdxf.document import Drawing

PAGE = (842.0, 595.0)
"""A3 landscape, points."""
DOOR = pymupdf.Rect(500, 100, 540, 180)
"""Where the door (a rectangle and a swing line) stands in the old revision."""
DOOR_SHIFT = 30.0
"""How far the door moves to the right in the new revision."""
NEW_TEXT_AT = (600.0, 450.0)
NEW_TEXT = "Added fire door note FM-02"
GRID_X = (50.0, 400.0)
"""Horizontal extent of the untouched grid of thin lines."""


def sheet_page(*, shift: float = 0.0, door_moved: bool = False, new_text: bool = False, size=PAGE) -> bytes:  # type: ignore[no-untyped-def]
    """One PDF page: a grid of thin lines, a door, a text line; optionally the door moved and a note added.

    ``shift`` moves everything by a fraction of a point, as a re-render with other rounding does.
    """
    doc = pymupdf.open()
    page = doc.new_page(width=size[0], height=size[1])
    for i in range(20):
        y = 50 + i * 20 + shift
        page.draw_line((GRID_X[0] + shift, y), (GRID_X[1] + shift, y), width=0.3)
    dx = shift + (DOOR_SHIFT if door_moved else 0.0)
    door = pymupdf.Rect(DOOR.x0 + dx, DOOR.y0 + shift, DOOR.x1 + dx, DOOR.y1 + shift)
    page.draw_rect(door, width=1)
    page.draw_line(door.tl, door.br, width=0.5)
    page.insert_text((100 + shift, 500 + shift), "Existing general note 1", fontsize=10)
    if new_text:
        page.insert_text(NEW_TEXT_AT, NEW_TEXT, fontsize=10)
    data: bytes = doc.tobytes()
    doc.close()
    return data


LAYOUT = "A-101"
MOVED_WALL_Y = (3000.0, 3500.0)
"""Model space y (mm) of the wall line that moves in the new revision, before and after."""
LAYOUT_NOTE = "NEW NOTE"
LAYOUT_NOTE_AT = (100.0, 500.0)
"""Paper position (mm) of the note added on the layout in the new revision."""


def plan(*, modified: bool = False, renumbered: bool = False) -> Drawing:
    """A plan in model space (walls, rooms, a door block) shown at 1:50 through one viewport of layout A-101.

    ``renumbered`` gives every entity another handle, as a CAD program does when it saves a copy.
    """
    doc = ezdxf.new("R2010", setup=True, units=4)
    msp = doc.modelspace()
    if renumbered:
        for _ in range(37):
            msp.delete_entity(msp.add_point((0, 0)))
    door = doc.blocks.new("DOOR")
    door.add_line((0, 0), (900, 0))
    door.add_arc((0, 0), 900, 0, 90)
    for i in range(20):
        y = MOVED_WALL_Y[1] if modified and i == 3 else i * 1000.0
        msp.add_line((0, y), (20000, y), dxfattribs={"layer": "WALL"})
    for i in range(5):
        msp.add_lwpolyline([(i * 4000, 0), (i * 4000 + 3000, 0), (i * 4000 + 3000, 2500)], dxfattribs={"layer": "ROOM"})
        msp.add_blockref("DOOR", (i * 4000 + 500, 15000))
    msp.add_text("ROOM 101", dxfattribs={"height": 300}).set_placement((5000, 5000))
    layout = doc.layouts.new(LAYOUT)
    layout.page_setup(size=(841, 594), margins=(0, 0, 0, 0), units="mm")
    layout.add_lwpolyline([(10, 10), (831, 10), (831, 584), (10, 584)], close=True)
    layout.add_text("TITLE A-101", dxfattribs={"height": 5}).set_placement((700, 30))
    layout.add_viewport(center=(420, 300), size=(800, 540), view_center_point=(10000, 10000), view_height=27000)
    if modified:
        layout.add_text(LAYOUT_NOTE, dxfattribs={"height": 5}).set_placement(LAYOUT_NOTE_AT)
    return doc


def resave(doc: Drawing) -> Drawing:
    """The document written and read back, as another save would give it (handles may change)."""
    stream = io.StringIO()
    doc.write(stream)
    return ezdxf.read(io.StringIO(stream.getvalue()))
