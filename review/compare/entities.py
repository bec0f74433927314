"""Entity comparison of one DXF sheet in two revisions (图元比对).

Every entity of the sheet's layout, and of model space where the layout's viewports show it, gets a
fingerprint: type, layer, its DXF attributes with coordinates rounded, and what lies outside the
attributes (polyline vertices, spline points, MTEXT text, block contents of an INSERT, attributes).
Handles are left out because CAD programs renumber them when saving; names of anonymous blocks (``*U12``,
``*D3``) are replaced by the fingerprint of their contents for the same reason.

Fingerprints are compared by a 16-byte digest, so that each layout's can be stored once at intake with the
entities' handles, types and places on the sheet (:func:`entity_index`, :class:`review.compare.index.EntityIndex`)
and two revisions compared later from their indexes alone (:func:`index_changes`, the same result as
:func:`entity_changes` on the documents).

Entities whose fingerprint occurs as often in both revisions are unchanged. Of the rest, an old and a new
entity are one changed entity when they keep the same handle and type and the document's handles are
stable (most unchanged entities kept theirs), or else when they are of the same type and their extents
lie close together on the sheet; what remains was added or removed.

Extents (``ezdxf.bbox``, computed only for entities that differ) are mapped onto the sheet with the
transformation the renderer uses (:attr:`review.drawing.layouts.SheetSource.to_page`, then y flipped so the
origin is at the top left); model space entities pass through each content viewport first
(``Viewport.get_transformation_matrix``) and are clipped to the viewport.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import ezdxf.bbox
import numpy as np
import shapely
from ezdxf.document import Drawing
from ezdxf.entities.dxfgfx import DXFGraphic
from ezdxf.entities.viewport import Viewport
from ezdxf.layouts.layout import Layout
from ezdxf.math import Matrix44, Vec3
from shapely.geometry import box

from review.compare.errors import SheetMissing
from review.compare.index import DIGEST_SIZE, EntityIndex, IndexUnreadable
from review.compare.raster import page_size_finding
from review.compare.regions import Box, ChangeKind, ChangeSet, merge_rectangles
from review.drawing.layouts import SheetOptions, SheetSource, content_viewports, find_sheets


@dataclass(frozen=True)
class EntityCompareOptions:
    """How the entities of two revisions are compared."""

    decimals: int = 3
    """Coordinates and other numbers are rounded to this many decimals (drawing units) before comparing."""
    through_viewports: bool = True
    """Compare model space too, where the layout's viewports show it."""
    stable_handles: float = 0.9
    """Share of unchanged entities that must keep their handle for handles to identify changed entities."""
    pair_distance_pt: float = 30.0
    """Without stable handles, an old and a new entity of one type whose extents on the sheet come this
    close (points) are one moved or edited entity; farther apart they count as removed and added."""
    pad_pt: float = 2.0
    """Points added around every entity's extents, so that lines have an area."""
    merge_distance_pt: float = 12.0
    """Changed regions closer than this (points) are united into one rectangle."""
    max_rectangles: int = 50
    """Most rectangles reported; more are merged further."""
    sheet_options: SheetOptions = field(default_factory=SheetOptions)
    """Paper and scale choice for model space sheets; must be the one the sheets were rendered with."""


_SKIPPED_ATTRIBUTES = frozenset({"handle", "owner"})
_BLOCK_REFERENCES = {"INSERT": "name", "DIMENSION": "geometry", "ARC_DIMENSION": "geometry"}


