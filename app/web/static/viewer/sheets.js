// The sheets of the round: a list, a strip of thumbnails, and a box that jumps by sheet number.
import { msg } from "./i18n.js";

/** A sheet number reduced to what people type differently: 建施-03, 建施03, 建施 3 and jian-shi-03 all meet. */
export function sheetKey(number) {
  const compact = String(number).toUpperCase().replace(/[\s\-_—–－·.]/g, "");
  return compact.replace(/\d+/g, (digits) => String(Number(digits)));
}

function viewerUrl(sheet) {
  return "/sheet-revisions/" + sheet.revision_id;
}

export function showSheets(context) {
  const list = document.getElementById("viewer-sheets");
  const strip = document.getElementById("viewer-strip");
  list.replaceChildren();
  strip.replaceChildren();
  for (const sheet of context.sheets || []) {
    const current = sheet.revision_id === context.id;
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = viewerUrl(sheet);
    link.setAttribute("data-testid", "viewer-sheet");
    const number = document.createElement("strong");
    number.textContent = sheet.number;
    const title = document.createElement("span");
    title.textContent = " " + (sheet.title || "");
    link.append(number, title);
    if (current) item.classList.add("current");
    item.appendChild(link);
    list.appendChild(item);

    const cell = document.createElement("li");
    if (current) cell.classList.add("current");
    const thumbLink = document.createElement("a");
    thumbLink.href = viewerUrl(sheet);
    thumbLink.title = sheet.number + " " + (sheet.title || "");
    if (sheet.thumbnail) {
      const img = document.createElement("img");
      img.src = typeof sheet.thumbnail === "string" ? sheet.thumbnail : `/api/v1/sheet-revisions/${sheet.revision_id}/thumbnail.png`;
      img.alt = sheet.number;
      img.loading = "lazy";
      thumbLink.appendChild(img);
    }
    const caption = document.createElement("span");
    caption.textContent = sheet.number;
    thumbLink.appendChild(caption);
    cell.appendChild(thumbLink);
    strip.appendChild(cell);
  }
  const form = document.getElementById("viewer-jump");
  const input = document.getElementById("viewer-jump-input");
  const error = document.getElementById("viewer-jump-error");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = sheetKey(input.value.trim());
    if (!wanted) return;
    const found = (context.sheets || []).find((sheet) => sheetKey(sheet.number) === wanted);
    if (found) {
      window.location.assign(viewerUrl(found));
    } else {
      error.textContent = msg("jump.unknown", { number: input.value.trim() });
      error.hidden = false;
    }
  });
  input.addEventListener("input", () => {
    error.hidden = true;
  });
}

/** The sheet ``step`` places after the current one in the list (for [ and ]). */
export function neighbour(context, step) {
  const sheets = context.sheets || [];
  const index = sheets.findIndex((sheet) => sheet.revision_id === context.id);
  const next = sheets[index + step];
  return next ? viewerUrl(next) : null;
}
