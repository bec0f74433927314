from __future__ import annotations

import ezdxf
import pymupdf
import pytest

from review.compare.entities import EntityCompareOptions, entity_changes
from review.compare.errors import SheetMissing
from review.compare.raster import raster_changes
from review.compare.regions import ChangeKind, meets
from review.drawing.layouts import find_sheets
from review.drawing.render import render_sheet_pdf
from tests.review.compare.conftest import LAYOUT, LAYOUT_NOTE, plan, resave

A1 = (841 * 72 / 25.4, 594 * 72 / 25.4)


def _rendered(doc: ezdxf.document.Drawing) -> bytes:
    sheet = next(s for s in find_sheets(doc) if s.layout_name == LAYOUT)
    return render_sheet_pdf(doc, sheet)


def test_identical_documents_have_no_changes() -> None:
    changes = entity_changes(plan(), plan(), LAYOUT)
    assert changes.rectangles == ()
    assert (changes.added, changes.removed, changes.changed) == (0, 0, 0)
    assert changes.unchanged > 30
    assert changes.page_width == pytest.approx(A1[0])
    assert changes.page_height == pytest.approx(A1[1])


def test_a_re_save_with_new_handles_is_no_change() -> None:
    old = plan()
    again = resave(plan(renumbered=True))
    assert not {e.dxf.handle for e in old.modelspace()} & {e.dxf.handle for e in again.modelspace()}
    changes = entity_changes(old, again, LAYOUT)
    assert changes.rectangles == ()
    assert changes.changed == changes.added == changes.removed == 0


def test_moved_wall_and_new_note_are_found_where_the_renderer_draws_them() -> None:
    old, new = plan(), plan(modified=True)
    changes = entity_changes(old, new, LAYOUT)
    assert (changes.added, changes.removed, changes.changed) == (1, 0, 1)
    page = pymupdf.open(stream=_rendered(new), filetype="pdf")[0]
    note = page.search_for(LAYOUT_NOTE)[0]
    assert meets(changes, tuple(note))
    added = [r for r in changes.rectangles if r.kind is ChangeKind.ADDED]
    assert len(added) == 1
    assert added[0].x0 == pytest.approx(note.x0, abs=6)
    # The renderer's own picture of the change: the pixel comparison of both rendered sheets.
    seen = raster_changes(_rendered(old), 0, _rendered(new), 0)
    assert seen.rectangles
    for r in seen.rectangles:
        assert meets(changes, r.bounds), r
    # Untouched places: the title, the frame's corner, the room polylines and the doors.
    title = page.search_for("TITLE A-101")[0]
    assert not meets(changes, tuple(title))
    assert not meets(changes, (30, 30, 60, 60))
    total = sum(r.area for r in changes.rectangles)
    assert total < 0.05 * A1[0] * A1[1]


def test_changes_survive_a_re_save_of_either_revision() -> None:
    old, new = plan(), plan(modified=True)
    direct = entity_changes(old, new, LAYOUT)
    saved = entity_changes(resave(old), resave(plan(modified=True, renumbered=True)), LAYOUT)
    assert saved.rectangles == direct.rectangles
    assert (saved.added, saved.removed, saved.changed) == (direct.added, direct.removed, direct.changed)


def test_an_edited_entity_with_its_handle_is_changed() -> None:
    old = plan()
    new = resave(old)  # same handles: one document saved twice
    text = next(e for e in new.modelspace() if e.dxftype() == "TEXT")
    text.dxf.text = "ROOM 102"
    changes = entity_changes(old, new, LAYOUT)
    assert (changes.added, changes.removed, changes.changed) == (0, 0, 1)
    assert [r.kind for r in changes.rectangles] == [ChangeKind.CHANGED]


def test_a_changed_block_changes_its_inserts() -> None:
    old, new = plan(), plan()
    new.blocks.get("DOOR").add_line((0, 0), (0, 900))
    changes = entity_changes(old, new, LAYOUT)
    assert changes.changed + changes.added == 5
    assert 1 <= len(changes.rectangles) <= 5


def test_model_space_sheets_and_missing_layouts() -> None:
    def drawing(extra: bool) -> ezdxf.document.Drawing:
        doc = ezdxf.new("R2010", units=4)
        msp = doc.modelspace()
        msp.add_lwpolyline([(0, 0), (40000, 0), (40000, 28000), (0, 28000)], close=True)
        if extra:
            msp.add_circle((10000, 10000), 500)
        return doc

    changes = entity_changes(drawing(False), drawing(True), "Model")
    assert (changes.added, changes.removed, changes.changed) == (1, 0, 0)
    sheet = find_sheets(drawing(True))[0]
    a, _, _, d, e, f = sheet.to_page
    x, y = a * 10000 + e, sheet.paper.height_pt - (d * 10000 + f)
    assert meets(changes, (x - 1, y - 1, x + 1, y + 1))
    with pytest.raises(SheetMissing) as missing:
        entity_changes(plan(), plan(), "S-999", EntityCompareOptions())
    assert "S-999" in missing.value.zh
    assert "S-999" in missing.value.en


def test_sheets_found_at_rendering_can_be_passed_in() -> None:
    old, new = plan(), plan(modified=True)
    found = (find_sheets(old)[0], find_sheets(new)[0])
    assert entity_changes(old, new, LAYOUT, sheets=found) == entity_changes(old, new, LAYOUT)


def test_model_space_outside_every_viewport_is_not_on_the_sheet() -> None:
    old, new = plan(), plan()
    new.modelspace().add_circle((90000, 90000), 500)  # far beyond what the viewport shows
    new.modelspace().add_circle((10000, 10000), 500)  # in the middle of the view
    changes = entity_changes(old, new, LAYOUT)
    assert changes.added == 1
    assert len(changes.rectangles) == 1
    r = changes.rectangles[0]
    k = 72 / 25.4  # the viewport shows model space (10000, 10000) at the paper's (420 mm, 300 mm)
    assert (r.x0 + r.x1) / 2 == pytest.approx(420 * k, abs=2)
    assert (r.y0 + r.y1) / 2 == pytest.approx((594 - 300) * k, abs=2)
