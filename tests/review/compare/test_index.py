from __future__ import annotations

from collections.abc import Callable

import ezdxf
import numpy as np
import pytest
from ezdxf.document import Drawing

from review.compare.entities import EntityCompareOptions, entity_changes, entity_index, index_changes
from review.compare.index import EntityIndex, IndexUnreadable
from review.compare.regions import ChangeSet
from tests.review.compare.conftest import LAYOUT, plan, resave


def _stored(doc: Drawing, layout: str = LAYOUT) -> EntityIndex:
    """An index as the compare job gets it: made, turned into bytes, read back."""
    return EntityIndex.from_bytes(entity_index(doc, layout).to_bytes())


def _edited_text() -> tuple[Drawing, Drawing]:
    old = plan()
    new = resave(old)
    next(e for e in new.modelspace() if e.dxftype() == "TEXT").dxf.text = "ROOM 102"
    return old, new


def _changed_block() -> tuple[Drawing, Drawing]:
    old, new = plan(), plan()
    new.blocks.get("DOOR").add_line((0, 0), (0, 900))
    return old, new


def _outside_viewport() -> tuple[Drawing, Drawing]:
    old, new = plan(), plan()
    new.modelspace().add_circle((90000, 90000), 500)
    new.modelspace().add_circle((10000, 10000), 500)
    return old, new


PAIRS: dict[str, Callable[[], tuple[Drawing, Drawing]]] = {
    "same": lambda: (plan(), plan()),
    "renumbered": lambda: (plan(), resave(plan(renumbered=True))),
    "modified": lambda: (plan(), plan(modified=True)),
    "modified-resaved": lambda: (resave(plan()), resave(plan(modified=True, renumbered=True))),
    "edited-text": _edited_text,
    "changed-block": _changed_block,
    "outside-viewport": _outside_viewport,
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_index_compare_equals_document_compare(name: str) -> None:
    old, new = PAIRS[name]()
    direct = entity_changes(old, new, LAYOUT)
    from_indexes = index_changes(_stored(old), _stored(new))
    assert isinstance(from_indexes, ChangeSet)
    assert from_indexes == direct


def test_index_compare_of_model_space_sheets() -> None:
    def drawing(extra: bool) -> Drawing:
        doc = ezdxf.new("R2010", units=4)
        doc.modelspace().add_lwpolyline([(0, 0), (40000, 0), (40000, 28000), (0, 28000)], close=True)
        if extra:
            doc.modelspace().add_circle((10000, 10000), 500)
        return doc

    old, new = drawing(False), drawing(True)
    changes = index_changes(_stored(old, "Model"), _stored(new, "Model"))
    assert (changes.added, changes.removed, changes.changed) == (1, 0, 0)
    assert changes == entity_changes(old, new, "Model")


def test_an_index_round_trips_through_its_bytes() -> None:
    made = entity_index(plan(modified=True), LAYOUT)
    back = EntityIndex.from_bytes(made.to_bytes())
    assert len(made) > 30
    assert back.layout_name == LAYOUT
    assert (back.order, back.is_modelspace) == (made.order, made.is_modelspace)
    assert (back.page_width, back.page_height) == (made.page_width, made.page_height)
    assert back.fingerprints == made.fingerprints
    assert back.handles == made.handles
    assert back.kinds == made.kinds
    assert np.array_equal(back.own, made.own)
    assert np.array_equal(back.box_offsets, made.box_offsets)
    assert np.array_equal(back.boxes, made.boxes)
    # Every entity of the layout has a box; model space entities have one per viewport that shows them.
    assert all(back.boxes_of(i) for i in range(len(back)) if back.own[i])


def test_other_bytes_are_refused() -> None:
    good = entity_index(plan(), LAYOUT).to_bytes()
    for bad in (b"", b"not an index", good[: len(good) // 2]):
        with pytest.raises(IndexUnreadable):
            EntityIndex.from_bytes(bad)


def test_an_index_made_with_other_options_is_refused() -> None:
    index = entity_index(plan(), LAYOUT)
    with pytest.raises(IndexUnreadable):
        index_changes(index, index, EntityCompareOptions(decimals=1))


def test_coordinates_rounded_to_minus_zero_equal_zero() -> None:
    def drawing(x: float) -> Drawing:
        doc = ezdxf.new("R2010", units=4)
        doc.modelspace().add_lwpolyline([(0, 0), (40000, 0), (40000, 28000), (0, 28000)], close=True)
        doc.modelspace().add_line((x, 100), (1000, 100))
        return doc

    changes = entity_changes(drawing(-0.0001), drawing(0.0001), "Model")
    assert (changes.added, changes.removed, changes.changed) == (0, 0, 0)
    assert index_changes(_stored(drawing(-0.0001), "Model"), _stored(drawing(0.0001), "Model")) == changes
