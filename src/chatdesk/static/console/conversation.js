// The open conversation: transcript, status, assignee, labels, typing indicator.
import { attachmentList } from "../shared/attachments.js";
import { renderDays } from "../shared/days.js";
import { loadLinks, messageText } from "../shared/message-text.js";
import { api, query } from "./api.js";
import { clear, h } from "./dom.js";
import { onPresence, presenceDot, presenceOf } from "./presence.js";
import { operatorName, remember, state, visitorName } from "./state.js";
import { formatDateTime, formatTime, timeElement } from "./time.js";
import { ratingText, timelineEntry } from "./timeline.js";

const TYPING_SHOWN_MS = 5000;
const PRESENCE_GROUPS = { online: "Online", away: "Away", offline: "Offline" };
const STAFF = new Set(["operator", "bot"]);
const HOUR_MS = 60 * 60 * 1000;

/** When each snooze preset wakes: in an hour, tomorrow at 9:00, next Monday at 9:00. */
export function snoozePreset(name, now = new Date()) {
  if (name === "hour") return new Date(now.getTime() + HOUR_MS);
  const at = new Date(now.getFullYear(), now.getMonth(), now.getDate(), 9, 0, 0, 0);
  if (name === "tomorrow") at.setDate(at.getDate() + 1);
  else {
    // Monday of next week (a week from tomorrow when today is Sunday: not "tomorrow" twice).
    const days = (8 - at.getDay()) % 7 || 7;
    at.setDate(at.getDate() + (days < 2 ? days + 7 : days));
  }
  return at;
}

