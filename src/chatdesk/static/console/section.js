// The frame every settings section draws in: its root element, the status line, the
// signed-in operator, and the card each part of a section sits in.
//
// What a save or a failure says appears next to the button that was pressed (a long
// form's top is out of sight), in a status region of its own; the page's status line
// at the top is used only when no button was pressed (e.g. a change of a select).
import { h } from "./dom.js";
import { setFieldError } from "./forms.js";

export const root = document.getElementById("settings-root");
const statusLine = document.getElementById("settings-status");
export const me = { id: document.body.dataset.operatorId, role: document.body.dataset.role };

const RECENT_MS = 15000;
let pressed = null;

function remember(button) {
  if (button) pressed = { button, at: Date.now() };
}

root?.addEventListener("click", (event) => remember(event.target.closest?.("button")), true);
root?.addEventListener("submit", (event) => remember(event.submitter), true);

function nearStatus(button) {
  const next = button.nextElementSibling;
  if (next?.classList.contains("inline-status")) return next;
  const node = h("span", { class: "inline-status", role: "status" });
  button.after(node);
  return node;
}

function clearInline() {
  for (const node of root?.querySelectorAll(".inline-status") || []) node.textContent = "";
}

// A message shown beside a button that a re-render then takes away (a list drawn
// again after the change it reports) moves to the page's status line, not lost.
let shownNear = null;
function keepShown() {
  if (!shownNear || shownNear.button.isConnected) return;
  const { text, error } = shownNear;
  shownNear = null;
  statusLine.textContent = text;
  statusLine.classList.toggle("error", error);
}
if (root) new MutationObserver(keepShown).observe(root, { childList: true, subtree: true });

export function say(text, { error = false, near = null } = {}) {
  const button =
    near ||
    (pressed?.button.isConnected && Date.now() - pressed.at < RECENT_MS ? pressed.button : null);
  clearInline();
  statusLine.textContent = "";
  statusLine.classList.remove("error");
  const target = button ? nearStatus(button) : statusLine;
  target.textContent = text;
  target.classList.toggle("error", error);
  shownNear = button && text ? { button, text, error } : null;
}

/** Show each of a 422's problems next to its control (``fields``: API name -> control);
 * true when at least one was shown there. */
export function showFieldErrors(fields, error) {
  for (const control of Object.values(fields)) setFieldError(control, "");
  if (error?.status !== 422 || !Array.isArray(error.details)) return false;
  let first = null;
  for (const detail of error.details) {
    const parts = (detail.loc || []).filter((part) => part !== "body");
    const key = [parts.join("."), parts[0]].find((name) => name && fields[name]);
    if (key) {
      setFieldError(fields[key], detail.msg);
      first = first || fields[key];
    }
  }
  first?.focus(); // the field may be far above the button that was pressed
  return Boolean(first);
}

export async function attempt(action, success, { fields = null } = {}) {
  say("");
  try {
    const result = await action();
    if (fields) showFieldErrors(fields, null);
    if (success) say(success);
    return result;
  } catch (error) {
    if (fields && showFieldErrors(fields, error)) {
      say("Not saved: check the fields marked above.", { error: true });
    } else {
      say(error.message, { error: true });
    }
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
