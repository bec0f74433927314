"""Comparing two revisions of a sheet for re-review (复审修改对比).

- :func:`~review.compare.raster.raster_changes` compares two PDF pages pixel by pixel at a modest resolution;
- :func:`~review.compare.entities.entity_changes` compares the entities of one DXF sheet in two documents;
- both give a :class:`~review.compare.regions.ChangeSet`: few rectangles in sheet coordinates (PDF points,
  origin top left) with their kind, so that reviewers see what changed, and :func:`~review.compare.regions.meets`
  tells whether a carried-over markup lies on a change (区域已修改);
- :mod:`review.compare.overlay` draws old (red) over new (blue) on one page, or both side by side;
  :mod:`review.compare.levels` gives a sheet in grey from its stored Deep Zoom tiles for that picture.
"""

from review.compare.entities import EntityCompareOptions, entity_changes
from review.compare.errors import CompareError, PageMissing, PageTooLarge, SheetMissing
from review.compare.overlay import overlay_pdf, overlay_png, side_by_side
from review.compare.raster import PageComparison, RasterCompareOptions, compare_pages, raster_changes, render_grey
from review.compare.regions import ChangeKind, ChangeRect, ChangeSet, meets, merge_rectangles

__all__ = [
    "ChangeKind",
    "ChangeRect",
    "ChangeSet",
    "CompareError",
    "EntityCompareOptions",
    "PageComparison",
    "PageMissing",
    "PageTooLarge",
    "RasterCompareOptions",
    "SheetMissing",
    "compare_pages",
    "entity_changes",
    "meets",
    "merge_rectangles",
    "overlay_pdf",
    "overlay_png",
    "raster_changes",
    "render_grey",
    "side_by_side",
]
