"""The standard review tracks (专项) as data, and keeping the ``tracks`` table in step with them.

Fire, civil air defence and construction drawing review run on every submission. Lightning
protection, municipal utilities and planning are known but disabled until an administrator turns
them on; once a row exists its ``enabled`` flag belongs to the administrator and is never reset here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.identity.events import audit
from app.identity.principal import Principal
from storage.models import Track


@dataclass(frozen=True)
class StandardTrack:
    """A review discipline Liantu knows out of the box."""

    code: str
    """Stable identifier used in role grants, sheet assignments and URLs."""
    name_zh: str
    """Chinese name shown in the interface."""
    name_en: str
    """English name shown in the interface."""
    enabled: bool
    """Whether new installations route sheets to this track."""
    sort_order: int
    """Position in lists and on the result document."""
    color: str
    """Colour of the track's markups and badges (``#rrggbb``)."""


FIRE = "fire"
CIVIL_AIR_DEFENCE = "civil_air_defence"
CONSTRUCTION = "construction"
LIGHTNING = "lightning"
UTILITIES = "utilities"
PLANNING = "planning"

STANDARD_TRACKS: tuple[StandardTrack, ...] = (
    StandardTrack(FIRE, "消防审查", "Fire protection review", True, 10, "#d32f2f"),
    StandardTrack(CIVIL_AIR_DEFENCE, "人防审查", "Civil air defence review", True, 20, "#1565c0"),
    StandardTrack(CONSTRUCTION, "施工图审查", "Construction drawing review", True, 30, "#2e7d32"),
    StandardTrack(LIGHTNING, "防雷审查", "Lightning protection review", False, 40, "#f9a825"),
    StandardTrack(UTILITIES, "市政公用", "Municipal utilities review", False, 50, "#6a1b9a"),
    StandardTrack(PLANNING, "规划审查", "Planning review", False, 60, "#00838f"),
)


def ensure_tracks(session: Session) -> list[Track]:
    """Insert the standard tracks that are missing; existing rows are left as the administrator set them.

    Idempotent: a second call adds nothing. Returns the rows that were added.
    """
    existing = set(session.scalars(select(Track.code)))
    added = [
        Track(
            code=track.code,
            name_zh=track.name_zh,
            name_en=track.name_en,
            enabled=track.enabled,
            sort_order=track.sort_order,
            color=track.color,
        )
        for track in STANDARD_TRACKS
        if track.code not in existing
    ]
    session.add_all(added)
    session.flush()
    return added


def all_tracks(session: Session) -> list[Track]:
    """Every track, enabled or not, in display order."""
    return list(session.scalars(select(Track).order_by(Track.sort_order, Track.code)))


def enabled_tracks(session: Session) -> list[Track]:
    """The tracks new submissions are routed to, in display order."""
    return list(session.scalars(select(Track).where(Track.enabled.is_(True)).order_by(Track.sort_order, Track.code)))


def set_track_enabled(session: Session, code: str, enabled: bool, *, actor: Principal | None = None) -> Track:
    """Turn a track on or off for new submissions; reviews already under way are not touched."""
    track = session.get(Track, code)
    if track is None:
        raise NotFound(f"没有专项 {code}", f"no track {code}")
    if track.enabled != enabled:
        track.enabled = enabled
        session.flush()
        audit(session, actor, "track.enable" if enabled else "track.disable", "track", code, track.name_zh)
    return track
