"""Comparing a resubmitted sheet with its previous revision (修改对比), then carrying its comments over.

:func:`compare_revision` (the ``sheet_revision.compare`` job) reads the two revisions named by the
revision's :class:`~storage.models.RevisionComparison`: when both come from DXF originals, their layouts are
compared entity by entity, from the entity indexes intake stored under ``derived/entity-index/``
(:func:`review.compare.entities.index_changes`, no DXF read) or, for a sheet split before indexes were stored,
from both DXF originals read again (:func:`review.compare.entity_changes`); otherwise their sheet PDFs are compared
as pictures (:func:`review.compare.raster_changes`). The merged change rectangles are stored on the
comparison (``regions``: ``x0, y0, x1, y1`` in sheet points of the new revision and ``what``: added,
removed or changed), with an overlay image (old red, new blue, both black) under
``derived/compare/<old sheet sha>-<new sheet sha>-<version>.png``, composed from the grey rasters the picture
comparison already made (for an entity comparison, from a level of both revisions' stored Deep Zoom tiles,
:mod:`review.compare.levels`, or from two renders at the overlay's resolution when a pyramid is missing or
unreadable), and the open comments of the previous revision are carried over
(:func:`app.rounds.carry.carry_sheet`), all in one transaction with the run's completion. A DXF that cannot be
read for the entity comparison falls back to the raster comparison, with a finding saying so.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.errors import NotFound
from app.intake.keys import entity_index_key, tile_key
from app.intake.steps_read import ENTITY_INDEX_VERSION, splittable_kind
from app.intake.steps_record import finding_json
from app.intake.steps_render import tile_prefix_of
from app.rounds.carry import carry_sheet, rectangles
from review.compare import (
    ChangeSet,
    CompareError,
    PageComparison,
    RasterCompareOptions,
    compare_pages,
    entity_changes,
    overlay_png,
    render_grey,
)
from review.compare.entities import index_changes
from review.compare.index import EntityIndex
from review.compare.levels import LevelPicture, stored_level
from review.drawing.dxf_reader import ReadOptions, read_dxf
from review.errors import ReviewError
from review.filetypes import FileKind
from review.sheets.findings import Finding, Severity
from storage.blobstore import BlobStore
from storage.db import transaction
from storage.errors import StorageError
from storage.models import DrawingFile, RevisionComparison, SheetRevision, utcnow

COMPARE_REVISION = "sheet_revision.compare"
COMPARE_VERSION = 2
"""Raised when what the comparison stores changes, so that overlays are made again."""
OVERLAY_DPI = 72.0
"""Least resolution of the overlay image after an entity comparison; the viewer lays it over the tiles, so it
needs no more. It is made from the lowest level of the stored tiles with at least this resolution (75 dpi for
tiles at 300 dpi). After a picture comparison the overlay keeps the comparison's resolution (96 dpi): its rasters
are reused as they are."""
LEVEL_SCALE_TOLERANCE = 0.01
"""Two revisions' tile levels are laid over each other only when their scales differ by less than this share."""
DXF_KINDS = (FileKind.DXF_ASCII, FileKind.DXF_BINARY)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Side:
    """One revision's sheet PDF and, when it came from a DXF, its layout, entity index and original."""

    pdf: bytes
    pdf_sha256: str
    dxf: Callable[[], bytes] | None
    """Reads the DXF original (only when an entity index is missing); None for a sheet not from a DXF."""
    layout_name: str
    index: EntityIndex | None = None
    """The layout's entity index stored at intake; None for sheets split before indexes were stored."""
    level: Callable[[float], LevelPicture] | None = None
    """Reads the sheet in grey from its stored tiles, at the lowest level of at least the given dpi
    (:class:`~review.compare.levels.TilesUnreadable` when they cannot be read); None without stored tiles."""


def _read(store: BlobStore, key: str) -> bytes:
    with store.open(key) as stream:
        data: bytes = stream.read()
    return data


def _stored_index(store: BlobStore, drawing: DrawingFile, revision: SheetRevision) -> EntityIndex | None:
    key = entity_index_key(drawing.sha256, revision.source_index, ENTITY_INDEX_VERSION)
    if not store.exists(key):
        return None
    try:
        index = EntityIndex.from_bytes(_read(store, key))
    except CompareError:
        log.warning("entity index %s cannot be read; the DXF is read instead", key, exc_info=True)
        return None
    return index if index.layout_name == revision.layout_name else None


