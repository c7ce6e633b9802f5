// The frame every settings section draws in: its root element, the status line, the
// signed-in operator, and the card each part of a section sits in.
import { h } from "./dom.js";

export const root = document.getElementById("settings-root");
const statusLine = document.getElementById("settings-status");
export const me = { id: document.body.dataset.operatorId, role: document.body.dataset.role };

export function say(text, { error = false } = {}) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", error);
}

export async function attempt(action, success) {
  say("");
  try {
    const result = await action();
    if (success) say(success);
    return result;
  } catch (error) {
    say(error.message, { error: true });
    return undefined;
  }
}

export function card(title, ...children) {
  return h(
    "div",
    { class: "card" },
    h("div", { class: "card-head" }, h("h3", { text: title })),
    ...children,
  );
}