class _Fingerprints:
    """Fingerprints of entities, with block contents fingerprinted once per block."""

    def __init__(self, doc: Drawing, decimals: int) -> None:
        self.doc = doc
        self.decimals = decimals
        self.blocks: dict[str, Hashable] = {}

    def value(self, value: Any) -> Hashable:
        # Adding 0.0 turns a rounded -0.0 into 0.0: fingerprints are compared by their digests, where they differ.
        if isinstance(value, float):
            return round(value, self.decimals) + 0.0
        if isinstance(value, Vec3):
            d = self.decimals
            return (round(value.x, d) + 0.0, round(value.y, d) + 0.0, round(value.z, d) + 0.0)
        if isinstance(value, tuple | list):
            return tuple(self.value(v) for v in value)
        if isinstance(value, int | str | bool) or value is None:
            return value
        return str(value)

    def block(self, name: str) -> Hashable:
        if name not in self.blocks:
            self.blocks[name] = ("?", name)  # a block that contains itself stops here
            record = self.doc.blocks.get(name)
            if record is None:
                self.blocks[name] = ("missing", name)
            else:
                self.blocks[name] = tuple(sorted((self.of(e) for e in record), key=repr))
        return self.blocks[name]

    def of(self, entity: DXFGraphic) -> Hashable:
        kind = entity.dxftype()
        attributes = entity.dxfattribs(drop=set(_SKIPPED_ATTRIBUTES))
        reference = _BLOCK_REFERENCES.get(kind)
        if reference and reference in attributes:
            name = str(attributes.pop(reference))
            attributes[reference] = self.block(name) if name.startswith("*") or kind == "INSERT" else name
        definitions = entity.DXFATTRIBS
        # Saving writes out attributes left at their defaults: an attribute at its default counts as absent.
        items = tuple(
            (key, self.value(value))
            for key, value in sorted(attributes.items())
            if not key.endswith("_handle") and not _is_default(definitions, key, value)
        )
        return (kind, items, self._extra(entity, kind))

    def numbers(self, values: Any) -> bytes:
        """Many numbers at once, rounded; adding 0.0 turns -0.0 into 0.0 so that both compare equal."""
        rounded = np.round(np.asarray(values, dtype=np.float64), self.decimals) + 0.0
        return bytes(rounded.tobytes())

    def _extra(self, entity: Any, kind: str) -> Hashable:  # noqa: PLR0911 - one return per entity type
        if kind == "LWPOLYLINE":
            return self.numbers(entity.lwpoints.values)
        if kind == "POLYLINE":
            return self.value([v.dxf.location for v in entity.vertices])
        if kind == "SPLINE":
            return self.value([list(entity.control_points), list(entity.fit_points), list(entity.knots)])
        if kind == "MTEXT":
            return str(entity.text)
        if kind == "INSERT":
            return tuple(sorted((self.of(a) for a in entity.attribs), key=repr))
        if kind in {"HATCH", "MPOLYGON", "LEADER", "MLINE", "MULTILEADER", "MESH", "IMAGE", "WIPEOUT"}:
            # Boundaries and vertices of these live outside their DXF attributes: their extents stand in.
            extents = _extents(entity)
            return self.value(extents) if extents else None
        return None


def _is_default(definitions: Any, key: str, value: Any) -> bool:
    attribute = definitions.get(key)
    default = getattr(attribute, "default", None)
    return default is not None and bool(default == value)


def _extents(entity: DXFGraphic) -> tuple[Vec3, Vec3] | None:
    try:
        found = ezdxf.bbox.extents([entity], fast=True)
    except (ValueError, ArithmeticError, AttributeError, TypeError):  # damaged geometry
        return None
    if not found.has_data:
        return None
    return Vec3(found.extmin), Vec3(found.extmax)


@dataclass(frozen=True)
class _View:
    """How entities of one space reach the sheet: a transformation and, for viewports, a clip."""

    to_paper: Matrix44 | None
    """Model space → paper space (viewports); None for entities drawn on the sheet's own layout."""
    clip: Box | None
    """Viewport rectangle in paper coordinates."""


def _sheet(doc: Drawing, layout_name: str, options: EntityCompareOptions) -> SheetSource:
    for sheet in find_sheets(doc, options.sheet_options):
        if sheet.layout_name == layout_name or (sheet.is_modelspace and layout_name.lower() == "model"):
            return sheet
    raise SheetMissing(f"图纸中没有名为“{layout_name}”的布局", f"the drawing has no sheet layout named '{layout_name}'")


def _views(doc: Drawing, sheet: SheetSource, options: EntityCompareOptions) -> list[tuple[Layout, list[_View]]]:
    if sheet.is_modelspace:
        return [(doc.modelspace(), [_View(None, None)])]
    layout = doc.layouts.get(sheet.layout_name)
    spaces: list[tuple[Layout, list[_View]]] = [(layout, [_View(None, None)])]
    if options.through_viewports:
        ports: list[_View] = []
        for vp in content_viewports(layout):
            try:
                lo, hi = vp.clipping_rect()
                ports.append(_View(vp.get_transformation_matrix(), (lo.x, lo.y, hi.x, hi.y)))
            except (ValueError, ZeroDivisionError, ArithmeticError):  # a viewport with no usable view
                continue
        if ports:
            spaces.append((doc.modelspace(), ports))
    return spaces


