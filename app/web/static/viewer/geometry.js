// Shapes of markups in sheet coordinates (PDF points, origin top-left, y down), as SVG path data.
// The revision cloud follows the platform's own rule (review/markups/geometry.cloud_svg_path): every edge is cut
// into equal chords close to the arc length, each drawn as a half circle bulging away from the inside.

export const TEXT_SIZE = 10;
export const BOX_KINDS = new Set(["rectangle", "ellipse", "highlight"]);
export const VERTEX_KINDS = new Set(["cloud", "polygon", "polyline"]);
export const TEXT_KINDS = new Set(["arrow", "free_text"]);
export const DEFAULT_CLOUD_ARC = 12;
export const HIGHLIGHT_OPACITY = 0.35;

export function num(value) {
  const text = value.toFixed(3).replace(/\.?0+$/, "");
  return text === "-0" ? "0" : text;
}

/** Twice the signed area: positive when the outline runs clockwise on screen (y down). */
export function signedArea2(points) {
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    const [x0, y0] = points[i];
    const [x1, y1] = points[(i + 1) % points.length];
    sum += x0 * y1 - x1 * y0;
  }
  return sum;
}

export function cloudPath(points, arc) {
  if (points.length < 3 || !(arc > 0)) return "";
  const sweep = signedArea2(points) > 0 ? 1 : 0;
  const parts = ["M" + num(points[0][0]) + "," + num(points[0][1])];
  for (let i = 0; i < points.length; i++) {
    const [x0, y0] = points[i];
    const [x1, y1] = points[(i + 1) % points.length];
    const length = Math.hypot(x1 - x0, y1 - y0);
    if (length === 0) continue;
    const steps = Math.max(1, Math.round(length / arc));
    const r = num(length / steps / 2);
    for (let k = 1; k <= steps; k++) {
      const x = x0 + ((x1 - x0) * k) / steps;
      const y = y0 + ((y1 - y0) * k) / steps;
      parts.push("A" + r + "," + r + " 0 0 " + sweep + " " + num(x) + "," + num(y));
    }
  }
  parts.push("Z");
  return parts.join(" ");
}

/** The arrow head triangle: the tip and two barbs ``size`` back, 30 degrees either side. */
export function arrowHead(tail, tip, size) {
  const angle = Math.atan2(tip[1] - tail[1], tip[0] - tail[0]);
  const barb = (turn) => [tip[0] - size * Math.cos(angle + turn), tip[1] - size * Math.sin(angle + turn)];
  return [tip, barb(-Math.PI / 6), barb(Math.PI / 6)];
}

export function pointsAttr(points) {
  return points.map(([x, y]) => num(x) + "," + num(y)).join(" ");
}

export function bounds(value) {
  const xs = value.points.map((p) => p[0]);
  const ys = value.points.map((p) => p[1]);
  if (value.box) {
    xs.push(value.box[0], value.box[2]);
    ys.push(value.box[1], value.box[3]);
  }
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** A copy of the markup value moved by (dx, dy). */
export function moved(value, dx, dy) {
  const copy = JSON.parse(JSON.stringify(value));
  copy.points = copy.points.map(([x, y]) => [x + dx, y + dy]);
  if (copy.box) copy.box = [copy.box[0] + dx, copy.box[1] + dy, copy.box[2] + dx, copy.box[3] + dy];
  return copy;
}

/** (dx, dy) reduced so that the moved bounds stay on the sheet. */
export function clampMove(value, dx, dy, width, height) {
  const [x0, y0, x1, y1] = bounds(value);
  return [Math.min(Math.max(dx, -x0), width - x1), Math.min(Math.max(dy, -y0), height - y1)];
}

export function distance(a, b) {
  return Math.hypot(b[0] - a[0], b[1] - a[1]);
}