def _stored_level(store: BlobStore, descriptor_key: str, width_pt: float, dpi: float) -> LevelPicture:
    prefix = tile_prefix_of(descriptor_key)
    return stored_level(_read(store, descriptor_key), width_pt, dpi, lambda name: _read(store, tile_key(prefix, name)))


def _level_reader(store: BlobStore, revision: SheetRevision) -> Callable[[float], LevelPicture] | None:
    """Reads the revision's stored tiles, when its pyramid is complete (its descriptor is written last)."""
    if not revision.tiles_key or not store.exists(revision.tiles_key):
        return None
    return partial(_stored_level, store, revision.tiles_key, revision.width_pt)


def _side(db: Session, store: BlobStore, revision: SheetRevision) -> _Side:
    if not revision.pdf_key:
        raise NotFound("该图纸尚未生成图纸 PDF", "the sheet has no sheet PDF yet")
    pdf = _read(store, revision.pdf_key)
    drawing = db.get_one(DrawingFile, revision.drawing_file_id)
    dxf: Callable[[], bytes] | None = None
    index = None
    if revision.layout_name:
        with store.open(drawing.object_key) as stream:
            head = stream.read(4096)
        try:
            is_dxf = splittable_kind(head) in DXF_KINDS
        except ReviewError:
            is_dxf = False
        if is_dxf:
            dxf = partial(_read, store, drawing.object_key)
            index = _stored_index(store, drawing, revision)
    level = _level_reader(store, revision) if dxf is not None else None
    return _Side(pdf, hashlib.sha256(pdf).hexdigest(), dxf, revision.layout_name, index, level)


@dataclass(frozen=True)
class Compared:
    """What the job found for a sheet: the change set, findings about the comparison, the overlay PNG."""

    changes: ChangeSet
    findings: list[Finding]
    pictures: PageComparison | None
    """The grey rasters of a picture comparison, reused for the overlay; None after an entity comparison."""

    def overlay(self, old: _Side, new: _Side) -> bytes:
        """The overlay PNG: from the comparison's own rasters when it has them, else from both revisions'
        stored tiles, else from two quick renders of their sheet PDFs."""
        if self.pictures is not None:
            p = self.pictures
            return overlay_png(p.old, p.new, self.changes, p.points_per_pixel)
        levels = _stored_levels(old, new)
        if levels is not None:
            old_level, new_level = levels
            return overlay_png(old_level.grey, new_level.grey, self.changes, new_level.points_per_pixel)
        options = RasterCompareOptions(dpi=OVERLAY_DPI)
        old_grey, _, _ = render_grey(old.pdf, 0, options)
        new_grey, _, _ = render_grey(new.pdf, 0, options)
        return overlay_png(old_grey, new_grey, self.changes, 72.0 / OVERLAY_DPI)


def _stored_levels(old: _Side, new: _Side) -> tuple[LevelPicture, LevelPicture] | None:
    """Both revisions from their stored tiles at one scale; None when either has none or they differ in scale."""
    if old.level is None or new.level is None:
        return None
    try:
        levels = old.level(OVERLAY_DPI), new.level(OVERLAY_DPI)
    except (CompareError, StorageError):  # a damaged tile, or one deleted since
        log.warning("stored tiles cannot be read; the overlay is rendered instead", exc_info=True)
        return None
    old_scale, new_scale = levels[0].points_per_pixel, levels[1].points_per_pixel
    if abs(old_scale - new_scale) > LEVEL_SCALE_TOLERANCE * new_scale:
        return None  # tiles of different resolutions (a page too large for the usual dpi)
    return levels


def _entity_changes(
    old: _Side, new: _Side, old_dxf: Callable[[], bytes], new_dxf: Callable[[], bytes]
) -> ChangeSet | None:
    """The entity comparison of two DXF layouts, from their stored indexes when both have one; None if renamed."""
    if old.index is not None and new.index is not None:
        return index_changes(old.index, new.index) if old.layout_name == new.layout_name else None
    old_doc = read_dxf(old_dxf(), ReadOptions(audit=False)).doc
    new_doc = read_dxf(new_dxf(), ReadOptions(audit=False)).doc
    return entity_changes(old_doc, new_doc, new.layout_name) if old.layout_name == new.layout_name else None


