"""The entity index of one DXF sheet (图元索引), made once when the sheet is split out and compared later.

Per entity of the sheet (in the order the comparison walks them): a 16-byte digest of its fingerprint, its
handle, its DXF type, whether it lies on the sheet's own layout, and its boxes on the sheet in points (one per
viewport that shows it). With the sheet's paper size and order this is all that
:func:`review.compare.entities.index_changes` needs: comparing two revisions no longer reads their DXF.

The bytes are a compressed NumPy ``.npz`` of plain arrays, read back with ``allow_pickle=False``: an index
is read from the object store, and a pickle would run code.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from review.compare.errors import CompareError
from review.compare.regions import Box

INDEX_FORMAT = 1
"""Version of the stored layout of an index; an index of another version cannot be read."""
DIGEST_SIZE = 16
"""Bytes of a fingerprint digest."""


class IndexUnreadable(CompareError):
    """Stored bytes that are not an entity index of this version, or one made with other options."""

    code = "COMPARE_INDEX_UNREADABLE"


@dataclass(frozen=True, eq=False)
class EntityIndex:
    """The entities of one sheet as the entity comparison sees them."""

    layout_name: str
    """``Model`` for model space, else the layout tab name."""
    order: int
    """Position among the drawing's sheets (model space 0)."""
    is_modelspace: bool
    page_width: float
    """Sheet width in points."""
    page_height: float
    """Sheet height in points."""
    decimals: int
    """:attr:`EntityCompareOptions.decimals` the fingerprints were made with."""
    through_viewports: bool
    """:attr:`EntityCompareOptions.through_viewports` the index was made with."""
    pad_pt: float
    """:attr:`EntityCompareOptions.pad_pt` added around every box."""
    fingerprints: bytes
    """``DIGEST_SIZE`` bytes per entity, concatenated."""
    handles: tuple[str, ...]
    kinds: tuple[str, ...]
    """DXF type of each entity (``LINE``, ``INSERT`` …)."""
    own: NDArray[np.bool_]
    """True for entities of the sheet's own layout, False for model space seen through a viewport."""
    box_offsets: NDArray[np.int64]
    """Entity ``i`` has the boxes ``boxes[box_offsets[i]:box_offsets[i + 1]]``."""
    boxes: NDArray[np.float64]
    """``(n, 4)``: x0, y0, x1, y1 on the sheet in points, origin top left, padded."""

    def __len__(self) -> int:
        return len(self.handles)

    def fingerprint_list(self) -> list[bytes]:
        data = self.fingerprints
        return [data[i : i + DIGEST_SIZE] for i in range(0, len(data), DIGEST_SIZE)]

    def boxes_of(self, i: int) -> list[Box]:
        rows: list[list[float]] = self.boxes[self.box_offsets[i] : self.box_offsets[i + 1]].tolist()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def to_bytes(self) -> bytes:
        """The index as a compressed ``.npz`` of plain arrays."""
        out = io.BytesIO()
        np.savez_compressed(
            out,
            format=np.array(INDEX_FORMAT, dtype=np.int64),
            layout_name=np.array(self.layout_name),
            order=np.array(self.order, dtype=np.int64),
            is_modelspace=np.array(self.is_modelspace),
            page=np.array([self.page_width, self.page_height], dtype=np.float64),
            decimals=np.array(self.decimals, dtype=np.int64),
            through_viewports=np.array(self.through_viewports),
            pad_pt=np.array(self.pad_pt, dtype=np.float64),
            fingerprints=np.frombuffer(self.fingerprints, dtype=np.uint8),
            handles=np.array(self.handles, dtype=np.str_),
            kinds=np.array(self.kinds, dtype=np.str_),
            own=self.own,
            box_offsets=self.box_offsets,
            boxes=self.boxes,
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> EntityIndex:
        """An index read back; :class:`IndexUnreadable` for anything else."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                arrays: dict[str, Any] = {name: stored[name] for name in stored.files}
            if int(arrays["format"]) != INDEX_FORMAT:
                raise IndexUnreadable("图元索引版本不符", "the entity index is of another version")
            count = len(arrays["handles"])
            index = cls(
                layout_name=str(arrays["layout_name"]),
                order=int(arrays["order"]),
                is_modelspace=bool(arrays["is_modelspace"]),
                page_width=float(arrays["page"][0]),
                page_height=float(arrays["page"][1]),
                decimals=int(arrays["decimals"]),
                through_viewports=bool(arrays["through_viewports"]),
                pad_pt=float(arrays["pad_pt"]),
                fingerprints=arrays["fingerprints"].astype(np.uint8).tobytes(),
                handles=tuple(arrays["handles"].tolist()),
                kinds=tuple(arrays["kinds"].tolist()),
                own=arrays["own"].astype(np.bool_),
                box_offsets=arrays["box_offsets"].astype(np.int64),
                boxes=arrays["boxes"].astype(np.float64).reshape(-1, 4),
            )
        except (KeyError, ValueError, TypeError, IndexError, OSError, EOFError, zipfile.BadZipFile) as exc:
            if isinstance(exc, IndexUnreadable):
                raise
            raise IndexUnreadable("图元索引无法读取", "the entity index cannot be read") from exc
        if (
            len(index.kinds) != count
            or len(index.own) != count
            or len(index.fingerprints) != count * DIGEST_SIZE
            or len(index.box_offsets) != count + 1
            or (count and int(index.box_offsets[-1]) != len(index.boxes))
        ):
            raise IndexUnreadable("图元索引不完整", "the entity index is incomplete")
        return index
