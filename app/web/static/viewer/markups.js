// The markups of the sheet: drawn in the overlay, selected, moved, edited and deleted with If-Match.
import { ApiError, call, get, quoteVersion } from "./api.js";
import { VERTEX_KINDS, bounds, clampMove, moved, num } from "./geometry.js";
import { both, english, msg } from "./i18n.js";
import { drawMarkup, el } from "./overlay.js";

export class MarkupStore extends EventTarget {
  constructor(overlay, revisionId, notice) {
    super();
    this.overlay = overlay;
    this.revisionId = revisionId;
    this.notice = notice;
    this.items = new Map(); // id -> {info, g}
    this.selected = new Set();
    this.selecting = false;
    this.drag = null;
  }

  get list() {
    return [...this.items.values()].map((item) => item.info);
  }

  async reload() {
    const data = await get(`/api/v1/sheet-revisions/${this.revisionId}/markups`);
    this.sync(data.items.map((annotation) => annotation.liantu));
  }

  /** Brings the drawing in line with ``infos``; only markups whose version changed are redrawn. */
  sync(infos) {
    const seen = new Set();
    for (const info of infos) {
      seen.add(info.id);
      this.put(info);
    }
    for (const id of [...this.items.keys()]) {
      if (!seen.has(id)) this.remove(id);
    }
    this.changed();
  }

  put(info) {
    const current = this.items.get(info.id);
    // Unchanged, or held by the pointer right now: keep the drawing (the drag ends in a save or a reload).
    if (current && (current.info.version === info.version || this.isDragging(info.id))) {
      current.info = info;
      return;
    }
    const g = current ? current.g : el("g", {}, this.overlay.markups);
    g.removeAttribute("transform");
    drawMarkup(info.markup, g);
    g.classList.add("markup");
    g.classList.toggle("editable", Boolean(info.editable));
    g.classList.toggle("selected", this.selected.has(info.id));
    g.dataset.markupId = String(info.id);
    g.dataset.version = String(info.version);
    g.dataset.track = info.track;
    g.setAttribute("data-testid", "markup");
    if (info.region_changed) this.badge(g, info);
    if (this.selected.has(info.id)) this.frame(g, info);
    if (!current) this.listen(g);
    this.items.set(info.id, { info, g });
  }

  remove(id) {
    const item = this.items.get(id);
    if (!item) return;
    item.g.remove();
    this.items.delete(id);
    this.selected.delete(id);
  }

  badge(g, info) {
    const [x0, y0] = bounds(info.markup);
    const text = el("text", { x: num(x0), y: num(y0 - 3), class: "region-badge", "font-size": "9" }, g);
    text.textContent = msg("region_changed");
    text.setAttribute("data-testid", "region-changed");
  }

  frame(g, info) {
    const [x0, y0, x1, y1] = bounds(info.markup);
    const pad = 3;
    el("rect", { class: "selection-frame", x: num(x0 - pad), y: num(y0 - pad), width: num(x1 - x0 + 2 * pad), height: num(y1 - y0 + 2 * pad) }, g);
    if (info.editable && VERTEX_KINDS.has(info.markup.kind)) {
      info.markup.points.forEach((point, index) => this.handle(g, info, point, index));
    }
  }

  /** A vertex of one's own polygon, polyline or cloud, dragged to reshape it. */
  handle(g, info, point, index) {
    const knob = el("circle", { class: "vertex-handle", cx: num(point[0]), cy: num(point[1]) }, g);
    knob.setAttribute("data-testid", "vertex-handle");
    let dragging = false;
    knob.addEventListener("pointerdown", (event) => {
      if (!this.selecting || event.button !== 0) return;
      event.stopPropagation(); // neither a move of the whole markup nor a pan
      event.preventDefault();
      knob.setPointerCapture(event.pointerId);
      dragging = true;
    });
    knob.addEventListener("pointermove", (event) => {
      if (!dragging) return;
      const [x, y] = this.overlay.sheetPoint(event);
      knob.setAttribute("cx", num(Math.min(Math.max(x, 0), this.overlay.width)));
      knob.setAttribute("cy", num(Math.min(Math.max(y, 0), this.overlay.height)));
    });
    knob.addEventListener("pointerup", (event) => {
      if (!dragging) return;
      event.stopPropagation();
      dragging = false;
      const value = JSON.parse(JSON.stringify(info.markup));
      value.points[index] = [Number(knob.getAttribute("cx")), Number(knob.getAttribute("cy"))];
      this.update(info.id, value);
    });
  }

  isDragging(id) {
    return this.drag !== null && this.drag.id === id;
  }

