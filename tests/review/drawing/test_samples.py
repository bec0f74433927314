"""Every real sample drawing renders; every damaged one renders with findings or is refused in two languages."""

from __future__ import annotations

import pymupdf
import pytest

from review.drawing.errors import UnreadableDxf
from review.drawing.layouts import ISO_A
from review.drawing.render import render_dxf
from review.errors import UnreadableDrawing
from tests.conftest import SAMPLES, sample

GOOD = sorted(p.name for p in (SAMPLES / "dxf").glob("*.dxf")) or ["absent.dxf"]
BROKEN = sorted(p.name for p in (SAMPLES / "dxf_broken").glob("*.dxf")) or ["absent.dxf"]
A0_LONG, A0_SHORT = ISO_A["A0"]


@pytest.mark.parametrize("name", GOOD)
def test_sample_drawing_renders(name: str) -> None:
    rendered = render_dxf(sample(f"dxf/{name}").read_bytes())

    assert rendered.sheets
    for sheet in rendered.sheets:
        paper = sheet.source.paper
        assert 100 <= min(paper.width_mm, paper.height_mm) <= A0_SHORT * 2
        assert max(paper.width_mm, paper.height_mm) <= A0_LONG * 2
        with pymupdf.open(stream=sheet.pdf, filetype="pdf") as document:
            assert document.page_count == 1
            assert document[0].rect.width == pytest.approx(paper.width_pt, abs=0.5)
    drawn = [s for s in rendered.sheets if s.primitives > 0]
    if name != "ezdxf_dxf_unicode.dxf":  # that sample holds table names only, no entities
        assert drawn, "at least one sheet has content"


@pytest.mark.parametrize("name", BROKEN)
def test_damaged_drawing_renders_with_findings_or_is_refused(name: str) -> None:
    data = sample(f"dxf_broken/{name}").read_bytes()
    refused: UnreadableDrawing | None = None
    try:
        rendered = render_dxf(data)
    except UnreadableDrawing as error:
        refused = error
    if refused is not None:
        assert isinstance(refused, UnreadableDxf)
        assert refused.zh
        assert refused.en
        return
    assert rendered.sheets
    for sheet in rendered.sheets:
        with pymupdf.open(stream=sheet.pdf, filetype="pdf") as document:
            assert document.page_count == 1


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ezdxf_recover01.dxf", "DXF_RECOVERED"),
        ("ezdxf_recover02.dxf", "DXF_RECOVERED"),
        ("ezdxf_AC1003_LINE_Example.dxf", "DXF_RECOVERED"),
        ("ezdxf_empty_handles.dxf", "DXF_RECOVERED"),
        ("ezdxf_duplicate_handles.dxf", "DXF_AUDIT_FIXED"),
        ("ezdxf_Minimal_DXF_AC1009.dxf", "SHEET_EMPTY"),
    ],
)
def test_damage_is_reported(name: str, code: str) -> None:
    rendered = render_dxf(sample(f"dxf_broken/{name}").read_bytes())

    assert code in {f.code for f in rendered.findings}


def test_floor_plan_is_text_searchable() -> None:
    rendered = render_dxf(sample("dxf/us_residential_floorplan_R2004.dxf").read_bytes())

    with pymupdf.open(stream=rendered.sheets[0].pdf, filetype="pdf") as document:
        text = document[0].get_text()
    assert "FLOOR PLAN" in text
    assert "2 CAR GARAGE" in text
