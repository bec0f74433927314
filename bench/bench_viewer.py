"""The viewer's markup layer while zooming and panning an A0 sheet, against redrawing the markups every frame.

An A0 sheet (3370 x 2384 pt) with dense linework is cut into its Deep Zoom pyramid; Chromium (Debian's, headless)
opens it in OpenSeadragon with a few thousand markups of every kind, and runs the same scripted sequence of animated
zooms and pans three ways in the same run:

- ``liantu``: the viewer's own layer (``app/web/static/viewer/overlay.js``): one SVG in sheet points, drawn once,
  moved by one CSS transform per frame;
- ``redraw``: the peer, what a plain implementation does: on every viewport update every markup is rebuilt in screen
  pixels (the same drawing code, points transformed);
- ``tiles``: no markups at all, the ceiling.

Printed per way: frames drawn, mean and 95th percentile frame interval, time spent in the viewport handler per
frame, and the page's JS heap. The ratio is the peer's handler time (and p95 frame) over Liantu's.

    .venv/bin/python bench/bench_viewer.py [--markups 3000] [--dpi 100]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import math
import random
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

A0 = (3370.0, 2384.0)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="csrf-token" content="">
<link rel="stylesheet" href="/static/liantu.css"><link rel="stylesheet" href="/static/viewer.css">
<style>#v { width: 1400px; height: 900px; position: relative; }</style></head>
<body>
<script type="application/json" id="viewer-config">{"messages": {}, "other_messages": {}, "locale": "zh-CN"}</script>
<div id="v"></div>
<script src="/vendor/openseadragon/openseadragon.min.js"></script>
<script type="module" src="/bench.js"></script></body></html>
"""

SCRIPT = """
import { SheetOverlay, drawMarkup, el } from "/static/viewer/overlay.js";
import { TEXT_SIZE } from "/static/viewer/geometry.js";

const params = new URLSearchParams(location.search);
const mode = params.get("mode");
const markups = await (await fetch("/markups.json")).json();
const descriptor = await (await fetch("/tiles/tiles.dzi")).text();
const dzi = new DOMParser().parseFromString(descriptor, "application/xml").documentElement;
const size = dzi.getElementsByTagName("Size")[0];
const viewer = OpenSeadragon({
  element: document.getElementById("v"), prefixUrl: "/vendor/openseadragon/images/", showNavigationControl: false,
  drawer: "canvas",
  tileSources: {
    width: Number(size.getAttribute("Width")), height: Number(size.getAttribute("Height")),
    tileSize: Number(dzi.getAttribute("TileSize")), tileOverlap: Number(dzi.getAttribute("Overlap")), minLevel: 0,
    getTileUrl: (l, x, y) => `/tiles/${l}/${x}_${y}.png`,
  },
});
await new Promise((resolve) => viewer.addOnceHandler("open", resolve));
const [W, H] = [__WIDTH__, __HEIGHT__];
let handlerMs = 0;
let updates = 0;
const timed = (fn) => () => { const t = performance.now(); fn(); handlerMs += performance.now() - t; updates += 1; };

if (mode === "liantu") {
  const overlay = new SheetOverlay(viewer, W, H);
  for (const value of markups) overlay.markups.appendChild(drawMarkup(value));
  // The overlay follows the viewport by itself; its handler is timed by wrapping follow().
  const follow = overlay.follow.bind(overlay);
  overlay.follow = timed(follow);
} else if (mode === "redraw") {
  const svg = el("svg", { width: 1400, height: 900 });
  svg.style.position = "absolute"; svg.style.left = "0"; svg.style.top = "0"; svg.style.pointerEvents = "none";
  viewer.canvas.appendChild(svg);
  const layer = el("g", {}, svg);
  const redraw = () => {
    const vp = viewer.viewport;
    const o = vp.pixelFromPoint(new OpenSeadragon.Point(0, 0), true);
    const s = vp.deltaPixelsFromPoints(new OpenSeadragon.Point(1, 0), true).x / W;
    const screen = ([x, y]) => [o.x + x * s, o.y + y * s];
    layer.replaceChildren();
    for (const value of markups) {
      const moved = Object.assign({}, value, {
        points: value.points.map(screen),
        box: value.box ? [...screen(value.box.slice(0, 2)), ...screen(value.box.slice(2))] : null,
        stroke_width: value.stroke_width * s, cloud_arc: value.cloud_arc * s,
      });
      layer.appendChild(drawMarkup(moved));
    }
  };
  viewer.addHandler("update-viewport", timed(redraw));
  redraw();
}

await new Promise((resolve) => setTimeout(resolve, 500));
const intervals = [];
let last = performance.now();
let running = true;
const tick = (now) => { intervals.push(now - last); last = now; if (running) requestAnimationFrame(tick); };
const animate = (step) => new Promise((resolve) => { viewer.addOnceHandler("animation-finish", resolve); step(); });
handlerMs = 0; updates = 0;
requestAnimationFrame((now) => { last = now; requestAnimationFrame(tick); });
const vp = viewer.viewport;
for (let round = 0; round < 3; round++) {
  await animate(() => vp.zoomBy(4));
  await animate(() => vp.panBy(new OpenSeadragon.Point(0.15, 0.05)));
  await animate(() => vp.zoomBy(3));
  await animate(() => vp.panBy(new OpenSeadragon.Point(-0.1, 0.08)));
  await animate(() => vp.goHome());
}
running = false;
intervals.sort((a, b) => a - b);
window.result = {
  frames: intervals.length,
  meanFrame: intervals.reduce((a, b) => a + b, 0) / intervals.length,
  p95Frame: intervals[Math.floor(intervals.length * 0.95)],
  handlerPerFrame: updates ? handlerMs / updates : 0,
  heapMb: performance.memory ? performance.memory.usedJSHeapSize / 1e6 : NaN,
};
"""


