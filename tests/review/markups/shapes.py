"""One valid markup of every kind on an A3 landscape sheet (1190.55 × 841.89 points)."""

from __future__ import annotations

from review.markups.model import HIGHLIGHT_OPACITY, Markup, MarkupKind, Rect

SHEET_W, SHEET_H = 1190.55, 841.89

EVERY_KIND: dict[MarkupKind, Markup] = {
    MarkupKind.RECTANGLE: Markup(MarkupKind.RECTANGLE, ((100.0, 120.0), (300.0, 220.0))),
    MarkupKind.ELLIPSE: Markup(MarkupKind.ELLIPSE, ((400.0, 100.0), (520.0, 180.0)), colour="#0000ff"),
    MarkupKind.CLOUD: Markup(
        MarkupKind.CLOUD, ((600.0, 100.0), (800.0, 100.0), (800.0, 250.0), (600.0, 250.0)), cloud_arc=15.0
    ),
    MarkupKind.POLYGON: Markup(MarkupKind.POLYGON, ((100.0, 400.0), (250.0, 380.0), (220.0, 520.0))),
    MarkupKind.POLYLINE: Markup(MarkupKind.POLYLINE, ((300.0, 400.0), (350.0, 450.0), (420.0, 430.0))),
    MarkupKind.ARROW: Markup(MarkupKind.ARROW, ((500.0, 500.0), (560.0, 440.0)), text="疏散距离超限 <b>&"),
    MarkupKind.FREE_TEXT: Markup(
        MarkupKind.FREE_TEXT,
        ((650.0, 420.0),),
        text="防火门应为甲级\n见 GB 55037",
        box=Rect(700.0, 380.0, 860.0, 430.0),
    ),
    MarkupKind.FREEHAND: Markup(
        MarkupKind.FREEHAND, tuple((900.0 + i, 600.0 + (i % 7) * 3.0) for i in range(0, 120, 3))
    ),
    MarkupKind.HIGHLIGHT: Markup(
        MarkupKind.HIGHLIGHT, ((100.0, 700.0), (400.0, 720.0)), colour="#ffff00", opacity=HIGHLIGHT_OPACITY
    ),
}