def changes_between(old: _Side, new: _Side) -> Compared:
    """The change set of two sheets: entity diff when both are DXF layouts, raster diff otherwise."""
    findings: list[Finding] = []
    if old.dxf is not None and new.dxf is not None:
        try:
            changes = _entity_changes(old, new, old.dxf, new.dxf)
            if changes is not None:
                return Compared(changes, findings, None)
            findings.append(
                Finding(
                    "COMPARE_LAYOUT_RENAMED",
                    Severity.INFO,
                    f"布局名称由 {old.layout_name} 改为 {new.layout_name}，按图面像素对比",
                    f"the layout was renamed from {old.layout_name} to {new.layout_name}; compared as pictures",
                )
            )
        except (ReviewError, CompareError) as exc:
            findings.append(
                Finding(
                    "COMPARE_DXF_FALLBACK",
                    Severity.WARNING,
                    f"无法按图元对比（{exc}），已按图面像素对比",
                    f"the entities could not be compared ({exc}); compared as pictures",
                )
            )
    pictures = compare_pages(old.pdf, 0, new.pdf, 0)
    return Compared(pictures.changes, findings, pictures)


def overlay_key(old_sha256: str, new_sha256: str) -> str:
    return f"derived/compare/{old_sha256}-{new_sha256}-{COMPARE_VERSION}.png"


def regions_json(changes: ChangeSet) -> list[dict[str, Any]]:
    return [
        {"x0": round(r.x0, 2), "y0": round(r.y0, 2), "x1": round(r.x1, 2), "y1": round(r.y1, 2), "what": r.kind.value}
        for r in changes.rectangles
    ]


Finish = Callable[[Session, str], None]


def compare_revision(
    sessions: sessionmaker[Session], store: BlobStore, revision_id: int, finish: Finish | None = None
) -> str:
    """Compare the revision with the one it continues, store the regions and overlay, carry the comments over."""
    with sessions() as db:
        comparison = db.get(RevisionComparison, revision_id)
        if comparison is None:
            raise NotFound("该图纸没有可对比的上一版", "the sheet has no previous revision to compare with")
        previous_id = comparison.previous_revision_id
        old = _side(db, store, db.get_one(SheetRevision, previous_id))
        new = _side(db, store, db.get_one(SheetRevision, revision_id))
    compared = changes_between(old, new)
    changes, findings = compared.changes, compared.findings
    key = overlay_key(old.pdf_sha256, new.pdf_sha256)
    if not store.exists(key):
        png = compared.overlay(old, new)
        store.put_stream(key, io.BytesIO(png), content_type="image/png", expected_size=len(png))
    regions = regions_json(changes)
    with transaction(sessions) as db:
        comparison = db.get_one(RevisionComparison, revision_id)
        if comparison.previous_revision_id != previous_id:
            # The clerk matched the sheet to another revision meanwhile; that change queued its own comparison.
            message = "对比已由新的匹配取代 / superseded by a new match"
        else:
            comparison.method = changes.method
            comparison.regions = regions
            comparison.overlay_key = key
            comparison.computed_at = utcnow()
            comparison.findings = [finding_json(f) for f in (*changes.findings, *findings)]
            previous = db.get_one(SheetRevision, previous_id)
            revision = db.get_one(SheetRevision, revision_id)
            carried = carry_sheet(db, previous, revision, rectangles(regions))
            message = (
                f"变更区域 {len(regions)} 处，延续批注 {carried} 个 / "
                f"{len(regions)} changed region(s), {carried} markup(s) carried over"
            )
        if finish is not None:
            finish(db, message)
    return message


def queue_compare(db: Session, revision_id: int) -> None:
    """Queue the comparison of a revision whose match was just recorded (sent after commit)."""
    from app.tasks.dispatch import enqueue

    enqueue(db, COMPARE_REVISION, object_type="sheet_revision", object_id=revision_id, sheet_revision_id=revision_id)


def comparison_of(db: Session, revision_id: int) -> RevisionComparison | None:
    return db.scalar(select(RevisionComparison).where(RevisionComparison.sheet_revision_id == revision_id))
