// The review viewer (审图): OpenSeadragon on the sheet's Deep Zoom tiles, an SVG layer of markups in sheet
// coordinates, the comment panel, live changes from other reviewers, and comparison with the previous revision.
import { get } from "./api.js";
import { Comments } from "./comments.js";
import { Compare } from "./compare.js";
import { config, msg } from "./i18n.js";
import { listen } from "./live.js";
import { MarkupStore } from "./markups.js";
import { Measure } from "./measure.js";
import { SheetOverlay } from "./overlay.js";
import { neighbour, showSheets } from "./sheets.js";
import { Tools } from "./tools.js";

const TOOL_KEYS = { v: "select", r: "rectangle", e: "ellipse", c: "cloud", p: "polygon", l: "polyline", a: "arrow", t: "free_text", d: "freehand", h: "highlight" };

class Notice {
  constructor() {
    this.element = document.getElementById("viewer-notice");
    this.timer = null;
    this.element.addEventListener("click", () => this.hide()); // read, then dismissed with a click
  }

  /** ``lines``: the text in the current language, then (optionally) in the other one. */
  show(lines, level) {
    this.element.replaceChildren();
    lines.filter(Boolean).forEach((line, i) => {
      const p = document.createElement("p");
      p.textContent = line;
      if (i) p.className = "other-language";
      this.element.appendChild(p);
    });
    this.element.className = "viewer-notice notice-" + (level || "info");
    this.element.dataset.level = level || "info";
    this.element.hidden = false;
    clearTimeout(this.timer);
    if (level === "info") this.timer = setTimeout(() => this.hide(), 4000);
  }

  hide() {
    this.element.hidden = true;
  }
}

/** Reads a DZI descriptor; tiles are at .../tiles/<level>/<col>_<row>.png. */
async function tileSource(revisionId) {
  const dzi = `/api/v1/sheet-revisions/${revisionId}/tiles.dzi`;
  const response = await fetch(dzi, { credentials: "same-origin" });
  if (!response.ok) throw new Error("tiles " + response.status);
  const image = new DOMParser().parseFromString(await response.text(), "application/xml").documentElement;
  const size = image.getElementsByTagName("Size")[0];
  const base = dzi.replace(/\/tiles\.dzi$/, "/tiles/");
  return {
    width: Number(size.getAttribute("Width")),
    height: Number(size.getAttribute("Height")),
    tileSize: Number(image.getAttribute("TileSize")),
    tileOverlap: Number(image.getAttribute("Overlap")),
    minLevel: 0,
    getTileUrl: (level, x, y) => base + level + "/" + x + "_" + y + ".png",
  };
}

async function createViewer(element, revisionId, navigator) {
  return window.OpenSeadragon({
    element,
    prefixUrl: config.images,
    showNavigator: navigator,
    showNavigationControl: false,
    // The 2D canvas drawer: OpenSeadragon's WebGL one falls back to software rendering on machines without a
    // GPU (virtual desktops), where bench/bench_viewer.py measured it 40 times slower per frame.
    drawer: "canvas",
    maxZoomPixelRatio: 4,
    visibilityRatio: 0.2,
    gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: false },
    tileSources: await tileSource(revisionId),
  });
}

/** The review context from the API, or what the page knows when the review API does not answer. */
async function loadContext() {
  const fallback = {
    id: config.revision_id,
    number: config.number,
    title: config.title,
    width_pt: config.width_pt,
    height_pt: config.height_pt,
    units_per_point: config.units_per_point,
    units: config.units,
    scale: config.scale,
    tracks: [],
    me: null,
    previous_revision_id: null,
    changes: [],
    sheets: config.sheets,
    readOnly: true,
  };
  try {
    const context = await get(`/api/v1/sheet-revisions/${config.revision_id}/context`);
    return Object.assign(fallback, context, { readOnly: false });
  } catch (error) {
    return fallback;
  }
}

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

