// The reply box: Enter sends, Shift+Enter breaks the line, /shortcut expands canned responses,
// and in a private note "@" offers the site's operators to mention.
// Each message gets its client_msg_id once, when it is written; a retry reuses it, so a
// double click, a resend or a lost response never stores the message twice.
import { ApiError, api } from "./api.js";
import { clear, h, randomId } from "./dom.js";
import { presenceWord } from "./presence.js";
import { state } from "./state.js";
import { Uploads } from "./uploads.js";

const TYPING_EVERY_MS = 3000;
// {{visitor.name}}, {{ operator.name }}: a dotted name between double braces.
const VARIABLE = /\{\{\s*([a-z]+\.[a-z_]+)\s*\}\}/g;
// Said in place of a visitor who gave no name: "Hi {{visitor.name}}!" reads "Hi there!".
const NO_VISITOR_NAME = "there";

/** ``text`` with the variables it names filled from ``values``; unknown ones stay as written. */
export function fillVariables(text, values) {
  return text.replace(VARIABLE, (whole, name) =>
    Object.hasOwn(values, name) ? values[name] : whole,
  );
}

/** What a canned response's variables mean in the open conversation. */
function variables() {
  const conversation = state.conversations.get(state.openId);
  const values = {
    "visitor.name": conversation?.visitor?.name?.trim() || NO_VISITOR_NAME,
    "operator.name": state.me.name || "",
  };
  const site = conversation && state.sites.get(conversation.site_id);
  if (site) values["site.name"] = site;
  return values;
}

/** The responses usable in the open conversation: the global ones and its site's, a site's
 * response taking the place of a global one with the same shortcut. */
function usableCanned() {
  const siteId = state.conversations.get(state.openId)?.site_id;
  const byShortcut = new Map();
  for (const canned of state.canned) {
    if (canned.site_id && canned.site_id !== siteId) continue;
    if (canned.site_id || !byShortcut.has(canned.shortcut)) byShortcut.set(canned.shortcut, canned);
  }
  return [...byShortcut.values()].sort((a, b) => (a.shortcut < b.shortcut ? -1 : 1));
}

// The operators who answer each site (GET /team?site_id=), for @mentions; fetched once.
const siteTeams = new Map(); // site id -> Promise<[{id, name, role, presence}]>

function siteTeam(siteId) {
  if (!siteTeams.has(siteId)) {
    const path = `/api/v1/team?site_id=${encodeURIComponent(siteId)}`;
    const loading = api("GET", path).then(
      (answer) => answer.operators,
      () => {
        siteTeams.delete(siteId); // asked again next time
        return [];
      },
    );
    siteTeams.set(siteId, loading);
  }
  return siteTeams.get(siteId);
}

export class Composer {
  constructor({ onSent }) {
    this.onSent = onSent;
    this.form = document.getElementById("composer");
    this.input = document.getElementById("composer-input");
    this.label = document.getElementById("composer-label");
    this.privateToggle = document.getElementById("private-toggle");
    this.send = document.getElementById("send");
    this.outboxList = document.getElementById("outbox");
    this.suggestions = document.getElementById("canned-suggestions");
    this.outbox = []; // {client_msg_id, conversation_id, body, private, state, error}
    this.matches = [];
    this.active = 0;
    this.lastTyping = 0;
    window.addEventListener("online", () => this.retryFailed());
    this.drafts = new Map(); // conversation id -> unsent text, kept while switching
    this.draftOwner = null;
    this.uploads = new Uploads({});
    this.uploads.acceptPastes(this.input);
    this.uploads.acceptDrops(this.form.closest("section") || this.form);
    this.bind();
  }

