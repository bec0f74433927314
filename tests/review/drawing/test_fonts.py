"""CAD font names mapped to Noto CJK faces, shared by ezdxf's layout and the PDF's glyphs."""

from __future__ import annotations

import pytest
from ezdxf.fonts import fonts as ezdxf_fonts

from review.drawing.fonts import FaceKind, cjk_fonts, classify, face_metrics, glyph_outline


@pytest.mark.parametrize(
    ("names", "bold", "kind"),
    [
        (("simsun.ttc",), False, FaceKind.SERIF),
        (("宋体",), False, FaceKind.SERIF),
        (("仿宋_GB2312",), False, FaceKind.SERIF),
        (("FangSong",), False, FaceKind.SERIF),
        (("fsdb_e.shx", "fsdb.shx"), False, FaceKind.SERIF),
        (("simkai.ttf",), False, FaceKind.SERIF),
        (("txt.shx", "gbcbig.shx"), False, FaceKind.SANS),
        (("romans.shx", "hztxt.shx"), False, FaceKind.SANS),
        (("simhei.ttf",), False, FaceKind.SANS),
        (("黑体",), False, FaceKind.SANS),
        (("Arial",), True, FaceKind.SANS_BOLD),
        (("Times New Roman Bold",), False, FaceKind.SERIF_BOLD),
        (("", ""), False, FaceKind.SANS),
    ],
)
def test_cad_font_names_map_to_a_face(names: tuple[str, ...], bold: bool, kind: FaceKind) -> None:
    assert classify(names, bold=bold) is kind


def test_simplified_chinese_face_is_registered_with_ezdxf() -> None:
    fonts = cjk_fonts()
    path = fonts.path(FaceKind.SANS)
    if path is None:
        pytest.skip("Noto CJK is not installed")

    assert "CJKsc" in path.name
    face = ezdxf_fonts.font_manager.get_font_face(path.name)
    assert face.family == "Noto Sans CJK SC"
    assert fonts.kind_of(face) is FaceKind.SANS
    # CAD names that ezdxf would otherwise replace by a Latin-only font resolve to Noto too.
    for alias in ("txt.shx", "gbcbig.shx", "simhei.ttf"):
        assert ezdxf_fonts.font_manager.get_font_face(alias).filename == path.name


def test_metrics_and_outlines_of_chinese_glyphs() -> None:
    path = cjk_fonts().path(FaceKind.SERIF)
    if path is None:
        pytest.skip("Noto CJK is not installed")
    metrics = face_metrics(path)
    cid = metrics.cid_of[ord("建")]

    outline = glyph_outline(path, cid)

    assert metrics.is_cid_keyed
    assert metrics.units_per_em == 1000
    assert 600 < metrics.cap_height < 800
    assert outline.advance == 1000
    assert outline.ops.count(" c") > 10  # cubic outlines
    x0, y0, x1, y1 = outline.bbox
    assert 0 <= x0 < x1 <= 1000
    assert y0 < 0 < y1
