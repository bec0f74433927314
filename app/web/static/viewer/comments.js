// Review comments (审查意见) of the sheet: the list with threads and actions, and the form for a new one.
// Every piece of user text goes in with textContent.
import { ApiError, call, get, quoteVersion } from "./api.js";
import { both, english, has, msg } from "./i18n.js";

function node(tag, className, text, parent) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined && text !== null) element.textContent = text;
  if (parent) parent.appendChild(element);
  return element;
}

export class Comments {
  constructor(context, markups, notice) {
    this.context = context;
    this.markups = markups;
    this.notice = notice;
    this.items = [];
    this.drafts = new Map(); // comment id -> {action, text} of an action form being written
    this.clauses = new Map(); // chosen clause id -> clause
    this.templates = [];
    this.list = document.getElementById("comment-list");
    this.count = document.getElementById("comment-count");
    this.filterTrack = document.getElementById("comment-filter-track");
    this.filterStatus = document.getElementById("comment-filter-status");
    this.form = document.getElementById("comment-form");
    this.trackSelect = document.getElementById("comment-track");
    this.severity = document.getElementById("comment-severity");
    this.templateSelect = document.getElementById("comment-template");
    this.text = document.getElementById("comment-text");
    this.search = document.getElementById("clause-search");
    this.results = document.getElementById("clause-results");
    this.chosen = document.getElementById("clause-chosen");
    this.selection = document.getElementById("comment-selection");
    this.setUp();
  }

  trackName(code) {
    const track = (this.context.tracks || []).find((t) => t.code === code);
    if (!track) return code;
    return english ? track.name_en : track.name_zh;
  }

