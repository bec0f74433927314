"""Change regions of a sheet between two revisions (变更区域), merged into few rectangles with shapely.

A comparison first finds many small changed places (pixel clusters, entity extents); a reviewer wants a
handful of boxes. :func:`merge_rectangles` grows every box by half the merge distance, unites them
(``shapely.unary_union``), takes the extent of each united part and repeats until nothing overlaps any
more; when more than ``max_count`` boxes remain, the merge distance doubles until they fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from review.sheets.findings import Finding

Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 in sheet coordinates (PDF points, origin top left, y downwards)."""


class ChangeKind(StrEnum):
    """What happened in a changed region."""

    ADDED = "added"
    """Only in the new revision (新增)."""
    REMOVED = "removed"
    """Only in the old revision (删除)."""
    CHANGED = "changed"
    """In both, but different; or added and removed things that lie together (修改)."""


KIND_LABELS: dict[ChangeKind, tuple[str, str]] = {
    ChangeKind.ADDED: ("新增", "added"),
    ChangeKind.REMOVED: ("删除", "removed"),
    ChangeKind.CHANGED: ("修改", "changed"),
}
"""Chinese and English label of each kind, for legends and lists."""

REGION_CHANGED_LABEL = ("区域已修改", "region changed")
"""Flag shown on a carried-over markup that meets a change (see :func:`meets`)."""


@dataclass(frozen=True)
class ChangeRect:
    """One changed region of the sheet."""

    x0: float
    """Left edge, points from the left of the sheet."""
    y0: float
    """Top edge, points from the top of the sheet."""
    x1: float
    """Right edge, points."""
    y1: float
    """Bottom edge, points."""
    kind: ChangeKind
    """Added, removed or changed; a region holding different kinds is ``CHANGED``."""

    @property
    def bounds(self) -> Box:
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


@dataclass(frozen=True)
class ChangeSet:
    """The changes between two revisions of one sheet."""

    rectangles: tuple[ChangeRect, ...]
    """Changed regions, merged, ordered top to bottom then left to right."""
    method: str
    """``raster`` (pixel comparison of PDF pages) or ``entities`` (DXF entity comparison)."""
    added: int = 0
    """Entities only in the new revision (entity comparison), or added regions (raster comparison)."""
    removed: int = 0
    """Entities only in the old revision, or removed regions."""
    changed: int = 0
    """Entities present in both but different, or regions where ink was both added and removed."""
    unchanged: int = 0
    """Entities found identical in both (entity comparison only)."""
    findings: tuple[Finding, ...] = ()
    """Problems noticed while comparing (``PAGE_SIZE_CHANGED`` …)."""
    page_width: float = 0.0
    """Width of the new revision's page, points."""
    page_height: float = 0.0
    """Height of the new revision's page, points."""

    @property
    def has_changes(self) -> bool:
        return bool(self.rectangles)

    def count(self, kind: ChangeKind) -> int:
        """How many rectangles are of ``kind``."""
        return sum(1 for r in self.rectangles if r.kind is kind)


def _combine(kinds: Iterable[ChangeKind]) -> ChangeKind:
    distinct = set(kinds)
    return distinct.pop() if len(distinct) == 1 else ChangeKind.CHANGED


def _merge_once(items: list[tuple[Box, ChangeKind]], gap: float) -> list[tuple[Box, ChangeKind]]:
    half = gap / 2
    grown = [box(b[0] - half, b[1] - half, b[2] + half, b[3] + half) for b, _ in items]
    union = shapely.unary_union(grown)
    parts = list(getattr(union, "geoms", [union]))
    if len(parts) == len(items):
        return items
    tree = shapely.STRtree(grown)
    merged = []
    for part in parts:
        members = [items[int(i)] for i in tree.query(part, predicate="intersects")]
        x0 = min(b[0] for b, _ in members)
        y0 = min(b[1] for b, _ in members)
        x1 = max(b[2] for b, _ in members)
        y1 = max(b[3] for b, _ in members)
        merged.append(((x0, y0, x1, y1), _combine(k for _, k in members)))
    return merged


def merge_rectangles(
    items: Sequence[tuple[Box, ChangeKind]],
    distance: float = 12.0,
    max_count: int = 50,
) -> tuple[ChangeRect, ...]:
    """Unite boxes closer than ``distance`` points until none overlap; at most ``max_count`` remain."""
    current = [((min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])), k) for b, k in items]
    gap = max(distance, 0.0)
    while current:
        # The extent of a united part can reach boxes it did not touch before: repeat until stable.
        while True:
            merged = _merge_once(current, gap)
            if len(merged) == len(current):
                break
            current = merged
        if len(current) <= max(max_count, 1):
            break
        gap = max(gap * 2, 1.0)
    current.sort(key=lambda item: (round(item[0][1]), item[0][0]))
    return tuple(ChangeRect(*b, kind=k) for b, k in current)


def meets(changes: ChangeSet | Iterable[ChangeRect], geometry: Box | BaseGeometry, margin: float = 0.0) -> bool:
    """Whether ``geometry`` (a markup's region or its bounding box, sheet coordinates) meets a change.

    A carried-over markup for which this is true is flagged 区域已修改 / region changed.
    """
    rects = changes.rectangles if isinstance(changes, ChangeSet) else tuple(changes)
    if not rects:
        return False
    shape = geometry if isinstance(geometry, BaseGeometry) else box(*geometry)
    if margin > 0:
        shape = shape.buffer(margin)
    return any(shape.intersects(box(*r.bounds)) for r in rects)