def _on_sheet(extents: tuple[Vec3, Vec3], view: _View, sheet: SheetSource, pad: float) -> Box | None:
    """Extents on the sheet (points, origin top left), clipped to the viewport; None when not shown."""
    lo, hi = extents
    corners = [Vec3(lo.x, lo.y), Vec3(hi.x, lo.y), Vec3(hi.x, hi.y), Vec3(lo.x, hi.y)]
    if view.to_paper is not None:
        corners = list(view.to_paper.transform_vertices(corners))
    x0, x1 = min(c.x for c in corners), max(c.x for c in corners)
    y0, y1 = min(c.y for c in corners), max(c.y for c in corners)
    if view.clip is not None:
        cx0, cy0, cx1, cy1 = view.clip
        x0, y0, x1, y1 = max(x0, cx0), max(y0, cy0), min(x1, cx1), min(y1, cy1)
        if x0 > x1 or y0 > y1:
            return None
    a, b, c, d, e, f = sheet.to_page
    xs = [a * x + c * y + e for x in (x0, x1) for y in (y0, y1)]
    ys = [b * x + d * y + f for x in (x0, x1) for y in (y0, y1)]
    height = sheet.paper.height_pt
    return (min(xs) - pad, height - max(ys) - pad, max(xs) + pad, height - min(ys) + pad)


@dataclass
class _Entry:
    entity: DXFGraphic
    views: list[_View]
    fingerprint: bytes


def _digest(fingerprint: Hashable) -> bytes:
    """A fixed-size digest of a fingerprint: the same for equal fingerprints, in any process."""
    text = repr(fingerprint).encode("utf-8", "backslashreplace")
    return hashlib.blake2b(text, digest_size=DIGEST_SIZE).digest()


def _entries(doc: Drawing, sheet: SheetSource, options: EntityCompareOptions) -> list[_Entry]:
    prints = _Fingerprints(doc, options.decimals)
    entries = []
    for space, views in _views(doc, sheet, options):
        own = views[0].to_paper is None
        for entity in space:
            if own and isinstance(entity, Viewport) and entity.dxf.get("status", 1) == 1:
                continue  # the layout's overall viewport is not drawn
            entries.append(_Entry(entity, views, _digest((own, prints.of(entity)))))
    return entries


def _boxes(entry: _Entry, sheet: SheetSource, pad: float) -> list[Box]:
    extents = _extents(entry.entity)
    if extents is None:
        return []
    found = (_on_sheet(extents, view, sheet, pad) for view in entry.views)
    return [b for b in found if b is not None]


class _Side(Protocol):
    """One revision's entities as the comparison reads them: by position in the sheet's walk order."""

    @property
    def fingerprints(self) -> Sequence[bytes]: ...
    @property
    def handles(self) -> Sequence[str]: ...
    @property
    def kinds(self) -> Sequence[str]: ...
    @property
    def own(self) -> Sequence[bool]: ...
    @property
    def width(self) -> float: ...
    @property
    def height(self) -> float: ...
    @property
    def is_modelspace(self) -> bool: ...
    @property
    def order(self) -> int: ...

    def boxes(self, i: int) -> list[Box]: ...


class _DocSide:
    """The entities of a sheet read from its document; boxes are measured only when asked for."""

    def __init__(self, doc: Drawing, sheet: SheetSource, options: EntityCompareOptions) -> None:
        self.entries = _entries(doc, sheet, options)
        self.sheet = sheet
        self.pad = options.pad_pt
        self.fingerprints = [e.fingerprint for e in self.entries]
        self.handles = [e.entity.dxf.handle or "" for e in self.entries]
        self.kinds = [e.entity.dxftype() for e in self.entries]
        self.own = [e.views[0].to_paper is None for e in self.entries]
        self.width = sheet.paper.width_pt
        self.height = sheet.paper.height_pt
        self.is_modelspace = sheet.is_modelspace
        self.order = sheet.order

    def boxes(self, i: int) -> list[Box]:
        return _boxes(self.entries[i], self.sheet, self.pad)


