// The inbox page: wires the list, the conversation, the composer and the live stream.
import { api } from "./api.js";
import "./chrome.js";
import { Composer } from "./composer.js";
import { ConversationView } from "./conversation.js";
import { isTyping } from "./dom.js";
import { Inbox } from "./inbox.js";
import { askPermissionOnFirstGesture, notify, ping, setBadge } from "./notify.js";
import { presenceEvent, presenceOf, refreshPresence, rememberPresence } from "./presence.js";
import { remember, state, totalUnread, visitorName } from "./state.js";
import { LiveStream } from "./stream.js";
import { VisitorPanel } from "./visitor.js";

const connStatus = document.getElementById("conn-status");
const PATH = /^\/admin\/conversations\/([^/]+)\/?$/;

const inbox = new Inbox({ onOpen: openConversation });
const view = new ConversationView({ onChanged: changed });
const composer = new Composer({ onSent: (message) => onMessage(message, { local: true }) });
const panel = new VisitorPanel({ onOpen: openConversation, onErased: forgetVisitor });
let readTimer = null;

const announcer = document.getElementById("inbox-announce");

/** Tell screen-reader users (and everyone, briefly) something the keyboard did. */
function announce(text) {
  announcer.textContent = text;
  setTimeout(() => {
    if (announcer.textContent === text) announcer.textContent = "";
  }, 4000);
}

function refreshBadge() {
  setBadge(totalUnread());
}

function changed(conversation) {
  inbox.upsert(conversation);
  refreshBadge();
}

function setView(name) {
  document.body.dataset.view = name;
}

async function openConversation(id, { push = false } = {}) {
  if (push && location.pathname !== `/admin/conversations/${id}`) {
    history.pushState({ id }, "", `/admin/conversations/${encodeURIComponent(id)}`);
  }
  setView("conversation");
  const previous = state.openId;
  state.openId = id;
  composer.reset();
  // The conversation we leave may no longer match the filters (e.g. just resolved).
  if (previous && previous !== id && state.conversations.has(previous)) {
    inbox.upsert(state.conversations.get(previous));
  }
  inbox.render();
  inbox.focusRow(id);
  if (previous !== id) panel.hide();
  const conversation = await view.open(id);
  if (conversation && state.openId === id) {
    panel.show(conversation);
    inbox.upsert(conversation);
    refreshBadge();
  }
}

function closeConversation({ push = false } = {}) {
  if (push) history.pushState({}, "", "/admin");
  const previous = state.openId;
  view.close();
  if (previous && state.conversations.has(previous))
    inbox.upsert(state.conversations.get(previous));
  panel.hide();
  composer.reset();
  setView("list");
  inbox.render();
}

/** A visitor was erased: their conversations leave this console too. */
function forgetVisitor(visitor) {
  const theirs = [...state.conversations.values()].filter(
    (c) => c.visitor_id === visitor.id || c.visitor?.id === visitor.id,
  );
  const open = theirs.some((c) => c.id === state.openId);
  for (const c of theirs) state.conversations.delete(c.id);
  inbox.ids = inbox.ids.filter((id) => state.conversations.has(id));
  if (open) closeConversation({ push: true });
  else inbox.render();
  refreshBadge();
}

function routeFromLocation() {
  const match = PATH.exec(location.pathname);
  if (match) openConversation(decodeURIComponent(match[1]));
  else closeConversation();
}

window.addEventListener("popstate", routeFromLocation);
document
  .getElementById("back-to-list")
  .addEventListener("click", () => closeConversation({ push: true }));

// -- live events ---------------------------------------------------------------------

// A conversation.created event comes before its first message (same transaction); the
// "new conversation" alert waits for that message so it can show what the visitor wrote.
const awaitingFirstMessage = new Set();

function attentionFor(conversation, text, body) {
  ping();
  notify(text, body || "", () => openConversation(conversation.id, { push: true }));
}

/** Whether this operator takes the site's unassigned work now: online, not away. */
function available() {
  return presenceOf(state.me.id) !== "away";
}

/** Who hears of a visitor's message: in an unassigned conversation every online
 * operator of the site (each console receives only its sites' events), in an
 * assigned one only the assignee. */
function visitorWrote(conversation, message, { first, isOpen }) {
  const mine = conversation.assignee_id === state.me.id;
  const forMe = mine || (!conversation.assignee_id && available());
  if (!forMe || (isOpen && !document.hidden)) return;
  const who = visitorName(conversation);
  const title = first ? `New conversation from ${who}` : `New message from ${who}`;
  attentionFor(conversation, title, message.body);
}

/** Run ``fn`` with a conversation not yet known here, once it has been fetched. */
async function whenKnown(id, fn) {
  await fetchConversation(id);
  const conversation = state.conversations.get(id);
  if (conversation) fn(conversation);
}

/** The inbox's line for a message, as the server makes it (a message of files names them). */
function preview(message) {
  if (message.body || !message.attachments?.length) return message.body.slice(0, 140);
  return `📎 ${message.attachments.map((file) => file.name).join(", ")}`.slice(0, 140);
}

