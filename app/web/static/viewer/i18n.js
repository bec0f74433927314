// Interface text of the viewer: the catalogue entries the page handed over (zh-CN or en).
const config = JSON.parse(document.getElementById("viewer-config").textContent);

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (params && name in params ? String(params[name]) : whole));
}

export function has(key) {
  return "viewer.ui." + key in config.messages;
}

export function msg(key, params) {
  const text = config.messages["viewer.ui." + key];
  return fill(text === undefined ? key : text, params);
}

/** The text in the current language, then in the other one (for notices that must be read by anyone). */
export function both(key, params) {
  const other = config.other_messages["viewer.ui." + key];
  return [msg(key, params), other === undefined ? "" : fill(other, params)];
}

export const english = config.locale === "en";

export { config };
