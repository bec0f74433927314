// Drawing gestures on the sheet: two corners, vertices, a pen stroke, or two points to measure.
import { BOX_KINDS, DEFAULT_CLOUD_ARC, HIGHLIGHT_OPACITY, VERTEX_KINDS, distance, num } from "./geometry.js";
import { msg } from "./i18n.js";
import { drawMarkup, el } from "./overlay.js";

const DRAG_KINDS = new Set([...BOX_KINDS, "arrow", "free_text"]);
const MIN_PIXELS = 3;

export class Tools extends EventTarget {
  constructor(overlay, markups, options) {
    super();
    this.overlay = overlay;
    this.markups = markups;
    this.options = options; // {colour(), track(), text(), onMeasure(a, b)}
    this.tool = null;
    this.gesture = null;
    const capture = overlay.capture;
    capture.addEventListener("pointerdown", (e) => this.down(e));
    capture.addEventListener("pointermove", (e) => this.move(e));
    capture.addEventListener("pointerup", (e) => this.up(e));
    capture.addEventListener("dblclick", (e) => {
      e.stopPropagation();
      this.finish();
    });
  }

  use(tool) {
    this.cancel();
    this.tool = tool;
    const drawing = tool !== null && tool !== "select";
    this.overlay.setCapturing(drawing, tool);
    this.markups.selecting = tool === "select";
    this.overlay.svg.classList.toggle("selecting", tool === "select");
    this.dispatchEvent(new Event("tool"));
  }

  cancel() {
    this.gesture = null;
    this.overlay.draft.replaceChildren();
  }

  value(kind, points, extra) {
    return Object.assign(
      {
        kind,
        points,
        text: "",
        box: null,
        colour: this.options.colour(),
        stroke_width: 1.5,
        opacity: kind === "highlight" ? HIGHLIGHT_OPACITY : 1,
        cloud_arc: kind === "cloud" ? DEFAULT_CLOUD_ARC : 0,
      },
      extra || {}
    );
  }

  preview(value) {
    this.overlay.draft.replaceChildren();
    const g = drawMarkup(value);
    g.classList.add("preview");
    this.overlay.draft.appendChild(g);
  }

  down(event) {
    if (event.button !== 0 || !this.tool || this.tool === "select") return;
    event.stopPropagation();
    event.preventDefault();
    const point = this.overlay.sheetPoint(event);
    if (this.tool === "measure") {
      if (!this.gesture) {
        this.gesture = { points: [point, point] };
      } else {
        this.gesture.points[1] = point;
        this.measured();
      }
      return;
    }
    if (VERTEX_KINDS.has(this.tool)) {
      if (!this.gesture) this.gesture = { points: [point, point] };
      else this.gesture.points.push(point);
      this.previewVertices();
      return;
    }
    this.overlay.capture.setPointerCapture(event.pointerId);
    this.gesture = { points: [point, point], pressed: true };
  }

  move(event) {
    if (!this.gesture) return;
    const point = this.overlay.sheetPoint(event);
    const points = this.gesture.points;
    if (this.tool === "measure") {
      points[1] = point;
      this.drawMeasure(points[0], point, "");
    } else if (VERTEX_KINDS.has(this.tool)) {
      points[points.length - 1] = point;
      this.previewVertices();
    } else if (this.tool === "freehand" && this.gesture.pressed) {
      points.push(point);
      this.preview(this.value("freehand", points));
    } else if (DRAG_KINDS.has(this.tool) && this.gesture.pressed) {
      points[1] = point;
      this.preview(this.dragValue(points));
    }
  }

  up(event) {
    if (!this.gesture || !this.gesture.pressed) return;
    event.stopPropagation();
    const points = this.gesture.points;
    this.gesture = null;
    this.overlay.draft.replaceChildren();
    if (this.tool === "freehand") {
      if (points.length > 2) this.emit(this.value("freehand", points.slice(1)));
      return;
    }
    if (distance(points[0], points[1]) * this.overlay.scale < MIN_PIXELS) return;
    this.emit(this.dragValue(points));
  }

  dragValue(points) {
    const [a, b] = points;
    if (this.tool === "arrow") return this.value("arrow", [a, b], { text: this.options.text() });
    if (this.tool === "free_text") {
      const box = [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
      return this.value("free_text", [[box[0], box[1]]], { text: this.options.text(), box });
    }
    return this.value(this.tool, [a, b]);
  }

  previewVertices() {
    const points = this.gesture.points;
    const kind = this.tool === "polyline" || points.length < 3 ? "polyline" : this.tool;
    this.preview(this.value(kind, points));
  }

  /** Ends a polygon, polyline or cloud (double-click or Enter). */
  finish() {
    if (!this.gesture || !VERTEX_KINDS.has(this.tool)) return;
    const points = dedupe(this.gesture.points, 1 / this.overlay.scale);
    this.cancel();
    const needed = this.tool === "polyline" ? 2 : 3;
    if (points.length >= needed) this.emit(this.value(this.tool, points));
  }

  emit(value) {
    // A text box needs its text; an arrow may go without.
    if (value.kind === "free_text" && !value.text.trim()) {
      this.dispatchEvent(new CustomEvent("needtext"));
      return;
    }
    this.dispatchEvent(new CustomEvent("drawn", { detail: value }));
  }

  measured() {
    const [a, b] = this.gesture.points;
    this.gesture = null;
    this.options.onMeasure(a, b);
  }

  drawMeasure(a, b, text) {
    const layer = this.overlay.measure;
    layer.replaceChildren();
    el("line", { x1: num(a[0]), y1: num(a[1]), x2: num(b[0]), y2: num(b[1]), class: "measure-line" }, layer);
    for (const p of [a, b]) el("circle", { cx: num(p[0]), cy: num(p[1]), r: "2", class: "measure-end" }, layer);
    if (text) {
      const label = el("text", { x: num((a[0] + b[0]) / 2), y: num((a[1] + b[1]) / 2 - 4), class: "measure-label", "font-size": "10" }, layer);
      label.textContent = text;
    }
  }

  hint() {
    return this.tool === "measure" ? msg("measure.hint") : "";
  }
}

/** Vertices with the double-click's repeated points dropped. */
function dedupe(points, tolerance) {
  const out = [];
  for (const p of points) {
    if (!out.length || distance(out[out.length - 1], p) > tolerance) out.push(p);
  }
  if (out.length > 2 && distance(out[0], out[out.length - 1]) <= tolerance) out.pop();
  return out;
}
