"""The supervision page of the bureau (电子监察): ``/supervision``, its CSV export and its JSON.

Charts are inline SVG drawn here on the server (no script, no CDN); every number in them is also
in a table beside them, which is what the CSV export holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app import supervision
from app.errors import Invalid
from app.identity.principal import Principal
from app.policy import Action, require
from app.web.auth import principal
from app.web.errors import status_for
from app.web.rendering import locale_of, platform_of, render
from review.deadlines.clock import SHANGHAI

BAR_HEIGHT = 14
ROW_GAP = 10
LABEL_WIDTH = 210
CHART_WIDTH = 680
COLOURS = {"bar-average": "#1565c0", "bar-p90": "#90caf9", "bar-on-time": "#2e7d32", "bar-count": "#546e7a"}
"""Fill of each kind of bar (attributes, not styles: the pages allow no inline style)."""


def bar_chart(rows: Sequence[tuple[str, Sequence[tuple[float, str, str]]]], *, maximum: float, title: str) -> Markup:
    """Horizontal bars: one row per label, one bar per (value, kind, text shown at its end); text is escaped."""
    span = CHART_WIDTH - LABEL_WIDTH - 60
    top = maximum if maximum > 0 else 1.0
    parts: list[Markup] = []
    y = 4
    for label, bars in rows:
        row_height = max(1, len(bars)) * (BAR_HEIGHT + 2)
        parts.append(
            Markup('<text x="{}" y="{:.1f}" text-anchor="end" font-size="12" fill="#263238">{}</text>').format(
                LABEL_WIDTH - 8, y + row_height / 2 + 4, label
            )
        )
        for index, (value, kind, text) in enumerate(bars):
            width = max(0.0, value) / top * span
            bar_y = y + index * (BAR_HEIGHT + 2)
            parts.append(
                Markup(
                    '<rect x="{}" y="{}" width="{:.1f}" height="{}" fill="{}" class="{}"/>'
                    '<text x="{:.1f}" y="{}" font-size="11" fill="#37474f">{}</text>'
                ).format(
                    LABEL_WIDTH,
                    bar_y,
                    width,
                    BAR_HEIGHT,
                    COLOURS.get(kind, "#607d8b"),
                    kind,
                    LABEL_WIDTH + width + 4,
                    bar_y + BAR_HEIGHT - 3,
                    text,
                )
            )
        y += row_height + ROW_GAP
    return Markup(
        '<svg class="chart" role="img" aria-label="{0}" viewBox="0 0 {1} {2}" width="{1}" height="{2}"'
        ' xmlns="http://www.w3.org/2000/svg"><title>{0}</title>{3}</svg>'
    ).format(title, CHART_WIDTH, max(y, 24), Markup("").join(parts))


def percent(value: Fraction | None) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%"


def days(value: Fraction) -> str:
    return f"{float(value):.1f}"


def _charts(board: supervision.Board, locale: str, t: Any) -> dict[str, Markup]:
    def name(code: str) -> str:
        zh, en = board.track_names.get(code, (code, code))
        return en if locale == "en" else zh

    longest = max([float(s.p90_days) for s in board.by_track] + [1.0])
    durations = bar_chart(
        [
            (
                name(s.track),
                [
                    (float(s.average_days), "bar-average", f"{t('supervision.average')} {days(s.average_days)}"),
                    (float(s.p90_days), "bar-p90", f"P90 {s.p90_days}"),
                ],
            )
            for s in board.by_track
        ],
        maximum=longest,
        title=t("supervision.chart.durations"),
    )
    on_time = bar_chart(
        [(name(s.track), [(float(s.on_time_rate), "bar-on-time", percent(s.on_time_rate))]) for s in board.by_track],
        maximum=1.0,
        title=t("supervision.chart.on_time"),
    )
    most = max([*board.submissions_by_state.values(), 1])
    states = bar_chart(
        [
            (t("state." + state), [(float(n), "bar-count", str(n))])
            for state, n in board.submissions_by_state.items()
            if n
        ],
        maximum=float(most),
        title=t("supervision.chart.states"),
    )
    return {"durations": durations, "on_time": on_time, "states": states}


def _period(request: Request) -> supervision.Period:
    today = dt.datetime.now(SHANGHAI).date()
    return supervision.parse_period(request.query_params.get("from"), request.query_params.get("to"), today=today)


def _board(request: Request, who: Principal) -> supervision.Board:
    platform = platform_of(request)
    with platform.sessions() as db:
        require(who, Action.VIEW_SUPERVISION)
        return supervision.board(db, who, _period(request), now=dt.datetime.now(dt.UTC), settings=platform.settings)


def supervision_page(request: Request) -> Response:
    who = principal(request)
    require(who, Action.VIEW_SUPERVISION)
    from app.web.i18n import Translator

    locale = locale_of(request)
    try:
        data = _board(request, who)
    except Invalid as exc:
        return render(
            request,
            "supervision/board.html",
            status_code=status_for(exc),
            board=None,
            problem=exc,
            typed={"from": request.query_params.get("from", ""), "to": request.query_params.get("to", "")},
        )
    return render(
        request,
        "supervision/board.html",
        board=data,
        problem=None,
        typed={"from": data.period.first.isoformat(), "to": data.period.last.isoformat()},
        charts=_charts(data, locale, Translator(locale)),
        percent=percent,
        days=days,
        exports=supervision.EXPORTS,
    )


def export(request: Request) -> Response:
    who = principal(request)
    require(who, Action.VIEW_SUPERVISION)
    table = request.query_params.get("table", "tracks")
    if table not in supervision.EXPORTS:
        raise Invalid(f"未知的导出表：{table[:40]}", f"unknown export table: {table[:40]}")
    data = _board(request, who)
    name = f"supervision-{table}-{data.period.first.isoformat()}_{data.period.last.isoformat()}.csv"
    return Response(
        supervision.export_csv(data, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def api_supervision(request: Request) -> Response:
    """电子监察统计 / Supervision figures for a period.

    Query ``from`` and ``to`` (YYYY-MM-DD, Beijing dates, both included; default the last 90 days).
    Bureau officers and administrators only. Averages and rates are decimals with two places.
    """
    who = principal(request)
    require(who, Action.VIEW_SUPERVISION)
    data = _board(request, who)

    def summary(s: Any) -> dict[str, Any]:
        return {
            "track": s.track,
            "reviews": s.rounds,
            "average_days": round(float(s.average_days), 2),
            "p90_days": s.p90_days,
            "on_time_rate": round(float(s.on_time_rate), 4),
        }

    return JSONResponse(
        {
            "from": data.period.first.isoformat(),
            "to": data.period.last.isoformat(),
            "submissions_by_state": data.submissions_by_state,
            "track_reviews_started": {c.track.code: c.by_state for c in data.track_counts},
            "by_track": [summary(s) for s in data.by_track],
            "by_track_and_round": [summary(s) for s in data.by_track_and_round],
            "on_time_rate": None if data.on_time is None else round(float(data.on_time), 4),
            "rounds_per_project": data.rounds,
            "workload": [
                {"reviewer": w.reviewer, "reviews": w.reviews, "working_days": w.working_days} for w in data.workload
            ],
            "overdue": [
                {
                    "project": e.project.code,
                    "track": e.track.code,
                    "round": e.round_number,
                    "due_at": e.status.deadline.isoformat() if e.status else None,
                }
                for e in data.overdue
            ],
        }
    )


routes: list[BaseRoute] = [
    Route("/supervision", supervision_page, methods=["GET"], name="supervision"),
    Route("/supervision/export.csv", export, methods=["GET"], name="supervision_export"),
]

api_routes: list[BaseRoute] = [
    Route("/supervision", api_supervision, methods=["GET"], name="api_supervision"),
]