def a0_pdf() -> bytes:
    """An A0 sheet of dense linework: a structural grid, rooms, walls and text."""
    import pymupdf

    document = pymupdf.open()
    page = document.new_page(width=A0[0], height=A0[1])
    shape = page.new_shape()
    rng = random.Random(7)
    for i in range(0, int(A0[0]), 12):
        shape.draw_line((i, 40), (i, A0[1] - 40))
    for j in range(0, int(A0[1]), 12):
        shape.draw_line((40, j), (A0[0] - 40, j))
    shape.finish(color=(0.75, 0.75, 0.75), width=0.2)
    for _ in range(8000):
        x, y = rng.uniform(60, A0[0] - 160), rng.uniform(60, A0[1] - 160)
        shape.draw_rect(pymupdf.Rect(x, y, x + rng.uniform(10, 90), y + rng.uniform(10, 90)))
    shape.finish(color=(0, 0, 0), width=0.6)
    shape.commit()
    for k in range(300):
        page.insert_text((60 + (k % 20) * 160, 80 + (k // 20) * 150), f"房间 {k}", fontname="china-s", fontsize=9)
    return bytes(document.tobytes())


def sample_markups(count: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    kinds = ["rectangle", "ellipse", "cloud", "polygon", "polyline", "arrow", "free_text", "freehand", "highlight"]
    found = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        x, y = rng.uniform(100, A0[0] - 300), rng.uniform(100, A0[1] - 300)
        w, h = rng.uniform(30, 200), rng.uniform(30, 200)
        value: dict[str, Any] = {
            "kind": kind,
            "points": [[x, y], [x + w, y + h]],
            "text": "",
            "box": None,
            "colour": "#e60012",
            "stroke_width": 1.5,
            "opacity": 0.35 if kind == "highlight" else 1.0,
            "cloud_arc": 12.0 if kind == "cloud" else 0.0,
        }
        if kind in ("cloud", "polygon"):
            value["points"] = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
        elif kind in ("polyline", "freehand"):
            value["points"] = [[x + t * w / 40, y + h / 2 + math.sin(t / 3) * h / 3] for t in range(41)]
        elif kind == "arrow":
            value["text"] = "见详图"
        elif kind == "free_text":
            value["points"] = [[x, y]]
            value["box"] = [x, y, x + w, y + 20]
            value["text"] = "核对防火门"
        found.append(value)
    return found


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, folder: Path, **kwargs: Any) -> None:
        self.folder = folder
        super().__init__(*args, directory=str(folder), **kwargs)

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0]
        if clean.startswith("/static/"):
            return str(ROOT / "app" / "web" / clean.lstrip("/"))
        if clean.startswith("/vendor/"):
            return str(ROOT / "app" / "static" / clean.lstrip("/"))
        return str(self.folder / clean.lstrip("/"))

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markups", type=int, default=3000)
    parser.add_argument("--dpi", type=float, default=100.0)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from review.tiles.dzi import TileOptions, build_pyramid

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        tiles = folder / "tiles"

        def put(tile: str, data: bytes) -> None:
            path = tiles / tile
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        pyramid = build_pyramid(a0_pdf(), 0, put, TileOptions(dpi=args.dpi))
        (tiles / "tiles.dzi").write_bytes(pyramid.descriptor())
        (folder / "index.html").write_text(PAGE, encoding="utf-8")
        (folder / "bench.js").write_text(
            SCRIPT.replace("__WIDTH__", str(A0[0])).replace("__HEIGHT__", str(A0[1])), encoding="utf-8"
        )
        (folder / "markups.json").write_text(json.dumps(sample_markups(args.markups)), encoding="utf-8")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, folder=folder))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        print(f"A0 sheet at {args.dpi:g} dpi: {pyramid.width} x {pyramid.height} px, {args.markups} markups")
        results: dict[str, dict[str, float]] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for mode in ("tiles", "liantu", "redraw"):
                page = browser.new_page(viewport={"width": 1440, "height": 960})
                page.goto(f"{base}/index.html?mode={mode}")
                page.wait_for_function("() => window.result", timeout=300_000)
                results[mode] = page.evaluate("() => window.result")
                page.close()
            browser.close()
        server.shutdown()

    print(f"{'way':8} {'frames':>7} {'mean frame':>11} {'p95 frame':>10} {'handler/frame':>14} {'JS heap':>8}")
    for mode, r in results.items():
        print(
            f"{mode:8} {r['frames']:7.0f} {r['meanFrame']:9.1f}ms {r['p95Frame']:8.1f}ms "
            f"{r['handlerPerFrame']:12.3f}ms {r['heapMb']:6.1f}MB"
        )
    ours, peer = results["liantu"], results["redraw"]
    print(
        f"redraw / liantu: handler time per frame {peer['handlerPerFrame'] / max(ours['handlerPerFrame'], 1e-6):.0f}x, "
        f"p95 frame {peer['p95Frame'] / ours['p95Frame']:.1f}x; liantu p95 frame / tiles alone "
        f"{ours['p95Frame'] / results['tiles']['p95Frame']:.2f}x"
    )


if __name__ == "__main__":
    main()