class _IndexSide:
    """The entities of a sheet from its stored index."""

    def __init__(self, index: EntityIndex) -> None:
        self.index = index
        self.fingerprints = index.fingerprint_list()
        self.handles = index.handles
        self.kinds = index.kinds
        self.own = index.own.tolist()
        self.width = index.page_width
        self.height = index.page_height
        self.is_modelspace = index.is_modelspace
        self.order = index.order

    def boxes(self, i: int) -> list[Box]:
        return self.index.boxes_of(i)


def entity_index(
    doc: Drawing, layout_name: str, options: EntityCompareOptions | None = None, *, sheet: SheetSource | None = None
) -> EntityIndex:
    """The entity index of sheet ``layout_name`` (``Model`` for model space), to store and compare later.

    ``sheet`` is the :class:`SheetSource` the sheet was rendered with, when the caller has it.
    """
    options = options or EntityCompareOptions()
    sheet = sheet or _sheet(doc, layout_name, options)
    side = _DocSide(doc, sheet, options)
    offsets = [0]
    flat: list[Box] = []
    for i in range(len(side.entries)):
        flat.extend(side.boxes(i))
        offsets.append(len(flat))
    return EntityIndex(
        layout_name=sheet.layout_name,
        order=sheet.order,
        is_modelspace=sheet.is_modelspace,
        page_width=side.width,
        page_height=side.height,
        decimals=options.decimals,
        through_viewports=options.through_viewports,
        pad_pt=options.pad_pt,
        fingerprints=b"".join(side.fingerprints),
        handles=tuple(side.handles),
        kinds=tuple(side.kinds),
        own=np.array(side.own, dtype=np.bool_),
        box_offsets=np.array(offsets, dtype=np.int64),
        boxes=np.array(flat, dtype=np.float64).reshape(-1, 4),
    )


def _shown(side: _Side, indices: list[int]) -> list[tuple[int, list[Box]]]:
    """Entities with their places on the sheet; model space entities no viewport shows are left out."""
    found = ((i, side.boxes(i)) for i in indices)
    return [(i, boxes) for i, boxes in found if boxes or side.own[i]]


def _pair_by_place(
    removed: list[tuple[str, list[Box]]], added: list[tuple[str, list[Box]]], distance: float
) -> list[tuple[int, int]]:
    """Old and new entities of one type whose extents come within ``distance``, each used once."""
    flat = [(i, b) for i, (_, boxes) in enumerate(added) for b in boxes]
    if not flat or not removed:
        return []
    tree = shapely.STRtree([box(*b) for _, b in flat])
    taken: set[int] = set()
    pairs = []
    for r, (kind, boxes) in enumerate(removed):
        for b in boxes:
            near = box(b[0] - distance, b[1] - distance, b[2] + distance, b[3] + distance)
            candidates = sorted({flat[int(k)][0] for k in tree.query(near, predicate="intersects")})
            match = next((a for a in candidates if a not in taken and added[a][0] == kind), None)
            if match is not None:
                taken.add(match)
                pairs.append((r, match))
                break
    return pairs


def _split(old: _Side, new: _Side) -> tuple[list[int], list[int], int, float]:
    """Entities only in old, only in new, the number unchanged, and the share of those that kept their handle."""
    old_groups: dict[bytes, list[int]] = defaultdict(list)
    new_groups: dict[bytes, list[int]] = defaultdict(list)
    for i, key in enumerate(old.fingerprints):
        old_groups[key].append(i)
    for i, key in enumerate(new.fingerprints):
        new_groups[key].append(i)
    only_old: list[int] = []
    only_new: list[int] = []
    unchanged = kept = 0
    for key, olds in old_groups.items():
        news = new_groups.pop(key, [])
        same = min(len(olds), len(news))
        unchanged += same
        if same:
            handles = {new.handles[i] for i in news}
            kept += min(same, sum(1 for i in olds if old.handles[i] in handles))
        # Within one fingerprint, entities are interchangeable: which ones count as left over does not matter.
        only_old.extend(olds[same:])
        only_new.extend(news[same:])
    for news in new_groups.values():
        only_new.extend(news)
    return only_old, only_new, unchanged, (kept / unchanged if unchanged else 0.0)


