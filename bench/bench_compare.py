"""Comparing two revisions of a dense A1 sheet: pixel comparison of the PDF pages and entity comparison of
the DXF layouts.

Both revisions hold ~60k paths (entities); the new one differs in a few regions (paths removed, added and
moved). Each measurement runs in its own subprocess so that its peak RSS (``ru_maxrss`` of the child) is
its own. The DXF revisions are written and read back with renumbered handles, as a CAD program saves them.

    .venv/bin/python bench/bench_compare.py [--paths 60000] [--dpi 96]

``raster`` uses the default options (2 antialiasing bits, hairlines drawn a pixel wide, threshold 64, a 2-pixel
opening of the changed pixels); ``raster-aa8`` the former defaults (full antialiasing, threshold 48, no
minimum line width, no opening), for comparison (see ``RasterCompareOptions``). ``render`` is the peer: PyMuPDF
rendering both pages to grey pixmaps at the same resolution, the floor any picture comparison pays.
``job-pdf`` and ``job-dxf`` time what the platform's ``sheet_revision.compare`` job computes for a sheet
(:func:`app.rounds.compare.changes_between` plus the overlay PNG composed by ``Compared.overlay``), from the
stored bytes: ``job-dxf`` from the two entity indexes intake stored (made by ``index-build``, intake's cost,
timed for both sheets once their DXF is read and their layouts found) and the overlay from both sheets' stored
Deep Zoom tiles (made by ``tiles-build``, intake's render jobs at 300 dpi, also timed for both sheets),
``job-dxf-render`` the same with the overlay rendered from both sheet PDFs (the fallback when tiles are missing),
``job-dxf-read`` the fallback for sheets split before indexes were stored (both DXF read again).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
A1_MM = (841.0, 594.0)
A1_POINTS = (A1_MM[0] * 72 / 25.4, A1_MM[1] * 72 / 25.4)
# Changed regions (mm on paper, origin bottom left): removed paths, added paths, moved paths.
REMOVED = (100.0, 100.0, 160.0, 140.0)
ADDED = (500.0, 400.0, 560.0, 430.0)
MOVED = (650.0, 150.0, 700.0, 200.0)


def _shapes(paths: int, seed: int) -> list[tuple[str, list[tuple[float, float]]]]:
    """``paths`` lines, rectangles and polylines scattered over the paper (mm)."""
    rng = random.Random(seed)
    width, height = A1_MM
    shapes = []
    for i in range(paths):
        x, y = rng.uniform(10, width - 30), rng.uniform(10, height - 30)
        if i % 3 == 0:
            shapes.append(("line", [(x, y), (x + rng.uniform(-20, 20), y + rng.uniform(-20, 20))]))
        elif i % 3 == 1:
            w, h = rng.uniform(1, 12), rng.uniform(1, 12)
            shapes.append(("poly", [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]))
        else:
            shapes.append(("poly", [(x + rng.uniform(-8, 8), y + rng.uniform(-8, 8)) for _ in range(5)]))
    return shapes


def _inside(points: list[tuple[float, float]], area: tuple[float, float, float, float]) -> bool:
    return all(area[0] <= x <= area[2] and area[1] <= y <= area[3] for x, y in points)


def revisions(paths: int) -> tuple[list[tuple[str, list[tuple[float, float]]]], ...]:
    """The old and the new revision's shapes."""
    old = _shapes(paths, 1)
    new = []
    for kind, points in old:
        if _inside(points, REMOVED):
            continue
        moved = _inside(points, MOVED)
        new.append((kind, [(x + 4.0, y - 3.0) for x, y in points] if moved else points))
    rng = random.Random(2)
    for _ in range(40):
        x, y = rng.uniform(ADDED[0], ADDED[2] - 10), rng.uniform(ADDED[1], ADDED[3] - 10)
        new.append(("line", [(x, y), (x + 8, y + rng.uniform(-5, 5))]))
    return old, new


def to_pdf(shapes: list[tuple[str, list[tuple[float, float]]]]) -> bytes:
    import pymupdf

    k = 72 / 25.4
    ops = ["0.5 w 0 0 0 RG"]
    for _, points in shapes:
        (x0, y0), rest = points[0], points[1:]
        ops.append(f"{x0 * k:.2f} {y0 * k:.2f} m " + " ".join(f"{x * k:.2f} {y * k:.2f} l" for x, y in rest) + " S")
    document = pymupdf.open()
    page = document.new_page(width=A1_POINTS[0], height=A1_POINTS[1])
    xref = document.get_new_xref()
    document.update_object(xref, "<<>>")
    document.update_stream(xref, "\n".join(ops).encode())
    document.xref_set_key(page.xref, "Contents", f"{xref} 0 R")
    data: bytes = document.tobytes(deflate=True)
    return data


