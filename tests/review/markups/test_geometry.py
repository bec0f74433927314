from __future__ import annotations

import math
from dataclasses import replace

import pytest

from review.markups.errors import InvalidMarkup
from review.markups.geometry import (
    MarkupLimits,
    cloud_svg_path,
    intersects_changes,
    region,
    simplify_points,
    validate_markup,
)
from review.markups.model import Markup, MarkupKind, Rect
from tests.review.markups.shapes import EVERY_KIND, SHEET_H, SHEET_W


def code_of(markup: Markup, limits: MarkupLimits | None = None) -> str:
    with pytest.raises(InvalidMarkup) as caught:
        validate_markup(markup, SHEET_W, SHEET_H, *(() if limits is None else (limits,)))
    assert caught.value.zh
    assert caught.value.en
    return caught.value.code


@pytest.mark.parametrize("kind", list(MarkupKind))
def test_every_kind_valid(kind: MarkupKind) -> None:
    markup = EVERY_KIND[kind]
    checked = validate_markup(markup, SHEET_W, SHEET_H)
    assert checked.kind is kind
    assert region(checked).area > 0


def test_box_corners_are_normalised_and_colour_lowered() -> None:
    markup = Markup(MarkupKind.RECTANGLE, ((300, 220), (100, 120)), colour="#AABBCC")
    checked = validate_markup(markup, SHEET_W, SHEET_H)
    assert checked.points == ((100.0, 120.0), (300.0, 220.0))
    assert checked.colour == "#aabbcc"


def test_bow_tie_polygon_is_self_intersecting() -> None:
    bow_tie = Markup(MarkupKind.POLYGON, ((0, 0), (100, 100), (100, 0), (0, 100)))
    assert code_of(bow_tie) == "MARKUP_SELF_INTERSECTING"
    assert code_of(replace(bow_tie, kind=MarkupKind.CLOUD, cloud_arc=10)) == "MARKUP_SELF_INTERSECTING"


def test_crossing_polyline_is_allowed() -> None:
    crossing = Markup(MarkupKind.POLYLINE, ((0, 0), (100, 100), (100, 0), (0, 100)))
    assert validate_markup(crossing, SHEET_W, SHEET_H).points[1] == (100.0, 100.0)


@pytest.mark.parametrize(
    ("points", "allowed"),
    [
        (((-1.5, 10), (50, 50)), True),  # within the 2 pt tolerance
        (((-5, 10), (50, 50)), False),
        (((10, 10), (SHEET_W + 1, SHEET_H + 1)), True),
        (((10, 10), (SHEET_W + 10, 50)), False),
        (((10, 10), (50, SHEET_H + 3)), False),
    ],
)
def test_outside_sheet(points: tuple[tuple[float, float], ...], allowed: bool) -> None:
    markup = Markup(MarkupKind.RECTANGLE, points)
    if allowed:
        validate_markup(markup, SHEET_W, SHEET_H)
    else:
        assert code_of(markup) == "MARKUP_OUTSIDE_SHEET"


def test_free_text_box_outside_sheet() -> None:
    markup = replace(EVERY_KIND[MarkupKind.FREE_TEXT], box=Rect(1100, 10, 1300, 50))
    assert code_of(markup) == "MARKUP_OUTSIDE_SHEET"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e300])
def test_non_finite_or_huge_numbers(bad: float) -> None:
    assert code_of(Markup(MarkupKind.RECTANGLE, ((0, 0), (bad, 10)))) == "MARKUP_NUMBER_INVALID"
    assert code_of(replace(EVERY_KIND[MarkupKind.RECTANGLE], stroke_width=bad)) == "MARKUP_NUMBER_INVALID"


def test_too_many_vertices() -> None:
    ring = tuple((500 + 200 * math.cos(i / 1000), 400 + 200 * math.sin(i / 1000)) for i in range(6283))
    assert code_of(Markup(MarkupKind.POLYGON, ring)) == "MARKUP_TOO_MANY_VERTICES"
    assert code_of(Markup(MarkupKind.POLYGON, ring[:100]), MarkupLimits(max_vertices=50)) == "MARKUP_TOO_MANY_VERTICES"


def test_text_limits() -> None:
    arrow = EVERY_KIND[MarkupKind.ARROW]
    assert code_of(replace(arrow, text="字" * 2001)) == "MARKUP_TEXT_TOO_LONG"
    validate_markup(replace(arrow, text="字" * 2000), SHEET_W, SHEET_H)
    assert code_of(replace(arrow, text="a\x00b")) == "MARKUP_TEXT_INVALID"
    assert code_of(replace(EVERY_KIND[MarkupKind.RECTANGLE], text="x")) == "MARKUP_TEXT_NOT_ALLOWED"
    assert code_of(replace(EVERY_KIND[MarkupKind.FREE_TEXT], text="  ")) == "MARKUP_TEXT_EMPTY"