def entity_changes(
    old_doc: Drawing,
    new_doc: Drawing,
    layout_name: str,
    options: EntityCompareOptions | None = None,
    *,
    sheets: tuple[SheetSource, SheetSource] | None = None,
) -> ChangeSet:
    """What was added, removed and changed on sheet ``layout_name`` (``Model`` for model space).

    ``sheets`` are the old and new :class:`SheetSource` the sheets were rendered with, when the caller
    kept them; otherwise they are found again (:func:`find_sheets` measures every layout's extents, which
    costs about as much as the comparison itself on a dense drawing).
    """
    options = options or EntityCompareOptions()
    if sheets is None:
        old_sheet = _sheet(old_doc, layout_name, options)
        new_sheet = _sheet(new_doc, layout_name, options)
    else:
        old_sheet, new_sheet = sheets
    return _changes(_DocSide(old_doc, old_sheet, options), _DocSide(new_doc, new_sheet, options), options)


def index_changes(old: EntityIndex, new: EntityIndex, options: EntityCompareOptions | None = None) -> ChangeSet:
    """What :func:`entity_changes` finds, from the two sheets' stored indexes instead of their documents.

    :class:`IndexUnreadable` when an index was made with other options than ``options``.
    """
    options = options or EntityCompareOptions()
    for index in (old, new):
        made = (index.decimals, index.through_viewports, index.pad_pt)
        if made != (options.decimals, options.through_viewports, options.pad_pt):
            raise IndexUnreadable(
                "图元索引的生成参数与本次对比不同", "the entity index was made with other comparison options"
            )
    return _changes(_IndexSide(old), _IndexSide(new), options)


def _changes(old: _Side, new: _Side, options: EntityCompareOptions) -> ChangeSet:
    only_old, only_new, unchanged, kept = _split(old, new)
    removed = _shown(old, only_old)
    added = _shown(new, only_new)
    pairs: list[tuple[int, int]] = []
    if kept >= options.stable_handles:
        by_handle = {(new.handles[i], new.kinds[i]): a for a, (i, _) in enumerate(added)}
        for r, (i, _) in enumerate(removed):
            a = by_handle.pop((old.handles[i], old.kinds[i]), None)
            if a is not None:
                pairs.append((r, a))
    paired_old = {r for r, _ in pairs}
    paired_new = {a for _, a in pairs}
    rest_old = [i for i in range(len(removed)) if i not in paired_old]
    rest_new = [i for i in range(len(added)) if i not in paired_new]
    by_place = _pair_by_place(
        [(old.kinds[removed[i][0]], removed[i][1]) for i in rest_old],
        [(new.kinds[added[i][0]], added[i][1]) for i in rest_new],
        options.pair_distance_pt,
    )
    pairs += [(rest_old[r], rest_new[a]) for r, a in by_place]
    paired_old = {r for r, _ in pairs}
    paired_new = {a for _, a in pairs}
    found: list[tuple[Box, ChangeKind]] = []
    found += _kinded((b for i, (_, boxes) in enumerate(removed) for b in boxes if i in paired_old), ChangeKind.CHANGED)
    found += _kinded((b for i, (_, boxes) in enumerate(added) for b in boxes if i in paired_new), ChangeKind.CHANGED)
    found += _kinded(
        (b for i, (_, boxes) in enumerate(removed) for b in boxes if i not in paired_old), ChangeKind.REMOVED
    )
    found += _kinded((b for i, (_, boxes) in enumerate(added) for b in boxes if i not in paired_new), ChangeKind.ADDED)
    findings = []
    size = page_size_finding(
        (old.width, old.height), (new.width, new.height), 0 if new.is_modelspace else new.order - 1
    )
    if size is not None:
        findings.append(size)
    return ChangeSet(
        rectangles=merge_rectangles(found, options.merge_distance_pt, options.max_rectangles),
        method="entities",
        added=len(added) - len(pairs),
        removed=len(removed) - len(pairs),
        changed=len(pairs),
        unchanged=unchanged,
        findings=tuple(findings),
        page_width=new.width,
        page_height=new.height,
    )


def _kinded(boxes: Iterable[Box], kind: ChangeKind) -> list[tuple[Box, ChangeKind]]:
    return [(b, kind) for b in boxes]
