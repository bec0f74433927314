// Changes made by others arrive as server-sent events; the lists are fetched again, a burst fetched once.
import { msg } from "./i18n.js";

export function listen(revisionId, { markups, comments, notice }) {
  if (!window.EventSource) return null;
  const pending = { markup: false, comment: false };
  let timer = null;
  const flush = () => {
    timer = null;
    if (pending.markup) markups.reload().catch(() => {});
    if (pending.comment && comments) comments.reload().catch(() => {});
    pending.markup = pending.comment = false;
  };
  const queue = (kind) => {
    pending[kind] = true;
    if (timer === null) timer = setTimeout(flush, 50);
  };
  const source = new EventSource(`/api/v1/sheet-revisions/${revisionId}/events`);
  source.addEventListener("markup", () => queue("markup"));
  source.addEventListener("comment", () => queue("comment"));
  let lost = false;
  source.addEventListener("error", () => {
    if (!lost) notice.show([msg("offline"), ""], "warning");
    lost = true;
  });
  source.addEventListener("open", () => {
    if (lost) {
      notice.hide();
      // Whatever happened while disconnected is fetched again.
      queue("markup");
      queue("comment");
    }
    lost = false;
    document.body.dataset.live = "open";
  });
  return source;
}