/** A Date as the value of an <input type="datetime-local"> (local time, minutes). */
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export class ConversationView {
  constructor({ onChanged }) {
    this.onChanged = onChanged;
    this.empty = document.getElementById("conversation-empty");
    this.body = document.getElementById("conversation-body");
    this.title = document.getElementById("conversation-title");
    this.subtitle = document.getElementById("conversation-subtitle");
    this.status = document.getElementById("conversation-status");
    this.assignee = document.getElementById("conversation-assignee");
    this.assignMe = document.getElementById("assign-me");
    this.resolve = document.getElementById("resolve");
    this.chips = document.getElementById("label-chips");
    this.labelForm = document.getElementById("label-form");
    this.labelInput = document.getElementById("label-input");
    this.suggestions = document.getElementById("label-suggestions");
    this.error = document.getElementById("toolbar-error");
    this.transcript = document.getElementById("transcript");
    this.wrap = document.getElementById("transcript-wrap");
    this.earlier = document.getElementById("load-earlier");
    this.typing = document.getElementById("typing-indicator");
    this.messageIds = new Set();
    this.typers = new Map(); // author key -> {text, until}
    this.generation = 0;
    this.assigneePresence = document.getElementById("assignee-presence");
    this.snooze = document.getElementById("snooze");
    this.snoozeToggle = document.getElementById("snooze-toggle");
    this.snoozeMenu = document.getElementById("snooze-menu");
    this.snoozeAt = document.getElementById("snooze-at");
    this.snoozeNote = document.getElementById("snooze-note");
    this.rating = document.getElementById("conversation-rating");
    this.bind();
    setInterval(() => this.renderTyping(), 1000);
    // "Today" becomes "Yesterday" at midnight without a reload.
    setInterval(() => this.renderDays(), 60_000);
    // The picker says who is online: keep it current while it is shown (not while it
    // is being used: redrawing it would close it under the operator's pointer).
    let stale = false;
    const redraw = () => {
      const current = this.current();
      if (current) this.renderAssignees(current);
    };
    onPresence(() => {
      if (document.activeElement === this.assignee) stale = true;
      else redraw();
    });
    this.assignee.addEventListener("blur", () => {
      if (stale) redraw();
      stale = false;
    });
  }

  bind() {
    this.status.addEventListener("change", () => this.patch({ status: this.status.value }));
    this.assignee.addEventListener("change", () =>
      this.patch({ assignee_id: this.assignee.value || null }),
    );
    this.assignMe.addEventListener("click", () => this.assignToMe());
    this.resolve.addEventListener("click", () => this.toggleResolved());
    this.labelForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = this.labelInput.value.trim().toLowerCase();
      if (!name) return;
      const current = this.current()?.labels || [];
      if (!current.includes(name)) this.patch({ labels: [...current, name] });
      this.labelInput.value = "";
    });
    this.earlier.addEventListener("click", () => this.loadEarlier());
    for (const button of this.snooze.querySelectorAll("[data-snooze]")) {
      button.addEventListener("click", () => this.snoozeUntil(snoozePreset(button.dataset.snooze)));
    }
    this.snoozeToggle.addEventListener("click", () => this.showSnooze(this.snoozeMenu.hidden));
    this.snooze.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.snoozeMenu.hidden) {
        event.stopPropagation();
        this.showSnooze(false);
        this.snoozeToggle.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!this.snoozeMenu.hidden && !this.snooze.contains(event.target)) this.showSnooze(false);
    });
    document.getElementById("snooze-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const at = new Date(this.snoozeAt.value);
      if (!this.snoozeAt.value || Number.isNaN(at.getTime())) {
        this.error.textContent = "Pick the day and time the conversation should come back.";
        return;
      }
      this.snoozeUntil(at);
    });
    // Read receipts: what the operator sees while the tab is visible counts as read.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.current()) this.markRead();
    });
  }

  /** Open (with each preset's time written out) or close the snooze menu. */
  showSnooze(open) {
    this.snoozeMenu.hidden = !open;
    this.snoozeToggle.setAttribute("aria-expanded", String(open));
    if (!open) return;
    for (const button of this.snooze.querySelectorAll("[data-snooze]")) {
      const when = button.querySelector(".snooze-when");
      if (when) when.textContent = formatDateTime(snoozePreset(button.dataset.snooze));
    }
    const now = new Date();
    this.snoozeAt.min = localInputValue(now);
    if (!this.snoozeAt.value) this.snoozeAt.value = localInputValue(snoozePreset("tomorrow", now));
  }

  async snoozeUntil(date) {
    this.showSnooze(false);
    await this.patch({ status: "snoozed", snoozed_until: date.toISOString() });
  }

  current() {
    return state.openId ? state.conversations.get(state.openId) : null;
  }

  /** Show conversation ``id``: its state, transcript, and mark it read. */
  async open(id) {
    const generation = ++this.generation;
    state.openId = id;
    this.messageIds.clear();
    this.typers.clear();
    clear(this.transcript);
    this.error.textContent = "";
    this.empty.hidden = true;
    this.body.hidden = false;
    this.body.setAttribute("aria-busy", "true");
    const known = state.conversations.get(id);
    if (known) this.renderHead(known);
    else this.title.textContent = "Loading…";
    try {
      const [conversation, history] = await Promise.all([
        api("GET", `/api/v1/conversations/${encodeURIComponent(id)}`),
        api(
          "GET",
          `/api/v1/conversations/${encodeURIComponent(id)}/messages${query({ limit: 50 })}`,
        ),
        // Links are drawn from the first render on: the finder loads beside the requests
        // (without it, addresses stay text).
        loadLinks().catch(() => {}),
      ]);
      if (generation !== this.generation) return null;
      const merged = remember(conversation);
      this.renderHead(merged);
      this.addMessages(history.messages);
      this.earlier.hidden = history.messages.length < 50;
      this.scrollToEnd();
      this.markRead();
      return merged;
    } catch (error) {
      if (generation !== this.generation) return null;
      this.title.textContent =
        error.status === 404 ? "Conversation not found" : "Could not load this conversation";
      this.subtitle.textContent =
        error.status === 404 ? "It does not exist or you cannot see it." : error.message;
      return null;
    } finally {
      if (generation === this.generation) this.body.setAttribute("aria-busy", "false");
    }
  }

  close() {
    this.generation += 1;
    state.openId = null;
    this.body.hidden = true;
    this.empty.hidden = false;
  }

  /** The newest message on screen is read (the team's read mark, and its unread count). */
  async markRead() {
    const c = this.current();
    const last = [...this.transcript.querySelectorAll("li[data-id]")].pop();
    if (!c || !last || document.visibilityState !== "visible") return;
    const id = last.dataset.id;
    if (c.operator_read_message_id && c.operator_read_message_id >= id && !c.unread_count) return;
    try {
      await api("POST", `/api/v1/conversations/${encodeURIComponent(c.id)}/read`, {
        message_id: id,
      });
      // Only the read mark: ``c`` was read before the wait and may be older by now.
      const updated = remember({ id: c.id, operator_read_message_id: id, unread_count: 0 });
      this.onChanged(updated);
    } catch {
      // Not fatal: the count clears on the next reply anyway.
    }
  }

  /** "Seen" under the team's last reply the visitor has read. */
  renderSeen() {
    for (const old of this.transcript.querySelectorAll(".seen-mark")) old.remove();
    const mark = this.current()?.visitor_read_message_id;
    if (!mark) return;
    const replies = [...this.transcript.querySelectorAll("li.msg[data-staff]")].filter(
      (node) => node.dataset.id <= mark,
    );
    const last = replies.pop();
    if (last) last.appendChild(h("p", { class: "seen-mark", text: "Seen" }));
  }

  async loadEarlier() {
    const c = this.current();
    const first = this.transcript.querySelector("li[data-id]");
    if (!c || !first) return;
    const before = first.dataset.id;
    const history = await api(
      "GET",
      `/api/v1/conversations/${encodeURIComponent(c.id)}/messages${query({ before, limit: 50 })}`,
    );
    const height = this.wrap.scrollHeight;
    this.addMessages(history.messages, { prepend: true });
    this.wrap.scrollTop += this.wrap.scrollHeight - height;
    this.earlier.hidden = history.messages.length < 50;
  }

  async patch(changes) {
    const c = this.current();
    if (!c) return;
    this.error.textContent = "";
    try {
      const updated = await api(
        "PATCH",
        `/api/v1/conversations/${encodeURIComponent(c.id)}`,
        changes,
      );
      const merged = remember(updated);
      if (merged.id === state.openId) this.renderHead(merged);
      this.onChanged(merged);
    } catch (error) {
      this.error.textContent = error.message;
      if (c.id === state.openId) this.renderHead(c);
    }
  }

  assignToMe() {
    return this.patch({ assignee_id: state.me.id });
  }

  toggleResolved() {
    const c = this.current();
    if (!c) return undefined;
    return this.patch({ status: c.status === "resolved" ? "open" : "resolved" });
  }

  renderHead(c) {
    this.title.textContent = visitorName(c);
    const parts = [];
    if (c.visitor?.email) parts.push(c.visitor.email);
    const site = state.sites.get(c.site_id);
    if (site && state.sites.size > 1) parts.push(site);
    parts.push(`Started ${formatDateTime(c.created_at)}`);
    this.subtitle.textContent = parts.join(" · ");
    this.status.value = c.status;
    const snoozed = c.status === "snoozed" && c.snoozed_until;
    this.snoozeNote.hidden = !snoozed;
    this.snoozeNote.textContent = snoozed ? `Snoozed until ${formatDateTime(c.snoozed_until)}` : "";
    this.resolve.textContent = c.status === "resolved" ? "Reopen" : "Resolve";
    this.rating.hidden = !c.rating;
    this.rating.textContent = ratingText(c.rating);
    this.renderAssignees(c);
    this.assignMe.disabled = c.assignee_id === state.me.id;
    clear(this.chips);
    for (const name of c.labels || []) {
      this.chips.appendChild(
        h(
          "li",
          { class: "chip" },
          name,
          h("button", {
            type: "button",
            class: "chip-remove",
            "aria-label": `Remove label ${name}`,
            text: "×",
            onclick: () =>
              this.patch({ labels: (this.current()?.labels || []).filter((l) => l !== name) }),
          }),
        ),
      );
    }
    clear(this.suggestions);
    for (const name of state.labels) this.suggestions.appendChild(h("option", { value: name }));
  }

  renderAssignees(c) {
    clear(this.assignee).appendChild(h("option", { value: "", text: "Unassigned" }));
    const team = [...state.team.values()];
    if (c.assignee_id && !state.team.has(c.assignee_id))
      team.push({ id: c.assignee_id, name: "Operator" });
    // Grouped by presence: who is online first, the group's name says it in words.
    for (const presence of ["online", "away", "offline"]) {
      const members = team.filter((operator) => presenceOf(operator.id) === presence);
      if (!members.length) continue;
      const group = h("optgroup", { label: PRESENCE_GROUPS[presence] });
      for (const operator of members) {
        const label = operator.id === state.me.id ? `${operator.name} (you)` : operator.name;
        group.appendChild(h("option", { value: operator.id, text: label }));
      }
      this.assignee.appendChild(group);
    }
    this.assignee.value = c.assignee_id || "";
    clear(this.assigneePresence);
    if (c.assignee_id) this.assigneePresence.appendChild(presenceDot(c.assignee_id));
  }

  /** A message from the API or the stream; shown once however often it arrives. */
  addMessages(messages, { prepend = false } = {}) {
    const nodes = [];
    for (const message of messages) {
      if (this.messageIds.has(message.id)) continue;
      this.messageIds.add(message.id);
      nodes.push(this.renderMessage(message));
    }
    if (prepend) this.transcript.prepend(...nodes);
    else this.transcript.append(...nodes);
    if (nodes.length) {
      this.renderDays();
      this.renderSeen();
    }
    return nodes.length;
  }

  /** A separator ("Today", "Yesterday", a date) before the first message of each day. */
  renderDays(now = new Date()) {
    renderDays(this.transcript, daySeparator, now);
  }

  receive(message) {
    if (message.conversation_id !== state.openId) return;
    const nearEnd = this.wrap.scrollHeight - this.wrap.scrollTop - this.wrap.clientHeight < 120;
    if (this.addMessages([message]) && (nearEnd || message.author.id === state.me.id))
      this.scrollToEnd();
    this.typers.delete(`${message.author.type}:${message.author.id}`);
    this.renderTyping();
  }

  renderMessage(message) {
    if (message.kind) return timelineEntry(message);
    const type = message.private ? "note" : message.author.type;
    const mine = message.author.type === "operator" && message.author.id === state.me.id;
    let author = message.author.name;
    if (message.author.type === "visitor") author = author || visitorName(this.current());
    else if (message.author.type === "system") author = "chatdesk";
    else author = mine ? `${author || "You"} (you)` : author || operatorName(message.author.id);
    return h(
      "li",
      {
        class: `msg msg-${type}${mine ? " msg-mine" : ""}`,
        dataset: {
          id: message.id,
          at: message.created_at,
          ...(STAFF.has(message.author.type) && !message.private ? { staff: "1" } : {}),
        },
      },
      h(
        "div",
        { class: "msg-meta" },
        h("span", { class: "msg-author", text: author }),
        message.private ? h("span", { class: "note-tag", text: "Private note" }) : null,
        timeElement(message.created_at, "msg-time", { text: formatTime }),
      ),
      message.body ? h("div", { class: "msg-body" }, messageText(message.body)) : null,
      attachmentList(message.attachments),
    );
  }

  scrollToEnd() {
    this.wrap.scrollTop = this.wrap.scrollHeight;
  }

  showTyping(event) {
    if (event.conversation_id !== state.openId) return;
    const author = event.data?.author || {};
    if (author.type === "operator" && author.id === state.me.id) return;
    let text;
    if (author.type === "visitor")
      text = `${author.name || visitorName(this.current())} is typing…`;
    else
      text = `${author.name || "A teammate"} is ${event.data?.private ? "writing a note" : "typing"}…`;
    this.typers.set(`${author.type}:${author.id}`, { text, until: Date.now() + TYPING_SHOWN_MS });
    this.renderTyping();
  }

  renderTyping() {
    const now = Date.now();
    const texts = [];
    for (const [key, entry] of this.typers) {
      if (entry.until < now) this.typers.delete(key);
      else texts.push(entry.text);
    }
    const text = texts.join(" ");
    if (this.typing.textContent !== text) this.typing.textContent = text;
  }
}

// A list item of the transcript (an <ol> may hold only items: a role of separator here
// breaks the list for assistive technology); it reads as the day's name.
function daySeparator(label, key) {
  return h(
    "li",
    { class: "day-separator", "aria-label": label, dataset: { day: key } },
    h("span", { text: label }),
  );
}