def to_dxf(shapes: list[tuple[str, list[tuple[float, float]]]], renumber: int) -> bytes:
    import io

    import ezdxf

    doc = ezdxf.new("R2010", units=4)
    layout = doc.layouts.new("A-101")
    layout.page_setup(size=A1_MM, margins=(0, 0, 0, 0), units="mm")
    for _ in range(renumber):  # use up handles so that every entity gets another one than in the other file
        layout.delete_entity(layout.add_point((0, 0)))
    for kind, points in shapes:
        if kind == "line":
            layout.add_line(points[0], points[1], dxfattribs={"layer": "A-WALL"})
        else:
            layout.add_lwpolyline(points, dxfattribs={"layer": "A-DETL"})
    stream = io.StringIO()
    doc.write(stream)
    return stream.getvalue().encode()


def _index_build(old: str, new: str) -> tuple[float, float, Any, str]:
    """The entity indexes of both sheets, as intake makes them once their DXF is read; written beside them."""
    from review.compare.entities import entity_index
    from review.compare.regions import ChangeSet
    from review.drawing.dxf_reader import ReadOptions, read_dxf
    from review.drawing.layouts import find_sheets

    docs = [read_dxf(Path(path).read_bytes(), ReadOptions(audit=False)).doc for path in (old, new)]
    sheets = [find_sheets(doc)[0] for doc in docs]  # intake has found them already when it renders
    start, cpu_start = time.perf_counter(), time.process_time()
    blobs = [entity_index(doc, "A-101", sheet=sheet).to_bytes() for doc, sheet in zip(docs, sheets, strict=True)]
    for path, blob in zip((old, new), blobs, strict=True):
        Path(path).with_suffix(".npz").write_bytes(blob)
    changes = ChangeSet(rectangles=(), method="index")
    notes = f"(both_sheets;_index_{len(blobs[1]) / 1024:.0f}_KiB_per_sheet)"
    return start, cpu_start, changes, notes


def _tiles_build(old: str, new: str) -> tuple[float, float, Any, str]:
    """Both sheet PDFs' Deep Zoom pyramids as intake's render jobs store them; their keys written beside them."""
    import io

    from app.intake.steps_render import build_view
    from review.compare.regions import ChangeSet
    from storage.blobstore import LocalBlobStore

    store = LocalBlobStore(Path(old).parent / "store")
    pdfs = [Path(path).with_suffix(".pdf") for path in (old, new)]
    start, cpu_start = time.perf_counter(), time.process_time()
    for pdf in pdfs:
        store.put_stream(f"derived/sheets/{pdf.stem}.pdf", io.BytesIO(pdf.read_bytes()), content_type="application/pdf")
        view = build_view(store, f"derived/sheets/{pdf.stem}.pdf")
        pdf.with_suffix(".tiles").write_text(view.tiles_key)
    return start, cpu_start, ChangeSet(rectangles=(), method="tiles"), "(both_sheets,_300_dpi)"


def _job(mode: str, old: str, new: str) -> tuple[float, float, Any, str]:
    """What the compare job computes: from the stored indexes (``job-dxf``), the DXF (``job-dxf-read``) or PDF."""
    from functools import partial

    from app.rounds.compare import _Side, _stored_level, changes_between
    from review.compare.index import EntityIndex
    from storage.blobstore import LocalBlobStore

    dxf = "dxf" in mode
    indexed = mode in ("job-dxf", "job-dxf-render")
    tiled = mode == "job-dxf"
    store = LocalBlobStore(Path(old).parent / "store")
    pdf_old = Path(old).with_suffix(".pdf").read_bytes()
    pdf_new = Path(new).with_suffix(".pdf").read_bytes()
    start, cpu_start = time.perf_counter(), time.process_time()
    sides = [
        _Side(
            pdf,
            "",
            partial(Path(path).read_bytes) if dxf else None,
            "A-101",
            EntityIndex.from_bytes(Path(path).with_suffix(".npz").read_bytes()) if indexed else None,
            partial(_stored_level, store, Path(path).with_suffix(".tiles").read_text(), A1_POINTS[0])
            if tiled
            else None,
        )
        for pdf, path in ((pdf_old, old), (pdf_new, new))
    ]
    found = changes_between(sides[0], sides[1])
    changes = found.changes
    compared = time.perf_counter() - start
    found.overlay(sides[0], sides[1])
    how = "from_stored_tiles" if tiled else "rendered" if found.pictures is None else "from_compared_rasters"
    notes = f"(compare_{compared:.2f}_s,_overlay_PNG_{how}_{time.perf_counter() - start - compared:.2f}_s)"
    return start, cpu_start, changes, notes


