"""Real drawings from the shared samples (skipped when the folder is absent)."""

from __future__ import annotations

import io

import ezdxf
import pytest
from ezdxf.math import Matrix44

from review.compare.entities import entity_changes
from review.compare.regions import ChangeKind, meets
from review.drawing.dxf_reader import read_dxf
from review.drawing.layouts import find_sheets
from tests.conftest import sample


@pytest.mark.parametrize(
    "name",
    ["ceco_architecture_plan_R2000.dxf", "us_residential_floorplan_R2004.dxf", "qcad_flange_with_title.dxf"],
)
def test_a_saved_copy_of_a_real_drawing_has_no_changes(name: str) -> None:
    doc = read_dxf(sample(f"dxf/{name}").read_bytes()).doc
    stream = io.StringIO()
    doc.write(stream)
    again = ezdxf.read(io.StringIO(stream.getvalue()))
    for sheet in find_sheets(doc):
        changes = entity_changes(doc, again, sheet.layout_name)
        assert changes.rectangles == (), sheet.layout_name
        assert changes.unchanged > 100


def test_a_moved_line_of_a_real_plan_is_found_in_its_place() -> None:
    data = sample("dxf/ceco_architecture_plan_R2000.dxf").read_bytes()
    old, new = read_dxf(data).doc, read_dxf(data).doc
    # A line well inside the drawing (units: m), so that the sheet's placement stays the same.
    line = next(e for e in new.modelspace().query("LINE") if 10 < e.dxf.start.x < 30 and 10 < e.dxf.start.y < 25)
    old_line = old.entitydb[line.dxf.handle]
    line.transform(Matrix44.translate(0.5, 0, 0))
    changes = entity_changes(old, new, "Model")
    assert (changes.added, changes.removed, changes.changed) == (0, 0, 1)
    sheet = find_sheets(new)[0]
    a, _, _, d, e, f = sheet.to_page
    for entity in (old_line, line):
        x = a * (entity.dxf.start.x + entity.dxf.end.x) / 2 + e
        y = sheet.paper.height_pt - (d * (entity.dxf.start.y + entity.dxf.end.y) / 2 + f)
        assert meets(changes, (x - 0.5, y - 0.5, x + 0.5, y + 0.5))
    assert {r.kind for r in changes.rectangles} == {ChangeKind.CHANGED}
