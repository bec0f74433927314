from __future__ import annotations

from shapely.geometry import Point

from review.compare.regions import ChangeKind, ChangeRect, ChangeSet, meets, merge_rectangles


def test_near_boxes_unite_and_far_ones_stay_apart() -> None:
    items = [
        ((10.0, 10.0, 20.0, 20.0), ChangeKind.ADDED),
        ((25.0, 10.0, 35.0, 20.0), ChangeKind.ADDED),
        ((300.0, 300.0, 310.0, 310.0), ChangeKind.REMOVED),
    ]
    merged = merge_rectangles(items, distance=12.0)
    assert [(r.bounds, r.kind) for r in merged] == [
        ((10.0, 10.0, 35.0, 20.0), ChangeKind.ADDED),
        ((300.0, 300.0, 310.0, 310.0), ChangeKind.REMOVED),
    ]


def test_a_region_with_different_kinds_is_changed() -> None:
    merged = merge_rectangles([((0, 0, 10, 10), ChangeKind.ADDED), ((5, 5, 15, 15), ChangeKind.REMOVED)])
    assert [r.kind for r in merged] == [ChangeKind.CHANGED]


def test_extents_that_reach_other_boxes_are_merged_again() -> None:
    # The first union's extent (an L of two boxes) overlaps a third box it did not touch at first.
    items = [
        ((0, 0, 100, 10), ChangeKind.ADDED),
        ((90, 0, 100, 100), ChangeKind.ADDED),
        ((40, 50, 50, 60), ChangeKind.ADDED),
    ]
    merged = merge_rectangles(items, distance=1.0)
    assert [r.bounds for r in merged] == [(0, 0, 100, 100)]


def test_too_many_regions_are_merged_until_they_fit() -> None:
    items = [((i * 30.0, j * 30.0, i * 30.0 + 5, j * 30.0 + 5), ChangeKind.ADDED) for i in range(20) for j in range(20)]
    merged = merge_rectangles(items, distance=2.0, max_count=50)
    assert 1 <= len(merged) <= 50
    covered = sum(r.area for r in merged)
    assert covered >= 570 * 570 * 0.9  # everything stays covered


def test_meets_takes_boxes_and_shapely_geometries() -> None:
    changes = ChangeSet(rectangles=(ChangeRect(100, 100, 200, 150, ChangeKind.CHANGED),), method="raster")
    assert meets(changes, (150, 140, 160, 170))
    assert not meets(changes, (300, 300, 320, 320))
    assert meets(changes, Point(210, 120).buffer(15))
    assert not meets(changes, Point(210, 120).buffer(5))
    assert meets(changes, Point(210, 120).buffer(5), margin=6)
    assert not meets(ChangeSet(rectangles=(), method="raster"), (0, 0, 1000, 1000))
    assert changes.count(ChangeKind.CHANGED) == 1
    assert changes.has_changes