async function start() {
  const element = document.getElementById("sheet-viewer");
  const missing = document.getElementById("viewer-missing");
  if (!window.OpenSeadragon) {
    element.hidden = true;
    missing.hidden = false;
    return;
  }
  const notice = new Notice();
  const context = await loadContext();
  showSheets(context);
  let viewer;
  try {
    viewer = await createViewer(element, context.id, true);
  } catch (error) {
    missing.hidden = false;
    return;
  }
  await new Promise((resolve) => (viewer.world.getItemCount() ? resolve() : viewer.addOnceHandler("open", resolve)));
  const item = viewer.world.getItemAt(0);
  const width = context.width_pt || item.source.width;
  const height = context.height_pt || (item.source.height * width) / item.source.width;
  const overlay = new SheetOverlay(viewer, width, height);
  overlay.showChanges(context.changes);

  const markups = new MarkupStore(overlay, context.id, notice);
  const writable = (context.tracks || []).filter((t) => t.writable);
  const trackSelect = document.getElementById("markup-track");
  for (const track of writable) trackSelect.appendChild(new Option(document.documentElement.lang === "en" ? track.name_en : track.name_zh, track.code));
  const colourOf = (code) => ((context.tracks || []).find((t) => t.code === code) || {}).color || "#e60012";
  const textInput = document.getElementById("markup-text");
  const tools = new Tools(overlay, markups, {
    colour: () => colourOf(trackSelect.value),
    text: () => textInput.value,
    onMeasure: (a, b) => measure.show(a, b),
  });
  const measure = new Measure(context, tools);
  if (writable.length) document.getElementById("markup-tools").hidden = false;
  tools.addEventListener("drawn", (event) => markups.create(trackSelect.value, event.detail));
  tools.addEventListener("needtext", () => {
    notice.show([msg("need_text"), ""], "warning");
    textInput.focus();
  });
  markups.addEventListener("edit", (event) => {
    const info = markups.items.get(event.detail).info;
    if (!info.editable || (info.markup.kind !== "arrow" && info.markup.kind !== "free_text")) return;
    textInput.value = info.markup.text;
    textInput.focus();
    textInput.dataset.editing = String(info.id);
  });
  textInput.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !textInput.dataset.editing) return;
    event.preventDefault();
    const id = Number(textInput.dataset.editing);
    delete textInput.dataset.editing;
    const item = markups.items.get(id);
    if (!item) return;
    const value = JSON.parse(JSON.stringify(item.info.markup));
    value.text = textInput.value;
    markups.update(id, value);
  });

  const buttons = document.querySelectorAll("[data-tool]");
  const useTool = (tool) => {
    const next = tools.tool === tool ? null : tool;
    tools.use(next);
    for (const button of buttons) button.classList.toggle("active", button.dataset.tool === next);
    if (next === "measure") measure.hint();
    document.body.dataset.tool = next || "";
  };
  for (const button of buttons) button.addEventListener("click", () => useTool(button.dataset.tool));
  const fit = () => viewer.viewport.goHome();
  const actual = () => viewer.viewport.zoomTo(viewer.viewport.imageToViewportZoom(1));
  const help = document.getElementById("viewer-help");
  const actions = {
    fit,
    actual,
    help: () => help.showModal(),
    delete: () => markups.deleteSelected(),
  };
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => actions[button.dataset.action]());
  }

  // Shortcuts are caught before OpenSeadragon's own keys (it would rotate on R and flip on F).
  window.addEventListener(
    "keydown",
    (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target) || help.open) return;
      const key = event.key;
      const lower = key.length === 1 ? key.toLowerCase() : key;
      let handled = true;
      if (lower === "f" || key === "0") fit();
      else if (key === "1") actual();
      else if (lower === "m") useTool("measure");
      else if (key === "?") help.showModal();
      else if (key === "/") document.getElementById("viewer-jump-input").focus();
      else if (key === "Escape") {
        tools.cancel();
        markups.select([]);
      } else if (key === "Enter") tools.finish();
      else if (key === "Delete" || key === "Backspace") markups.deleteSelected();
      else if (key === "[" || key === "]") {
        const url = neighbour(context, key === "[" ? -1 : 1);
        if (url) window.location.assign(url);
      } else if (TOOL_KEYS[lower] && !context.readOnly) useTool(TOOL_KEYS[lower]);
      else handled = false;
      if (handled) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true
  );
  window.addEventListener(
    "keypress",
    (event) => {
      if (!isTyping(event.target) && /^[fFrRmM0-9?\/\[\]vecplatdhVECPLATDH]$/.test(event.key)) event.stopPropagation();
    },
    true
  );

  if (!context.readOnly) {
    const comments = new Comments(context, markups, notice);
    await Promise.all([markups.reload(), comments.reload()]).catch(() => {});
    listen(context.id, { markups, comments, notice });
  }
  const compare = context.previous_revision_id ? new Compare(viewer, context, { tileSource, create: createViewer }) : null;
  // For people and tests: the viewer is ready for input.
  document.body.dataset.viewer = "ready";
  window.liantuViewer = { viewer, overlay, markups, tools, context, compare };
}

start();
