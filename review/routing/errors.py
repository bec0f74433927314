"""Errors of sheet routing and the intake checklist (分专项与受理清单)."""

from __future__ import annotations

from review.errors import ReviewError


class RoutingError(ReviewError):
    """Root of the routing and checklist errors; carries the message in Chinese (``zh``) and English (``en``)."""

    code = "ROUTING_ERROR"

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(f"{zh} / {en}")


class RulesInvalid(RoutingError, ValueError):
    """A sheet-kind, track-rule or checklist data file with unknown keys, unknown codes or wrong types."""

    code = "ROUTING_RULES_INVALID"


class UnknownTrack(RoutingError, ValueError):
    """A track code that is none of the known review tracks (专项)."""

    code = "ROUTING_UNKNOWN_TRACK"


class OverrideInvalid(RoutingError, ValueError):
    """A manual track assignment that cannot apply: same track added and removed, or a track not enabled."""

    code = "ROUTING_OVERRIDE_INVALID"


class FactsInvalid(RoutingError, ValueError):
    """Project facts that cannot be true (negative area or height, unknown building use)."""

    code = "ROUTING_FACTS_INVALID"


class IntakeMismatch(RoutingError, ValueError):
    """The detail of a step the checklist does not allow: return reasons without a return, acceptance despite one."""

    code = "ROUTING_INTAKE_MISMATCH"
