"""What the viewer needs to know about a sheet revision before drawing (审查上下文)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.identity.principal import Principal
from app.review_desk.access import revision_view, writable
from storage.models import RevisionComparison, Sheet, SheetRevision, Track, TrackReview


def _changes(regions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for region in regions:
        try:
            box = {key: float(region[key]) for key in ("x0", "y0", "x1", "y1")}
        except (KeyError, TypeError, ValueError):
            continue
        found.append({**box, "what": str(region.get("what") or region.get("kind") or "changed")})
    return found


def revision_context(db: Session, who: Principal, revision_id: int) -> dict[str, Any]:
    """The sheet, its round, the tracks ``who`` reads (and writes), the changes since the previous revision."""
    view = revision_view(db, who, revision_id)
    revision, sheet = view.revision, view.sheet
    tracks = db.execute(
        select(Track)
        .join(TrackReview, TrackReview.track_code == Track.code)
        .where(TrackReview.round_id == view.round.id)
        .order_by(Track.sort_order, Track.code)
    ).scalars()
    comparison = db.get(RevisionComparison, revision.id)
    siblings = db.execute(
        select(Sheet, SheetRevision)
        .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
        .where(Sheet.submission_id == sheet.submission_id, SheetRevision.round_id == revision.round_id)
        .order_by(Sheet.number)
    ).all()
    api = "/api/v1/sheet-revisions"
    return {
        "id": revision.id,
        "sheet_id": sheet.id,
        "number": sheet.number,
        "title": sheet.title,
        "submission_id": sheet.submission_id,
        "round_number": view.round.number,
        "width_pt": revision.width_pt,
        "height_pt": revision.height_pt,
        "units_per_point": revision.units_per_point,
        "units": revision.units,
        "scale": revision.scale,
        "dzi": f"{api}/{revision.id}/tiles.dzi",
        "tracks": [
            {
                "code": track.code,
                "name_zh": track.name_zh,
                "name_en": track.name_en,
                "color": track.color,
                "writable": writable(db, view.standing, view.round, track.code),
            }
            for track in tracks
            if view.reads(track.code)
        ],
        "me": {"id": who.user_id, "name": who.display_name},
        "previous_revision_id": comparison.previous_revision_id if comparison is not None else None,
        "changes": _changes(comparison.regions) if comparison is not None else [],
        "sheets": [
            {
                "revision_id": other.id,
                "number": other_sheet.number,
                "title": other_sheet.title,
                "thumbnail": f"{api}/{other.id}/thumbnail.png" if other.thumbnail_key else None,
            }
            for other_sheet, other in siblings
        ],
    }