function onMessage(message, { local = false } = {}) {
  let conversation = state.conversations.get(message.conversation_id);
  if (!conversation) {
    fetchConversation(message.conversation_id);
  } else if (!message.private && message.created_at >= (conversation.last_message_at || "")) {
    const fromVisitor = message.author.type === "visitor";
    conversation = remember({
      ...conversation,
      last_message_at: message.created_at,
      last_message: { preview: preview(message), author_type: message.author.type },
      unread_count: fromVisitor ? (conversation.unread_count || 0) + (local ? 0 : 1) : 0,
    });
    inbox.upsert(conversation);
  }
  view.receive(message);
  if (message.attachments?.length && message.conversation_id === state.openId) panel.refreshFiles();
  if (message.author.type === "operator" && message.author.id === state.me.id)
    composer.acknowledge(message);
  if (message.author.type === "visitor" && !local) {
    const isOpen = message.conversation_id === state.openId;
    if (isOpen && document.visibilityState === "visible") {
      clearTimeout(readTimer);
      readTimer = setTimeout(() => view.markRead(), 400);
    }
    const first = awaitingFirstMessage.delete(message.conversation_id);
    if (conversation) visitorWrote(conversation, message, { first, isOpen });
    else whenKnown(message.conversation_id, (c) => visitorWrote(c, message, { first, isOpen }));
  }
  if (message.private && !local && (message.mentions || []).includes(state.me.id)) {
    const author = message.author.id === state.me.id ? null : message.author.name;
    if (author) {
      const about = conversation ? ` (${visitorName(conversation)})` : "";
      attentionFor(
        { id: message.conversation_id },
        `${author} mentioned you${about}`,
        message.body,
      );
    }
  }
  refreshBadge();
}

async function fetchConversation(id) {
  try {
    const fetched = await api("GET", `/api/v1/conversations/${encodeURIComponent(id)}`);
    changed(remember(fetched)); // an older answer than what is known only brings the visitor
  } catch {
    // Gone or not visible to us any more.
  }
}

function onEvent(event) {
  const data = event.data || {};
  switch (event.type) {
    case "conversation.created": {
      const conversation = remember(data.conversation);
      changed(conversation);
      awaitingFirstMessage.add(conversation.id);
      break;
    }
    case "conversation.updated": {
      const known = state.conversations.has(data.conversation.id);
      const conversation = remember(data.conversation);
      if (!conversation.visitor) fetchConversation(conversation.id);
      else changed(conversation);
      if (conversation.id === state.openId) view.renderHead(conversation);
      if (known && (data.changes || []).includes("labels")) loadLabels();
      break;
    }
    case "message.created":
      onMessage(data.message);
      break;
    case "conversation.read": {
      const known = state.conversations.get(event.conversation_id);
      if (!known) break;
      const field = data.by === "visitor" ? "visitor_read_message_id" : "operator_read_message_id";
      if (known[field] && known[field] >= data.message_id) break;
      remember({ ...known, [field]: data.message_id });
      if (event.conversation_id === state.openId) view.renderSeen();
      break;
    }
    case "visitor.updated":
      for (const conversation of state.conversations.values()) {
        if (conversation.visitor?.id === data.visitor.id) {
          remember({ ...conversation, visitor: data.visitor });
          inbox.renderRow(state.conversations.get(conversation.id));
          if (conversation.id === state.openId)
            view.renderHead(state.conversations.get(conversation.id));
        }
      }
      panel.update(data.visitor);
      break;
    case "typing":
      view.showTyping(event);
      break;
    case "operator.presence":
      presenceEvent(event);
      break;
    default:
      break;
  }
}

const STATUS_TEXT = { live: "", reconnecting: "Reconnecting…" };

const stream = new LiveStream({
  onEvent,
  onStatus: (status) => {
    connStatus.textContent = STATUS_TEXT[status] ?? "";
    connStatus.dataset.status = status;
    if (status === "live") {
      composer.retryFailed();
      // Presence changes are not kept for a stream that was not open: read them again.
      refreshPresence();
    }
  },
  onResync: async () => {
    await inbox.reload();
    if (state.openId) await view.open(state.openId);
  },
});

// -- reference data -------------------------------------------------------------------

async function loadLabels() {
  try {
    state.labels = (await api("GET", "/api/v1/labels")).labels;
    inbox.setLabels(state.labels);
  } catch {
    // Suggestions only.
  }
}

async function loadReference() {
  const [team, sites, canned] = await Promise.all([
    api("GET", "/api/v1/team"),
    api("GET", "/api/v1/inbox/sites"),
    api("GET", "/api/v1/canned-responses"),
    loadLabels(),
  ]);
  for (const operator of team.operators) state.team.set(operator.id, operator);
  rememberPresence(team.operators);
  for (const site of sites.sites) state.sites.set(site.id, site.name);
  inbox.setSites(sites.sites);
  state.canned = canned.canned_responses;
}

// -- keyboard shortcuts ---------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (isTyping(event.target) || document.querySelector("dialog[open]")) return;
  const key = event.key;
  if (key === "j" || key === "k") {
    const id = inbox.neighbour(key === "j" ? 1 : -1);
    if (id) openConversation(id, { push: true });
  } else if (key === "n") {
    const id = inbox.nextUnread();
    if (id) openConversation(id, { push: true });
    else announce("No unread conversations.");
  } else if (key === "e" && state.openId) {
    view.patch({ status: "resolved" });
  } else if (key === "a" && state.openId) {
    view.assignToMe();
  } else if ((key === "r" || key === "/") && state.openId) {
    composer.focus();
  } else if (key === "?") {
    document.getElementById("shortcuts-dialog").showModal();
  } else {
    return;
  }
  event.preventDefault();
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.conversations.get(state.openId)?.unread_count)
    view.markRead();
});

// -- start ----------------------------------------------------------------------------

async function start() {
  setView(PATH.test(location.pathname) ? "conversation" : "list");
  try {
    const cursor = await stream.head(); // taken first: nothing can fall between it and the REST state
    await loadReference();
    await inbox.reload();
    stream.start(cursor);
    routeFromLocation();
    refreshBadge();
    document.body.dataset.ready = "1";
  } catch (error) {
    connStatus.textContent = `Could not load the inbox: ${error.message}`;
    setTimeout(start, 3000);
  }
}

askPermissionOnFirstGesture();
start();
