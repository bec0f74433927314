// Compare with the previous revision: an overlay of both in two colours, or two viewers side by side, the
// change regions drawn on both.
import { msg } from "./i18n.js";
import { SheetOverlay } from "./overlay.js";

export class Compare {
  constructor(viewer, context, makeViewer) {
    this.viewer = viewer;
    this.context = context;
    this.makeViewer = makeViewer;
    this.mode = null;
    this.overlayItem = null;
    this.other = null;
    this.otherLayer = null;
    this.legend = document.getElementById("compare-legend");
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
    this.legend.hidden = true;
    delete document.body.dataset.compare;
    if (this.other) {
      this.other.destroy();
      this.other = null;
      this.otherLayer = null;
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
        this.showLegend(head && head.ok);
      },
    });
  }

  /** Which colour is which revision (the legend is in the page, Chinese first): the overlay image's colours
   * (review/compare/overlay.py), or the faded old tiles when the platform has no overlay image yet. */
  showLegend(coloured) {
    for (const row of this.legend.querySelectorAll("[data-legend]")) {
      row.hidden = coloured === (row.dataset.legend === "faded");
    }
    this.legend.hidden = false;
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
      this.drawOldChanges(other);
    });
    document.body.dataset.compare = "side";
  }

  /** The change regions on the old half too: removed ink is only seen there. Regions are in new-sheet points,
   * both sheets aligned at the top left (as the comparison aligns them). */
  drawOldChanges(other) {
    if (other !== this.other || this.otherLayer) return;
    const mine = this.viewer.world.getItemAt(0);
    const theirs = other.world.getItemAt(0);
    if (!mine || !theirs) return;
    // Tiles of both revisions are cut at one resolution: the old sheet's width in points follows from its pixels.
    const width = (this.context.width_pt * theirs.source.width) / mine.source.width;
    const height = (width * theirs.source.height) / theirs.source.width;
    this.otherLayer = new SheetOverlay(other, width, height);
    this.otherLayer.root.classList.add("read-only");
    this.otherLayer.showChanges(this.context.changes);
  }
}