def _child(mode: str, old: str, new: str, dpi: float) -> None:
    """Runs in the subprocess: prints 'seconds cpu_seconds notes rectangles added removed changed peak_rss_kb'."""
    notes = "-"
    if mode == "render":
        import pymupdf

        from review.compare.regions import ChangeSet

        start, cpu_start = time.perf_counter(), time.process_time()
        for path in (old, new):
            with pymupdf.open(path) as document:
                document[0].get_pixmap(
                    matrix=pymupdf.Matrix(dpi / 72, dpi / 72), colorspace=pymupdf.csGRAY, alpha=False
                )
        changes = ChangeSet(rectangles=(), method="render")
        notes = f"at_{dpi:g}_dpi"
    elif mode == "index-build":
        start, cpu_start, changes, notes = _index_build(old, new)
    elif mode == "tiles-build":
        start, cpu_start, changes, notes = _tiles_build(old, new)
    elif mode.startswith("job"):
        start, cpu_start, changes, notes = _job(mode, old, new)
    elif mode.startswith("raster"):
        from review.compare.raster import RasterCompareOptions, raster_changes

        options = RasterCompareOptions(dpi=dpi)
        if mode.endswith("aa8"):
            options = RasterCompareOptions(dpi=dpi, antialias=8, threshold=48, min_line_px=0.0, opening_px=0)
        old_pdf, new_pdf = Path(old).read_bytes(), Path(new).read_bytes()
        start, cpu_start = time.perf_counter(), time.process_time()
        changes = raster_changes(old_pdf, 0, new_pdf, 0, options)
        notes = f"at_{dpi:g}_dpi,_antialias_{options.antialias}"
    else:
        from review.compare.entities import entity_changes
        from review.drawing.dxf_reader import ReadOptions, read_dxf
        from review.drawing.layouts import find_sheets

        start, cpu_start = time.perf_counter(), time.process_time()
        old_doc = read_dxf(Path(old).read_bytes(), ReadOptions(audit=False)).doc
        new_doc = read_dxf(Path(new).read_bytes(), ReadOptions(audit=False)).doc
        read_seconds = time.perf_counter() - start
        start, cpu_start = time.perf_counter(), time.process_time()
        sheets = (find_sheets(old_doc)[0], find_sheets(new_doc)[0])
        find_seconds = time.perf_counter() - start
        start, cpu_start = time.perf_counter(), time.process_time()
        changes = entity_changes(old_doc, new_doc, "A-101", sheets=sheets)
        notes = f"(+_reading_both_DXF_{read_seconds:.2f}_s,_find_sheets_on_both_{find_seconds:.2f}_s)"
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(seconds, cpu, notes, len(changes.rectangles), changes.added, changes.removed, changes.changed, peak)
    for r in changes.rectangles:
        print("rect", r.kind.value, *(f"{v * 25.4 / 72:.0f}" for v in r.bounds))


def _measure(mode: str, old: Path, new: Path, dpi: float) -> tuple[list[str], list[str]]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(old), str(new), "--dpi", str(dpi)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.splitlines()
    return out[0].split(), out[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=60_000)
    parser.add_argument("--dpi", type=float, default=96.0)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "OLD", "NEW"))
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.dpi)
        return
    sys.path.insert(0, str(ROOT))
    old, new = revisions(args.paths)
    print(f"A1 sheet, {len(old)} paths old, {len(new)} new; changed areas (mm, origin bottom left):")
    print(f"  removed {REMOVED}, added {ADDED}, moved {MOVED}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "old.pdf").write_bytes(to_pdf(old))
        (folder / "new.pdf").write_bytes(to_pdf(new))
        (folder / "old.dxf").write_bytes(to_dxf(old, 0))
        (folder / "new.dxf").write_bytes(to_dxf(new, 1000))
        results = {}
        modes = (
            ("render", "pdf"),
            ("raster", "pdf"),
            ("raster-aa8", "pdf"),
            ("entities", "dxf"),
            ("job-pdf", "pdf"),
            ("index-build", "dxf"),
            ("tiles-build", "dxf"),
            ("job-dxf", "dxf"),
            ("job-dxf-render", "dxf"),
            ("job-dxf-read", "dxf"),
        )
        for mode, suffix in modes:
            figures, rects = _measure(mode, folder / f"old.{suffix}", folder / f"new.{suffix}", args.dpi)
            seconds, cpu, notes, count, added, removed, changed, peak = figures
            results[mode] = float(seconds)
            print(
                f"{mode:12s}: {float(seconds):.2f} s (CPU {float(cpu):.2f} s) {notes.replace('_', ' ')};"
                f" {count} rectangles (added {added}, removed {removed}, changed {changed});"
                f" peak RSS {int(peak) / 1024:.0f} MB"
            )
            # Rectangles in mm from the top left of the sheet.
            for line in rects:
                print("   ", line)
        print(f"raster compare / PyMuPDF render of both pages: {results['raster'] / results['render']:.2f}x")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