  setUp() {
    for (const track of this.context.tracks || []) {
      this.filterTrack.appendChild(new Option(this.trackName(track.code), track.code));
    }
    this.filterTrack.addEventListener("change", () => this.render());
    this.filterStatus.addEventListener("change", () => this.render());
    const writable = (this.context.tracks || []).filter((t) => t.writable);
    if (!writable.length) return;
    this.form.hidden = false;
    for (const track of writable) this.trackSelect.appendChild(new Option(this.trackName(track.code), track.code));
    this.trackSelect.addEventListener("change", () => this.loadTemplates());
    this.templateSelect.addEventListener("change", () => this.useTemplate());
    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.findClauses(), 200);
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    document.getElementById("template-save").addEventListener("click", () => this.saveTemplate());
    this.markups.addEventListener("selection", () => this.showSelection());
    this.showSelection();
    this.loadTemplates();
  }

  showSelection() {
    const n = this.markups.selected.size;
    this.selection.textContent = n ? msg("selected", { n }) : msg("none_selected");
  }

  async reload() {
    const data = await get(`/api/v1/sheet-revisions/${this.context.id}/comments`);
    this.items = data.items;
    this.render();
  }

  render() {
    const track = this.filterTrack.value;
    const status = this.filterStatus.value;
    const shown = this.items.filter((c) => (!track || c.track === track) && (!status || c.status === status));
    this.count.textContent = String(shown.length);
    const active = document.activeElement;
    const typing = active && active.closest && active.closest("form.comment-action-form") ? Number(active.closest("li.comment").dataset.commentId) : null;
    this.list.replaceChildren();
    if (!shown.length) {
      node("li", "comment-empty muted", msg("empty"), this.list);
      return;
    }
    for (const comment of shown) {
      const item = this.renderComment(comment);
      this.list.appendChild(item);
      // An answer being written survives the list being refreshed by someone else's change.
      const draft = this.drafts.get(comment.id);
      if (draft && (comment.allowed_actions || []).includes(draft.action)) {
        this.openAction(item, comment, draft.action, draft.text, typing === comment.id);
      }
    }
  }

  renderComment(comment) {
    const item = node("li", "comment comment-" + comment.severity);
    item.dataset.commentId = String(comment.id);
    item.setAttribute("data-testid", "comment");
    const colour = ((this.context.tracks || []).find((t) => t.code === comment.track) || {}).color;
    if (colour) item.style.borderLeftColor = colour;
    const head = node("div", "comment-head", null, item);
    node("span", "severity severity-" + comment.severity, msg("severity." + comment.severity), head);
    node("span", "comment-track", this.trackName(comment.track), head);
    const status = node("span", "state comment-status", msg("status." + comment.status), head);
    status.setAttribute("data-testid", "comment-status");
    if (comment.region_changed) node("span", "region-changed", msg("region_changed"), head);
    const text = node("p", "comment-text", comment.text, item);
    text.setAttribute("data-testid", "comment-text-shown");
    if (comment.clauses && comment.clauses.length) {
      const clauses = node("ul", "comment-clauses", null, item);
      for (const clause of comment.clauses) {
        const li = node("li", null, clause.code + " " + clause.clause + (clause.title_zh ? " " + clause.title_zh : ""), clauses);
        li.setAttribute("data-testid", "comment-clause");
      }
    }
    const meta = node("p", "muted comment-meta", comment.author_name + (comment.markup_ids.length ? " · ▭ " + comment.markup_ids.length : ""), item);
    if (comment.markup_ids.length) {
      meta.classList.add("comment-locate");
      meta.setAttribute("data-testid", "comment-locate");
      meta.addEventListener("click", () => this.markups.focus(comment.markup_ids));
    }
    if (comment.entries && comment.entries.length) {
      const thread = node("ol", "comment-thread", null, item);
      for (const entry of comment.entries) {
        const li = node("li", "entry entry-" + entry.action, null, thread);
        li.setAttribute("data-testid", "comment-entry");
        node("strong", null, entry.author_name + " · " + (has("action." + entry.action) ? msg("action." + entry.action) : entry.action), li);
        if (entry.text) node("p", null, entry.text, li);
        if (entry.attachment) {
          const link = node("a", null, entry.attachment.name, li);
          link.href = entry.attachment.url;
        }
      }
    }
    const actions = node("div", "comment-actions", null, item);
    for (const action of comment.allowed_actions || []) {
      const button = node("button", "button button-quiet", msg("action." + action), actions);
      button.type = "button";
      button.setAttribute("data-testid", "comment-action-" + action);
      button.addEventListener("click", () => this.openAction(item, comment, action));
    }
    return item;
  }

  openAction(item, comment, action, text = "", focus = true) {
    const existing = item.querySelector("form.comment-action-form");
    if (existing) existing.remove();
    const form = node("form", "comment-action-form", null, item);
    const textarea = node("textarea", null, null, form);
    textarea.rows = 3;
    textarea.value = text;
    this.drafts.set(comment.id, { action, text });
    textarea.addEventListener("input", () => this.drafts.set(comment.id, { action, text: textarea.value }));
    textarea.setAttribute("data-testid", "comment-action-text");
    let file = null;
    if (action === "answer") {
      const label = node("label", null, msg("action.attachment") + " ", form);
      file = node("input", null, null, label);
      file.type = "file";
      file.setAttribute("data-testid", "comment-action-file");
    }
    const send = node("button", "button", msg("action." + action), form);
    send.type = "submit";
    send.setAttribute("data-testid", "comment-action-send");
    const cancel = node("button", "button button-quiet", msg("action.cancel"), form);
    cancel.type = "button";
    cancel.addEventListener("click", () => {
      this.drafts.delete(comment.id);
      form.remove();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let options;
      if (file && file.files.length) {
        const body = new FormData();
        body.append("action", action);
        body.append("text", textarea.value);
        body.append("attachment", file.files[0]);
        options = { form: body };
      } else {
        options = { json: { action, text: textarea.value } };
      }
      options.etag = quoteVersion(comment.version);
      try {
        await call("POST", `/api/v1/comments/${comment.id}/actions`, options);
        this.drafts.delete(comment.id);
      } catch (error) {
        this.fail(error);
      }
      await this.reload().catch(() => {});
    });
    if (focus) textarea.focus();
  }

  async findClauses() {
    const q = this.search.value.trim();
    this.results.replaceChildren();
    if (!q) return;
    let data;
    try {
      data = await get(`/api/v1/clauses?q=${encodeURIComponent(q)}&limit=20`);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (!data.items.length) node("li", "muted", msg("clause.none"), this.results);
    for (const clause of data.items) {
      const li = node("li", "clause-result", null, this.results);
      li.setAttribute("data-testid", "clause-result");
      li.tabIndex = 0;
      node("strong", null, clause.code + " " + clause.clause, li);
      node("span", null, " " + (english ? clause.title_en || clause.title_zh : clause.title_zh), li);
      const pick = () => {
        this.clauses.set(clause.id, clause);
        this.showChosen();
        this.results.replaceChildren();
        this.search.value = "";
      };
      li.addEventListener("click", pick);
      li.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          pick();
        }
      });
    }
  }

  showChosen() {
    this.chosen.replaceChildren();
    for (const [id, clause] of this.clauses) {
      const li = node("li", "clause-chip", clause.code + " " + clause.clause + " ", this.chosen);
      li.setAttribute("data-testid", "clause-chip");
      const remove = node("button", "linklike", "×", li);
      remove.type = "button";
      remove.title = msg("clause.remove");
      remove.addEventListener("click", () => {
        this.clauses.delete(id);
        this.showChosen();
      });
    }
  }

  async loadTemplates() {
    this.templateSelect.replaceChildren(new Option("—", ""));
    try {
      const data = await get(`/api/v1/comment-templates?track=${encodeURIComponent(this.trackSelect.value)}`);
      this.templates = data.items;
    } catch (error) {
      this.templates = [];
      return;
    }
    for (const template of this.templates) {
      const label = template.text.length > 40 ? template.text.slice(0, 40) + "…" : template.text;
      this.templateSelect.appendChild(new Option(label + " (" + msg("template.uses", { n: template.use_count }) + ")", String(template.id)));
    }
  }

  async useTemplate() {
    const template = this.templates.find((t) => String(t.id) === this.templateSelect.value);
    if (!template) return;
    this.text.value = template.text;
    this.severity.value = template.severity;
    this.clauses.clear();
    for (const id of template.clause_ids) this.clauses.set(id, { id, code: id, clause: "" });
    this.showChosen();
  }

  payload() {
    return {
      track: this.trackSelect.value,
      severity: this.severity.value,
      text: this.text.value,
      clause_ids: [...this.clauses.keys()],
    };
  }

  async submit() {
    const body = this.payload();
    if (!body.text.trim()) {
      this.notice.show([msg("comment.empty_text"), ""], "warning");
      return;
    }
    body.markup_ids = [...this.markups.selected];
    // The text came from the reviewer's template library: the server counts the template's use.
    if (this.templateSelect.value) body.template_id = Number(this.templateSelect.value);
    try {
      await call("POST", `/api/v1/sheet-revisions/${this.context.id}/comments`, { json: body });
    } catch (error) {
      this.fail(error);
      return;
    }
    this.text.value = "";
    this.templateSelect.value = "";
    this.clauses.clear();
    this.showChosen();
    this.notice.show([msg("saved"), ""], "info");
    await this.reload().catch(() => {});
    await this.loadTemplates().catch(() => {}); // the use counts changed
  }

  async saveTemplate() {
    const body = this.payload();
    if (!body.text.trim()) {
      this.notice.show([msg("comment.empty_text"), ""], "warning");
      return;
    }
    try {
      await call("POST", "/api/v1/comment-templates", { json: body });
    } catch (error) {
      this.fail(error);
      return;
    }
    this.notice.show([msg("template.saved"), ""], "info");
    await this.loadTemplates();
  }

  fail(error) {
    if (error instanceof ApiError && error.messageZh) {
      this.notice.show(english ? [error.messageEn, error.messageZh] : [error.messageZh, error.messageEn], error.status === 412 ? "warning" : "error");
    } else {
      this.notice.show(both("failed"), "error");
    }
  }
}