  bind() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => this.onKey(event));
    this.input.addEventListener("input", () => {
      this.updateSuggestions();
      this.sendTyping();
    });
    this.input.addEventListener("click", () => this.updateSuggestions());
    // Hidden once the focus has really left (a click on an option, or a focus taken and
    // given back by a re-render, must not close the list under the caret).
    this.input.addEventListener("blur", () =>
      setTimeout(() => {
        if (document.activeElement !== this.input) this.hideSuggestions();
      }, 150),
    );
    this.privateToggle.addEventListener("change", () => {
      this.renderMode();
      this.updateSuggestions();
    });
  }

  renderMode() {
    const note = this.privateToggle.checked;
    this.form.classList.toggle("is-note", note);
    this.label.textContent = note ? "Note for your team" : "Reply";
    this.input.placeholder = note
      ? "Private note, only your team sees it… (Enter adds it)"
      : "Reply… (Enter sends, Shift+Enter for a new line, / for canned responses)";
    this.send.textContent = note ? "Add note" : "Send";
  }

  /** Follow the open conversation: its own draft and outbox; replies (not notes) by default. */
  reset() {
    if (this.draftOwner !== state.openId) {
      if (this.draftOwner) {
        if (this.input.value) this.drafts.set(this.draftOwner, this.input.value);
        else this.drafts.delete(this.draftOwner);
      }
      this.input.value = (state.openId && this.drafts.get(state.openId)) || "";
      this.privateToggle.checked = false;
      this.renderMode();
      this.uploads.reset();
      this.draftOwner = state.openId;
    }
    this.hideSuggestions();
    this.renderOutbox();
  }

  onKey(event) {
    if (!this.suggestions.hidden) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        this.active = (this.active + step + this.matches.length) % this.matches.length;
        this.renderSuggestions();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        this.pick(this.matches[this.active]);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.hideSuggestions();
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.submit();
    } else if (event.key === "Escape") {
      this.input.blur();
    }
  }

  /** The "/word" just before the caret, if any. */
  slashToken() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = /(^|\s)\/([a-z0-9_-]*)$/i.exec(before);
    return match
      ? { word: match[2].toLowerCase(), start: before.length - match[2].length - 1 }
      : null;
  }

  /** In a private note, the "@name" being typed just before the caret, if any. */
  mentionToken() {
    if (!this.privateToggle.checked) return null;
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = /(^|\s)@([^\s@][^@\n]{0,40}|)$/u.exec(before);
    return match ? { word: match[2], start: before.length - match[2].length - 1 } : null;
  }

  updateSuggestions() {
    const mention = this.mentionToken();
    if (mention) {
      this.updateMentions(mention);
      return;
    }
    const token = this.slashToken();
    this.mode = "canned";
    this.matches = token
      ? usableCanned()
          .filter((c) => c.shortcut.startsWith(token.word))
          .slice(0, 8)
      : [];
    this.active = 0;
    if (!this.matches.length) this.hideSuggestions();
    else this.renderSuggestions();
  }

  async updateMentions(token) {
    const siteId = state.conversations.get(state.openId)?.site_id;
    if (!siteId) return;
    const operators = await siteTeam(siteId);
    const now = this.mentionToken(); // the text may have changed while the team loaded
    if (!now || now.start !== token.start || now.word !== token.word) return;
    const word = token.word.toLocaleLowerCase();
    this.mode = "mention";
    this.matches = operators
      .filter((o) => o.id !== state.me.id && o.name.toLocaleLowerCase().startsWith(word))
      .slice(0, 8);
    this.active = 0;
    if (!this.matches.length) this.hideSuggestions();
    else this.renderSuggestions();
  }

  renderSuggestions() {
    clear(this.suggestions);
    if (this.mode === "mention") {
      this.renderMentions();
      return;
    }
    this.suggestions.setAttribute("aria-label", "Canned responses");
    this.matches.forEach((canned, index) => {
      const option = h(
        "li",
        {
          role: "option",
          id: `canned-${index}`,
          class: "canned-option",
          "aria-selected": index === this.active ? "true" : "false",
          onmousedown: (event) => {
            event.preventDefault();
            this.pick(canned);
          },
        },
        h("strong", { text: `/${canned.shortcut}` }),
        " ",
        h("span", { class: "muted", text: fillVariables(canned.body, variables()) }),
      );
      this.suggestions.appendChild(option);
    });
    this.suggestions.hidden = false;
    this.input.setAttribute("aria-activedescendant", `canned-${this.active}`);
  }

  renderMentions() {
    this.suggestions.setAttribute("aria-label", "Mention a teammate");
    this.matches.forEach((operator, index) => {
      this.suggestions.appendChild(
        h(
          "li",
          {
            role: "option",
            id: `mention-${index}`,
            class: "canned-option",
            "aria-selected": index === this.active ? "true" : "false",
            onmousedown: (event) => {
              event.preventDefault();
              this.pick(operator);
            },
          },
          h("strong", { text: `@${operator.name}` }),
          " ",
          h("span", { class: "muted", text: presenceWord(operator.id) }),
        ),
      );
    });
    this.suggestions.hidden = false;
    this.input.setAttribute("aria-activedescendant", `mention-${this.active}`);
  }

  hideSuggestions() {
    this.suggestions.hidden = true;
    this.input.removeAttribute("aria-activedescendant");
  }

  pick(choice) {
    if (this.mode === "mention") {
      this.pickMention(choice);
      return;
    }
    const canned = choice;
    const token = this.slashToken();
    if (!canned || !token) return;
    const value = this.input.value;
    const caret = this.input.selectionStart;
    const text = fillVariables(canned.body, variables());
    this.input.value = value.slice(0, token.start) + text + value.slice(caret);
    const at = token.start + text.length;
    this.input.setSelectionRange(at, at);
    this.hideSuggestions();
  }

  pickMention(operator) {
    const token = this.mentionToken();
    if (!operator || !token) return;
    const value = this.input.value;
    const caret = this.input.selectionStart;
    const text = `@${operator.name} `;
    this.input.value = value.slice(0, token.start) + text + value.slice(caret);
    const at = token.start + text.length;
    this.input.setSelectionRange(at, at);
    this.hideSuggestions();
  }

  /** Expand a message that is exactly "/shortcut". */
  expand(body) {
    const match = /^\/([a-z0-9_-]+)$/i.exec(body.trim());
    const canned = match && usableCanned().find((c) => c.shortcut === match[1].toLowerCase());
    return canned ? fillVariables(canned.body, variables()) : body;
  }

  sendTyping() {
    const id = state.openId;
    const now = Date.now();
    if (!id || !this.input.value.trim() || now - this.lastTyping < TYPING_EVERY_MS) return;
    this.lastTyping = now;
    api("POST", `/api/v1/conversations/${encodeURIComponent(id)}/typing`, {
      private: this.privateToggle.checked,
    }).catch(() => {});
  }

  async submit() {
    const id = state.openId;
    const text = this.input.value;
    const withFiles = this.uploads.pending;
    if (!id || (!text.trim() && !withFiles)) return;
    const isPrivate = this.privateToggle.checked;
    // Taken off the box at once: a second Enter while files finish sends nothing twice.
    this.input.value = "";
    this.drafts.delete(id);
    this.hideSuggestions();
    let attachments = [];
    if (withFiles) {
      const taken = await this.uploads.take();
      attachments = taken.attachments;
      if (!text.trim() && !attachments.length) return;
    }
    const item = {
      client_msg_id: randomId("op"),
      conversation_id: id,
      body: text.trim() ? this.expand(text) : "",
      private: isPrivate,
      attachments,
      state: "sending",
      error: "",
    };
    this.outbox.push(item);
    this.deliver(item);
  }

  async deliver(item) {
    item.state = "sending";
    item.error = "";
    this.renderOutbox();
    try {
      const message = await api(
        "POST",
        `/api/v1/conversations/${encodeURIComponent(item.conversation_id)}/messages`,
        {
          body: item.body,
          client_msg_id: item.client_msg_id,
          private: item.private,
          ...(item.attachments.length
            ? { attachment_ids: item.attachments.map((file) => file.id) }
            : {}),
        },
      );
      this.outbox = this.outbox.filter((other) => other !== item);
      this.renderOutbox();
      this.onSent(message);
    } catch (error) {
      item.state = "failed";
      item.error = error.message;
      this.renderOutbox();
      if (retryable(error)) this.retryLater(item);
    }
  }

  /** Send again by itself, with the same client_msg_id, backing off (1 s doubling to 15 s). */
  retryLater(item) {
    clearTimeout(item.timer);
    item.tries = (item.tries || 0) + 1;
    const delay = Math.min(15000, 1000 * 2 ** (item.tries - 1));
    item.timer = setTimeout(() => {
      if (this.outbox.includes(item) && item.state === "failed") this.deliver(item);
    }, delay);
  }

  /** The connection is back: send what failed now rather than at the next backoff step. */
  retryFailed() {
    for (const item of this.outbox) {
      if (item.state === "failed" && item.timer) {
        clearTimeout(item.timer);
        this.deliver(item);
      }
    }
  }

  /** The stream delivered one of our messages: whatever the POST said, it is stored. */
  acknowledge(message) {
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((item) => item.client_msg_id !== message.client_msg_id);
    if (this.outbox.length !== before) this.renderOutbox();
  }

  discard(item) {
    clearTimeout(item.timer);
    this.outbox = this.outbox.filter((other) => other !== item);
    this.renderOutbox();
  }

  renderOutbox() {
    clear(this.outboxList);
    for (const item of this.outbox.filter((o) => o.conversation_id === state.openId)) {
      const failed = item.state === "failed";
      this.outboxList.appendChild(
        h(
          "li",
          { class: `outbox-item ${failed ? "failed" : "sending"}${item.private ? " note" : ""}` },
          h("div", {
            class: "outbox-body",
            text: [item.body, ...item.attachments.map((file) => `📎 ${file.name}`)]
              .filter(Boolean)
              .join("\n"),
          }),
          h(
            "div",
            { class: "outbox-status" },
            h("span", {
              role: failed ? "alert" : null,
              text: failed ? `Not sent: ${item.error}` : "Sending…",
            }),
            failed
              ? h("button", {
                  type: "button",
                  class: "button small-button",
                  text: "Retry",
                  onclick: () => {
                    clearTimeout(item.timer);
                    this.deliver(item);
                  },
                })
              : null,
            failed
              ? h("button", {
                  type: "button",
                  class: "link-button",
                  text: "Discard",
                  onclick: () => this.discard(item),
                })
              : null,
          ),
        ),
      );
    }
  }

  focus() {
    this.input.focus();
  }
}

// A server stopping or unreachable, a gateway error, a rate limit: worth sending again.
// A refusal (validation, permissions, a closed conversation) is not.
function retryable(error) {
  return (
    !(error instanceof ApiError) ||
    error.status === 0 ||
    error.status === 429 ||
    error.status >= 500
  );
}
