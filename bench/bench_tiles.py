"""Deep Zoom pyramid vs a bare PyMuPDF full-page render, same page, same resolution.

Each measurement runs in its own subprocess so that its peak RSS (``ru_maxrss`` of the child) is its own.
Pages: a generated A0 sheet with ~60k stroked vector paths, and the samples' ARCH D site plan.

    .venv/bin/python bench/bench_tiles.py [--dpi 300] [--paths 60000]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "samples" / "pdf_drawings" / "pdfjs_landscape_site_plan_archD.pdf"

A0_POINTS = (3370.39, 2383.94)
WORKERS = 2


def dense_a0(paths: int, seed: int = 1) -> bytes:
    """An A0 landscape page of ``paths`` separately stroked lines, rectangles and polylines."""
    import pymupdf

    rng = random.Random(seed)
    width, height = A0_POINTS
    ops = ["0.3 w 0 0 0 RG"]
    for i in range(paths):
        x, y = rng.uniform(20, width - 20), rng.uniform(20, height - 20)
        if i % 3 == 0:
            ops.append(f"{x:.2f} {y:.2f} m {x + rng.uniform(-80, 80):.2f} {y + rng.uniform(-80, 80):.2f} l S")
        elif i % 3 == 1:
            ops.append(f"{x:.2f} {y:.2f} {rng.uniform(2, 40):.2f} {rng.uniform(2, 40):.2f} re S")
        else:
            pts = " ".join(f"{x + rng.uniform(-30, 30):.2f} {y + rng.uniform(-30, 30):.2f} l" for _ in range(4))
            ops.append(f"{x:.2f} {y:.2f} m {pts} S")
    document = pymupdf.open()
    page = document.new_page(width=width, height=height)
    xref = document.get_new_xref()
    document.update_object(xref, "<<>>")
    document.update_stream(xref, "\n".join(ops).encode())
    document.xref_set_key(page.xref, "Contents", f"{xref} 0 R")
    return document.tobytes(deflate=True)


def _child(mode: str, pdf: str, dpi: float) -> None:
    """Runs in the subprocess: one measurement, prints 'wall_seconds cpu_seconds tiles peak_rss_kb'.

    Imports happen before the clock starts; CPU time is the process's, all threads included.
    """
    import pymupdf

    from review.tiles.dzi import TileOptions, build_pyramid

    data = Path(pdf).read_bytes()
    count = [0]

    def put(name: str, blob: bytes) -> None:
        count[0] += 1

    start, cpu = time.perf_counter(), time.process_time()
    if mode == "bare":
        document = pymupdf.open(stream=data, filetype="pdf")
        document[0].get_pixmap(dpi=round(dpi))
    else:
        build_pyramid(data, 0, put, TileOptions(dpi=dpi, workers=WORKERS))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{seconds:.3f} {cpu:.3f} {count[0]} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


def measure(mode: str, pdf: Path, dpi: float) -> tuple[float, float, int, float]:
    """Wall seconds, CPU seconds, tiles and peak RSS in MB of one measurement in a fresh subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(pdf), str(dpi)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.split()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # RUSAGE_CHILDREN's ru_maxrss is the largest of all children so far; when it did not grow, this child
    # stayed below an earlier one and its own RUSAGE_SELF figure (same number, one child) is used.
    peak_kb = after if after > before else int(out[3])
    return float(out[0]), float(out[1]), int(out[2]), peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dpi", type=float, default=300.0)
    parser.add_argument("--paths", type=int, default=60000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measurement; the fastest counts")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "PDF", "DPI"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], float(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as folder:
        generated = Path(folder) / "dense_a0.pdf"
        generated.write_bytes(dense_a0(args.paths))
        pages = [(f"generated A0, {args.paths} paths", generated)]
        if SAMPLE.exists():
            pages.append(("sample ARCH D site plan", SAMPLE))
        print(f"dpi {args.dpi:.0f}; times in seconds (wall / CPU of the child); peak RSS in MB")
        for label, pdf in pages:
            # The fastest of a few runs: other work on the machine only ever adds time.
            pyramid_s, pyramid_cpu, tiles, pyramid_mb = min(
                measure("pyramid", pdf, args.dpi) for _ in range(args.repeat)
            )
            bare_s, bare_cpu, _, bare_mb = min(measure("bare", pdf, args.dpi) for _ in range(args.repeat))
            print(f"{label}:")
            print(f"  bare page.get_pixmap  {bare_s:7.2f} / {bare_cpu:6.2f}   peak {bare_mb:5.0f} MB")
            print(f"  DZI pyramid           {pyramid_s:7.2f} / {pyramid_cpu:6.2f}   peak {pyramid_mb:5.0f} MB")
            print(
                f"  ratio wall {pyramid_s / bare_s:.2f}, CPU {pyramid_cpu / bare_cpu:.2f}; "
                f"{tiles} tiles, {tiles / pyramid_s:.0f} tiles/s"
            )


if __name__ == "__main__":
    main()
