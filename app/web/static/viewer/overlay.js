// One SVG over the sheet, its viewBox the sheet in PDF points. Panning and zooming never redraw it: the
// OpenSeadragon viewport gives one CSS transform (translate + scale) per frame, set on the SVG element.
import { TEXT_SIZE, arrowHead, cloudPath, num, pointsAttr } from "./geometry.js";
import { msg } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";

export function el(tag, attributes, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

export class SheetOverlay {
  constructor(viewer, width, height) {
    this.viewer = viewer;
    this.width = width;
    this.height = height;
    this.scale = 1;
    this.root = document.createElement("div");
    this.root.className = "sheet-overlay";
    this.svg = el("svg", { viewBox: `0 0 ${num(width)} ${num(height)}`, width: num(width), height: num(height) });
    this.svg.setAttribute("data-testid", "markup-layer");
    this.root.appendChild(this.svg);
    this.changes = el("g", { class: "changes" }, this.svg);
    this.markups = el("g", { class: "markups" }, this.svg);
    this.draft = el("g", { class: "draft" }, this.svg);
    this.measure = el("g", { class: "measure" }, this.svg);
    // Catches pointer input while a drawing tool is active (it covers the whole sheet).
    this.capture = el("rect", { class: "capture", x: 0, y: 0, width: num(width), height: num(height) }, this.svg);
    viewer.canvas.appendChild(this.root);
    const update = () => this.follow();
    viewer.addHandler("update-viewport", update);
    viewer.addHandler("resize", () => this.settle());
    viewer.addHandler("open", () => this.settle());
    // While the view moves, the layer is one composited bitmap: not repainted shape by shape every frame.
    // It is painted sharp again at the new scale once the movement stops.
    viewer.addHandler("animation-start", () => this.svg.classList.add("moving"));
    viewer.addHandler("animation-finish", () => {
      this.svg.classList.remove("moving");
      this.settle();
    });
    this.settle();
  }

  /** Places the SVG where the viewport shows the sheet: one transform, no redraw of its content. */
  follow() {
    const viewport = this.viewer.viewport;
    if (!viewport) return;
    const OSD = window.OpenSeadragon;
    const origin = viewport.pixelFromPoint(new OSD.Point(0, 0), true);
    const unit = viewport.deltaPixelsFromPoints(new OSD.Point(1, 0), true).x;
    const scale = unit / this.width;
    this.svg.style.transform = `translate(${origin.x}px, ${origin.y}px) scale(${scale})`;
    this.scale = scale;
  }

  /** Handles and dashes keep a constant size on screen; set when the view rests (it restyles every shape). */
  settle() {
    this.follow();
    this.svg.style.setProperty("--px", String(1 / this.scale));
  }

  /** Sheet coordinates of a pointer event. */
  sheetPoint(event) {
    const OSD = window.OpenSeadragon;
    const box = this.viewer.canvas.getBoundingClientRect();
    const point = this.viewer.viewport.viewerElementToViewportCoordinates(
      new OSD.Point(event.clientX - box.left, event.clientY - box.top)
    );
    return [point.x * this.width, point.y * this.width];
  }

  setCapturing(on, cursor) {
    this.capture.classList.toggle("active", on);
    this.capture.dataset.cursor = cursor || "";
  }

  showChanges(changes) {
    this.changes.replaceChildren();
    for (const change of changes || []) {
      const rect = el("rect", {
        x: num(change.x0),
        y: num(change.y0),
        width: num(change.x1 - change.x0),
        height: num(change.y1 - change.y0),
        class: "change change-" + (change.what || "changed"),
      }, this.changes);
      rect.setAttribute("data-testid", "change-region");
      const title = el("title", {}, rect);
      title.textContent = msg("change") + (change.what ? " · " + change.what : "");
    }
  }
}

/** The SVG group of a markup value, drawn as review/markups/svg.markup_to_svg draws it. */
export function drawMarkup(value, group) {
  const g = group || el("g");
  g.replaceChildren();
  const kind = value.kind;
  const colour = value.colour;
  const highlight = kind === "highlight";
  g.setAttribute("stroke", highlight ? "none" : colour);
  g.setAttribute("fill", highlight ? colour : "none");
  g.setAttribute("stroke-width", num(value.stroke_width));
  g.setAttribute("opacity", num(value.opacity));
  g.setAttribute("data-kind", kind);
  const p = value.points;
  const lineKind = kind === "polyline" || kind === "freehand" || kind === "arrow";
  if (kind === "rectangle" || kind === "highlight") {
    const [x0, x1] = [Math.min(p[0][0], p[1][0]), Math.max(p[0][0], p[1][0])];
    const [y0, y1] = [Math.min(p[0][1], p[1][1]), Math.max(p[0][1], p[1][1])];
    el("rect", { x: num(x0), y: num(y0), width: num(x1 - x0), height: num(y1 - y0) }, g);
  } else if (kind === "ellipse") {
    el("ellipse", {
      cx: num((p[0][0] + p[1][0]) / 2),
      cy: num((p[0][1] + p[1][1]) / 2),
      rx: num(Math.abs(p[1][0] - p[0][0]) / 2),
      ry: num(Math.abs(p[1][1] - p[0][1]) / 2),
    }, g);
  } else if (kind === "polygon") {
    el("polygon", { points: pointsAttr(p) }, g);
  } else if (kind === "cloud") {
    el("path", { d: cloudPath(p, value.cloud_arc) }, g);
  } else if (kind === "polyline" || kind === "freehand") {
    el("polyline", { points: pointsAttr(p), "stroke-linejoin": "round", "stroke-linecap": "round" }, g);
  } else if (kind === "arrow") {
    el("line", { x1: num(p[0][0]), y1: num(p[0][1]), x2: num(p[1][0]), y2: num(p[1][1]) }, g);
    const head = arrowHead(p[0], p[1], Math.max(6, 4 * value.stroke_width));
    el("polygon", { points: pointsAttr(head), fill: colour, stroke: "none" }, g);
    if (value.text) label(g, value.text, p[0][0], p[0][1] - 2, colour);
  } else if (kind === "free_text" && value.box) {
    const [x0, y0, x1, y1] = value.box;
    const [bx0, by0, bx1, by1] = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
    const [ax, ay] = p[0];
    el("rect", { x: num(bx0), y: num(by0), width: num(bx1 - bx0), height: num(by1 - by0), fill: "#ffffff", "fill-opacity": "0.8" }, g);
    const nx = Math.min(Math.max(ax, bx0), bx1);
    const ny = Math.min(Math.max(ay, by0), by1);
    if (nx !== ax || ny !== ay) el("line", { x1: num(ax), y1: num(ay), x2: num(nx), y2: num(ny) }, g);
    label(g, value.text, bx0 + 2, by0 + TEXT_SIZE + 2, colour);
  }
  if (lineKind) {
    // A wide invisible stroke makes thin lines easy to pick.
    const hit = el(kind === "arrow" ? "line" : "polyline", { class: "hit" }, g);
    if (kind === "arrow") {
      for (const [k, v] of Object.entries({ x1: p[0][0], y1: p[0][1], x2: p[1][0], y2: p[1][1] })) hit.setAttribute(k, num(v));
    } else {
      hit.setAttribute("points", pointsAttr(p));
    }
  }
  return g;
}

function label(g, text, x, y, colour) {
  const node = el("text", { x: num(x), y: num(y), "font-size": num(TEXT_SIZE), fill: colour, stroke: "none" }, g);
  node.setAttribute("xml:space", "preserve");
  node.textContent = text; // never markup: the text is the user's
  return node;
}
