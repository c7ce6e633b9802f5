// Small form builders for the settings pages (labels always tied to their controls).
import { h } from "./dom.js";

let counter = 0;
const nextId = (base) => `${base}-${++counter}`;

export function field(label, control, hint) {
  const id = control.id || nextId("f");
  control.id = id;
  const hintNode = hint ? h("span", { class: "hint", id: `${id}-hint`, text: hint }) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: id, text: label }), control, hintNode);
}

export function checkbox(label, checked, attrs = {}) {
  const input = h("input", { type: "checkbox", ...attrs });
  input.checked = Boolean(checked);
  return { input, node: h("label", { class: "check" }, input, ` ${label}`) };
}

export function select(options, value, attrs = {}) {
  const node = h(
    "select",
    attrs,
    options.map(([v, text]) => h("option", { value: v, text })),
  );
  node.value = value ?? options[0][0];
  return node;
}

/** A button that asks for a second click before doing something destructive. */
export function confirmButton(text, confirmText, action, attrs = {}) {
  let armed = false;
  let timer = null;
  const button = h("button", {
    type: "button",
    class: "button danger small-button",
    text,
    ...attrs,
  });
  // A name of its own keeps the visible words first, armed or not (WCAG 2.5.3).
  const label = attrs["aria-label"];
  const show = (words, name) => {
    button.textContent = words;
    if (label) button.setAttribute("aria-label", name);
  };
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      show(confirmText, `${confirmText}: ${label}`);
      timer = setTimeout(() => {
        armed = false;
        show(text, label);
      }, 5000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
      armed = false;
      show(text, label);
    }
  });
  return button;
}

/** Copy ``text``; falls back to selecting ``source`` where the clipboard API is missing. */
export async function copyText(text, source, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    source?.select?.();
    document.execCommand?.("copy");
  }
  if (button) {
    const before = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => {
      button.textContent = before;
    }, 1500);
  }
}

/**
 * Show ``message`` in words under ``control`` (inside its field), or clear it with "".
 * The control is marked invalid and described by the message, so screen readers say it too.
 */
export function setFieldError(control, message) {
  const wrap = control.closest(".field");
  if (!wrap) return;
  const id = `${control.id}-error`;
  let error = wrap.querySelector(":scope > .field-error");
  if (!error) {
    error = h("p", { class: "field-error", id, hidden: true });
    wrap.appendChild(error);
  }
  error.textContent = message;
  error.hidden = !message;
  const described = (control.getAttribute("aria-describedby") || "")
    .split(" ")
    .filter((part) => part && part !== id);
  if (message) {
    control.setAttribute("aria-invalid", "true");
    described.push(id);
  } else {
    control.removeAttribute("aria-invalid");
  }
  if (described.length) control.setAttribute("aria-describedby", described.join(" "));
  else control.removeAttribute("aria-describedby");
}