  listen(g) {
    g.addEventListener("pointerdown", (event) => {
      if (!this.selecting || event.button !== 0) return;
      event.stopPropagation(); // not a pan of the viewer
      event.preventDefault();
      const id = Number(g.dataset.markupId);
      if (event.shiftKey || event.ctrlKey || event.metaKey) {
        this.toggle(id);
        return;
      }
      if (!this.selected.has(id)) this.select([id]);
      const item = this.items.get(id);
      if (!item || !item.info.editable) return;
      g.setPointerCapture(event.pointerId);
      this.drag = { id, start: this.overlay.sheetPoint(event), dx: 0, dy: 0 };
    });
    g.addEventListener("pointermove", (event) => {
      if (!this.drag || this.drag.id !== Number(g.dataset.markupId)) return;
      const item = this.items.get(this.drag.id);
      const [x, y] = this.overlay.sheetPoint(event);
      [this.drag.dx, this.drag.dy] = clampMove(item.info.markup, x - this.drag.start[0], y - this.drag.start[1], this.overlay.width, this.overlay.height);
      g.setAttribute("transform", `translate(${num(this.drag.dx)} ${num(this.drag.dy)})`);
    });
    const end = (event) => {
      if (!this.drag || this.drag.id !== Number(g.dataset.markupId)) return;
      event.stopPropagation();
      const { id, dx, dy } = this.drag;
      this.drag = null;
      const item = this.items.get(id);
      if (!item) return;
      if (Math.hypot(dx, dy) * this.overlay.scale < 2) {
        g.removeAttribute("transform");
        return;
      }
      this.update(id, moved(item.info.markup, dx, dy));
    };
    g.addEventListener("pointerup", end);
    g.addEventListener("pointercancel", end);
    g.addEventListener("dblclick", (event) => {
      if (!this.selecting) return;
      event.stopPropagation();
      this.dispatchEvent(new CustomEvent("edit", { detail: Number(g.dataset.markupId) }));
    });
  }

  select(ids) {
    this.selected = new Set(ids);
    this.redrawSelection();
  }

  /** Selects the markups and brings them into view. */
  focus(ids) {
    const shown = ids.filter((id) => this.items.has(id));
    this.select(shown);
    if (!shown.length) return;
    const boxes = shown.map((id) => bounds(this.items.get(id).info.markup));
    const [x0, y0] = [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1]))];
    const [x1, y1] = [Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))];
    const w = this.overlay.width;
    const pad = Math.max(x1 - x0, y1 - y0, 40) * 0.5;
    const OSD = window.OpenSeadragon;
    this.overlay.viewer.viewport.fitBounds(new OSD.Rect((x0 - pad) / w, (y0 - pad) / w, (x1 - x0 + 2 * pad) / w, (y1 - y0 + 2 * pad) / w));
  }

  toggle(id) {
    if (this.selected.has(id)) this.selected.delete(id);
    else this.selected.add(id);
    this.redrawSelection();
  }

  redrawSelection() {
    for (const [id, item] of this.items) {
      const on = this.selected.has(id);
      item.g.classList.toggle("selected", on);
      const frame = item.g.querySelector(".selection-frame");
      if (frame && !on) {
        frame.remove();
        for (const knob of item.g.querySelectorAll(".vertex-handle")) knob.remove();
      }
      if (on && !frame) this.frame(item.g, item.info);
    }
    this.dispatchEvent(new Event("selection"));
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  async create(track, value) {
    try {
      const { data } = await call("POST", `/api/v1/sheet-revisions/${this.revisionId}/markups`, { json: { track, markup: value } });
      this.put(data.liantu);
      this.select([data.liantu.id]);
      this.changed();
      return data.liantu;
    } catch (error) {
      this.fail(error);
      return null;
    }
  }

  async update(id, value) {
    const item = this.items.get(id);
    if (!item) return;
    try {
      const { data } = await call("PUT", `/api/v1/markups/${id}`, { json: { markup: value }, etag: quoteVersion(item.info.version) });
      this.put(data.liantu);
      this.changed();
    } catch (error) {
      await this.fail(error, id);
    }
  }

  async deleteSelected() {
    for (const id of [...this.selected]) {
      const item = this.items.get(id);
      if (!item || !item.info.editable) continue;
      try {
        await call("DELETE", `/api/v1/markups/${id}`, { etag: quoteVersion(item.info.version) });
        this.remove(id);
      } catch (error) {
        await this.fail(error, id);
      }
    }
    this.redrawSelection();
    this.changed();
  }

  async fail(error, id) {
    if (error instanceof ApiError && error.status === 412) {
      this.notice.show(both("conflict"), "warning");
    } else {
      const server = error instanceof ApiError && error.messageZh;
      const text = server ? (english ? [error.messageEn, error.messageZh] : [error.messageZh, error.messageEn]) : both("failed");
      this.notice.show(text, "error");
    }
    // Whatever happened, show what the server holds now.
    if (id !== undefined) {
      const item = this.items.get(id);
      if (item) item.g.removeAttribute("transform");
      try {
        await this.reload();
      } catch (e) {
        /* the notice already tells the user */
      }
    }
  }
}
