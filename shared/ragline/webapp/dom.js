// Small DOM helpers. Text always goes in as text, never as HTML: titles, keys and passages come from
// documents, and whoever may upload one may put markup in it.

/** An element: `el("button", {type: "button", onclick: f}, "Delete")`. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child !== undefined && child !== null && child !== false));
  return node;
}

export const byId = (id) => document.getElementById(id);

/** Set an element's text (a live region announces it). */
export function say(id, text) {
  byId(id).textContent = text;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** "2026-03-01T10:20:30.000+00:00" as the reader's local date and time. */
export function localTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** The key of `s3://bucket/key`. */
export function keyOf(source) {
  const match = /^s3:\/\/[^/]+\/(.+)$/.exec(source || "");
  return match ? match[1] : source || "";
}