@pytest.mark.parametrize("colour", ["red", "#fff", "#12345g", "#1234567", "", "rgb(0,0,0)"])
def test_colour_format(colour: str) -> None:
    assert code_of(replace(EVERY_KIND[MarkupKind.ELLIPSE], colour=colour)) == "MARKUP_COLOUR_INVALID"


def test_style_and_point_count_rules() -> None:
    assert code_of(replace(EVERY_KIND[MarkupKind.HIGHLIGHT], opacity=0)) == "MARKUP_STYLE_INVALID"
    assert code_of(replace(EVERY_KIND[MarkupKind.CLOUD], cloud_arc=0)) == "MARKUP_STYLE_INVALID"
    assert code_of(replace(EVERY_KIND[MarkupKind.POLYGON], cloud_arc=5)) == "MARKUP_STYLE_INVALID"
    assert code_of(Markup(MarkupKind.ARROW, ((1, 1), (2, 2), (3, 3)))) == "MARKUP_POINTS_INVALID"
    assert code_of(Markup(MarkupKind.POLYGON, ((1, 1), (2, 2)))) == "MARKUP_POINTS_INVALID"
    assert code_of(Markup(MarkupKind.FREE_TEXT, ((1, 1),), text="x")) == "MARKUP_POINTS_INVALID"
    assert code_of(Markup(MarkupKind.RECTANGLE, ((1, 1), (1, 50)))) == "MARKUP_DEGENERATE"
    assert code_of(Markup(MarkupKind.POLYLINE, ((1, 1), (1, 1)))) == "MARKUP_DEGENERATE"
    assert code_of(Markup(MarkupKind.POLYGON, ((1, 1), (2, 2), (3, 3)))) == "MARKUP_DEGENERATE"


def test_freehand_is_simplified() -> None:
    jitter = tuple((100 + i * 0.1, 300 + (0.1 if i % 2 else -0.1)) for i in range(8000))
    checked = validate_markup(Markup(MarkupKind.FREEHAND, jitter), SHEET_W, SHEET_H)
    assert len(checked.points) < 10
    assert checked.points[0] == jitter[0]
    assert checked.points[-1] == jitter[-1]
    assert simplify_points(jitter[:50], 0) == jitter[:50]


def test_cloud_path_bulges_outwards_either_orientation() -> None:
    square = ((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0))  # clockwise on screen
    path = cloud_svg_path(square, 25)
    assert path.startswith("M0,0 A12.5,12.5 0 0 1 25,0 ")
    assert path.count("A") == 16
    assert path.endswith("Z")
    reverse = cloud_svg_path(tuple(reversed(square)), 25)
    assert " 0 0 0 " in reverse
    assert " 0 0 1 " not in reverse
    with pytest.raises(InvalidMarkup):
        cloud_svg_path(square[:2], 10)


def test_cloud_short_edge_gets_one_bulge() -> None:
    path = cloud_svg_path(((0, 0), (5, 0), (5, 5)), 20)
    assert path.count("A") == 3


def test_intersects_changes() -> None:
    rect = EVERY_KIND[MarkupKind.RECTANGLE]  # (100,120)-(300,220)
    assert intersects_changes(rect, [Rect(290, 210, 400, 400)])
    assert not intersects_changes(rect, [Rect(310, 230, 400, 400)])
    assert not intersects_changes(rect, [])
    line = Markup(MarkupKind.POLYLINE, ((0, 0), (100, 0)))
    assert intersects_changes(line, [Rect(50, 2, 60, 10)])  # within the 3 pt band
    assert not intersects_changes(line, [Rect(50, 5, 60, 10)])
    ellipse = Markup(MarkupKind.ELLIPSE, ((0, 0), (100, 100)))
    assert not intersects_changes(ellipse, [Rect(0, 0, 10, 10)])  # the corner lies outside the ellipse
    assert intersects_changes(ellipse, [Rect(45, 45, 55, 55)])
    cloud = Markup(MarkupKind.CLOUD, ((0, 0), (100, 0), (100, 100), (0, 100)), cloud_arc=20)
    assert intersects_changes(cloud, [Rect(105, 50, 120, 60)])  # reached by a bulge
    text = EVERY_KIND[MarkupKind.FREE_TEXT]
    assert intersects_changes(text, [Rect(660, 410, 670, 420)])  # on the leader line


def test_points_must_be_pairs() -> None:
    assert code_of(Markup(MarkupKind.POLYLINE, ((1, 1, 1), (2, 2)))) == "MARKUP_POINTS_INVALID"  # type: ignore[arg-type]
    assert code_of(Markup(MarkupKind.FREEHAND, ((1,), (2, 2), (3, 3)))) == "MARKUP_POINTS_INVALID"  # type: ignore[arg-type]
    assert code_of(Markup(MarkupKind.RECTANGLE, ((True, 1), (20, 20)))) == "MARKUP_NUMBER_INVALID"
