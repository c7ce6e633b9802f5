// Operators' presence: your own status (Online / Away, in the account menu), and a dot
// with words for screen readers wherever colleagues are listed, kept current by the
// ``operator.presence`` events of the console's stream.
//
// The inbox forwards its stream's events here (``presenceEvent``); the settings and
// account pages open a stream of their own (``followPresence``), so an operator counts
// as online on any console page.
import { api } from "./api.js";
import { h } from "./dom.js";
import { LiveStream } from "./stream.js";

const WORDS = { online: "Online", away: "Away", offline: "Offline" };
const known = new Map(); // operator id -> "online" | "away" | "offline"
const watchers = new Set();
const myId = document.body.dataset.operatorId;

export function presenceOf(id) {
  return known.get(id) || "offline";
}

export function presenceWord(id) {
  return WORDS[presenceOf(id)];
}

/** Call ``fn(id, presence)`` on every change. */
export function onPresence(fn) {
  watchers.add(fn);
}

function paint(node, presence) {
  node.dataset.presence = presence;
  const words = node.querySelector(".presence-words");
  if (words) words.textContent = WORDS[presence];
  node.title = WORDS[presence];
}

/** Record what the API says (GET /team, /operators, /auth/me) or an event says. */
export function setPresence(id, presence) {
  if (!WORDS[presence] || known.get(id) === presence) return;
  known.set(id, presence);
  for (const node of document.querySelectorAll(`[data-presence-of="${CSS.escape(id)}"]`))
    paint(node, presence);
  for (const fn of watchers) fn(id, presence);
}

export function rememberPresence(operators) {
  for (const operator of operators)
    if (operator.presence) setPresence(operator.id, operator.presence);
}

/** A coloured dot, and its meaning in words for screen readers; kept current. */
export function presenceDot(id) {
  const node = h(
    "span",
    { class: "presence", "data-presence-of": id },
    h("span", { class: "presence-dot", "aria-hidden": "true" }),
    h("span", { class: "visually-hidden presence-words" }),
  );
  paint(node, presenceOf(id));
  return node;
}

export function presenceEvent(event) {
  if (event.type !== "operator.presence" || !event.data) return;
  setPresence(event.data.operator_id, event.data.presence);
}

/** Read everyone's presence again (after a reconnect: events meanwhile were missed). */
export async function refreshPresence() {
  try {
    rememberPresence((await api("GET", "/api/v1/team")).operators);
  } catch {
    // The next reconnect tries again.
  }
}

// -- your own status ---------------------------------------------------------------

const choice = document.getElementById("presence-choice");

function showChoice(presence) {
  if (!choice || presence === "offline") return; // offline: the stream is not up yet
  const input = choice.querySelector(`input[value="${presence}"]`);
  if (input) input.checked = true;
}

async function choose(presence) {
  const error = document.getElementById("presence-error");
  error.textContent = "";
  choice.setAttribute("aria-busy", "true");
  try {
    const { operator } = await api("PATCH", "/api/v1/auth/me", { presence });
    setPresence(operator.id, operator.presence);
  } catch (failure) {
    error.textContent = `Your status was not changed: ${failure.message}`;
    showChoice(presenceOf(myId) === "away" ? "away" : "online");
  } finally {
    choice.removeAttribute("aria-busy");
  }
}

if (choice) {
  for (const input of choice.querySelectorAll("input[name=presence]"))
    input.addEventListener("change", () => input.checked && choose(input.value));
  onPresence((id, presence) => {
    if (id === myId) showChoice(presence);
  });
  api("GET", "/api/v1/auth/me")
    .then(({ operator }) => {
      setPresence(operator.id, operator.presence);
      showChoice(operator.presence === "away" ? "away" : "online");
    })
    .catch(() => {});
}

/** On pages without the inbox's stream: a stream of our own, for presence only. */
export async function followPresence() {
  const stream = new LiveStream({
    onEvent: presenceEvent,
    onResync: refreshPresence,
    // Presence changes are not kept for a stream that was not open: read them again.
    onStatus: (status) => status === "live" && refreshPresence(),
    // Signed out elsewhere: this page's next action sends the operator to sign in
    // (a form being filled in is not taken away under them).
    onSignedOut: () => stream.close(),
  });
  try {
    stream.start(await stream.head());
  } catch {
    setTimeout(followPresence, 5000);
  }
}
