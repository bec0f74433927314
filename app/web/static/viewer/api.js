// JSON calls to /api/v1 with the session's CSRF token; ETags travel with the results.
import { english } from "./i18n.js";

const csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && body.error;
    super(error ? (english ? error.message_en : error.message_zh) : "HTTP " + status);
    this.status = status;
    this.code = error ? error.code : "";
    this.messageZh = error ? error.message_zh : "";
    this.messageEn = error ? error.message_en : "";
  }
}

/** fetch() that resolves to {data, etag} and rejects with an ApiError (status 0 for a network failure). */
export async function call(method, url, { json, form, etag } = {}) {
  const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (etag) headers["If-Match"] = etag;
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, null);
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, etag: response.headers.get("ETag") };
}

export const get = (url) => call("GET", url).then((r) => r.data);

export function quoteVersion(version) {
  return '"' + version + '"';
}
