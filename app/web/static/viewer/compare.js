// Compare with the previous revision: an overlay of both in two colours, or two viewers side by side.
import { msg } from "./i18n.js";

export class Compare {
  constructor(viewer, context, makeViewer) {
    this.viewer = viewer;
    this.context = context;
    this.makeViewer = makeViewer;
    this.mode = null;
    this.overlayItem = null;
    this.other = null;
    this.syncing = false;
    const tools = document.getElementById("compare-tools");
    tools.hidden = false;
    for (const button of tools.querySelectorAll("[data-compare]")) {
      button.addEventListener("click", () => this.toggle(button.dataset.compare));
    }
    viewer.addHandler("viewport-change", () => this.sync(this.viewer, this.other));
  }

  sync(from, to) {
    if (this.syncing || !from || !to || !to.viewport) return;
    this.syncing = true;
    to.viewport.zoomTo(from.viewport.getZoom(), null, true);
    to.viewport.panTo(from.viewport.getCenter(), true);
    this.syncing = false;
  }

  toggle(mode) {
    const next = this.mode === mode ? null : mode;
    this.clear();
    this.mode = next;
    for (const button of document.querySelectorAll("[data-compare]")) {
      button.classList.toggle("active", button.dataset.compare === next);
    }
    if (next === "overlay") this.overlay();
    if (next === "side") this.side();
  }

  clear() {
    if (this.overlayItem) {
      this.viewer.world.removeItem(this.overlayItem);
      this.overlayItem = null;
    }
    if (this.other) {
      this.other.destroy();
      this.other = null;
      const element = document.getElementById("compare-viewer");
      element.hidden = true;
      element.replaceChildren();
      document.getElementById("viewer-stage").classList.remove("split");
    }
  }

  async overlay() {
    // The platform's own picture of both revisions (old red, new blue) when it has one; else the old tiles, faded.
    const url = `/api/v1/sheet-revisions/${this.context.id}/compare/overlay.png`;
    let source;
    const head = await fetch(url, { method: "HEAD", credentials: "same-origin" }).catch(() => null);
    if (head && head.ok) {
      source = { type: "image", url, buildPyramid: false };
    } else {
      source = await this.makeViewer.tileSource(this.context.previous_revision_id);
    }
    this.viewer.addTiledImage({
      tileSource: source,
      x: 0,
      y: 0,
      width: 1,
      opacity: head && head.ok ? 1 : 0.5,
      success: (event) => {
        this.overlayItem = event.item;
        document.body.dataset.compare = "overlay";
      },
    });
  }

  async side() {
    const stage = document.getElementById("viewer-stage");
    const element = document.getElementById("compare-viewer");
    stage.classList.add("split");
    element.hidden = false;
    const caption = document.createElement("div");
    caption.className = "compare-caption";
    caption.textContent = msg("compare.old");
    element.appendChild(caption);
    this.other = await this.makeViewer.create(element, this.context.previous_revision_id, false);
    const other = this.other;
    other.addHandler("viewport-change", () => this.sync(other, this.viewer));
    // Both halves start from the whole sheet, then follow each other.
    other.addHandler("open", () => {
      this.viewer.viewport.goHome(true);
      this.sync(this.viewer, other);
    });
    document.body.dataset.compare = "side";
  }
}
