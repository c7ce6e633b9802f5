// The conversation list: filters, search, paging over next_cursor, live reordering.
import { plainText } from "../shared/message-text.js";
import { api, query } from "./api.js";
import { clear, h } from "./dom.js";
import { byActivity, operatorName, remember, state, visitorName } from "./state.js";
import { refreshTimes, timeElement } from "./time.js";

const PAGE = 25;
const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'" };

/** A search snippet (escaped text, matches in <mark>…</mark>) as DOM nodes: the text goes
 * in as text nodes, the marks are made here; the snippet is never parsed as HTML. */
export function highlighted(snippet) {
  const nodes = [];
  let inside = false;
  for (const piece of String(snippet).split(/(<mark>|<\/mark>)/)) {
    if (piece === "<mark>") inside = true;
    else if (piece === "</mark>") inside = false;
    else if (piece) {
      const text = piece.replace(/&(amp|lt|gt|quot|#x27);/g, (entity) => ENTITIES[entity]);
      nodes.push(inside ? h("mark", { text }) : document.createTextNode(text));
    }
  }
  return nodes;
}

export class Inbox {
  constructor({ onOpen }) {
    this.onOpen = onOpen;
    this.list = document.getElementById("conversation-list");
    this.empty = document.getElementById("list-empty");
    this.error = document.getElementById("list-error");
    this.more = document.getElementById("load-more");
    this.form = document.getElementById("filters");
    this.ids = [];
    this.rows = new Map();
    this.nextCursor = null;
    this.generation = 0;
    // A search looks across every status unless the operator picked one in the status
    // filter (the default "Active" list is not a choice); the label under the box says which.
    this.statusChosen = false;
    this.matched = new Map(); // conversation id -> the search's {message_id, snippet}
    this.filters = this.readFilters();
    this.bind();
    // "3 min. ago" stays true while the list sits open, and is right again on return.
    setInterval(() => refreshTimes(this.list), 30_000);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") refreshTimes(this.list);
    });
  }

  bind() {
    let debounce = null;
    this.form.addEventListener("submit", (event) => event.preventDefault());
    this.form.addEventListener("change", (event) => {
      if (event.target === this.form.elements.status) this.statusChosen = true;
      this.reload();
    });
    this.form.elements.q.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.reload(), 250);
    });
    this.more.addEventListener("click", () => this.loadMore());
    if ("IntersectionObserver" in window) {
      new IntersectionObserver((entries) => {
        if (entries.some((entry) => entry.isIntersecting) && !this.more.hidden && !this.loading)
          this.loadMore();
      }).observe(this.more);
    }
    this.list.addEventListener("click", (event) => {
      const link = event.target.closest("a[data-id]");
      if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.onOpen(link.dataset.id, { push: true });
    });
  }

  readFilters() {
    const el = this.form.elements;
    const q = el.q.value.trim();
    return {
      status: q && !this.statusChosen ? "" : el.status.value,
      assignee: el.assignee.value,
      site_id: el.site_id.value,
      label: el.label.value,
      q,
    };
  }

  /** What the label under the search box says: which conversations a search looks in. */
  searchScope() {
    const select = this.form.elements.status;
    if (!this.filters.status) return "Searching all conversations.";
    const chosen = select.options[select.selectedIndex].textContent.trim().toLowerCase();
    return `Searching ${chosen} conversations only.`;
  }

  fillSelect(select, options) {
    const current = select.value;
    const first = select.options[0];
    clear(select).appendChild(first);
    for (const [value, label] of options) select.appendChild(h("option", { value, text: label }));
    select.value = options.some(([value]) => value === current) ? current : "";
  }

  setSites(sites) {
    const select = this.form.elements.site_id;
    this.fillSelect(
      select,
      sites.map((site) => [site.id, site.name]),
    );
    select.closest("label").hidden = sites.length < 2;
  }

  setLabels(names) {
    this.fillSelect(
      this.form.elements.label,
      names.map((name) => [name, name]),
    );
  }

  matches(c) {
    const f = this.filters;
    if (f.status && !f.status.split(",").includes(c.status)) return false;
    if (f.assignee === "me" && c.assignee_id !== state.me.id) return false;
    if (f.assignee === "unassigned" && c.assignee_id) return false;
    if (f.site_id && c.site_id !== f.site_id) return false;
    if (f.label && !(c.labels || []).includes(f.label)) return false;
    return true;
  }

  async fetchPage(cursor) {
    const params = { ...this.filters, limit: PAGE, cursor };
    return api("GET", `/api/v1/conversations${query(params)}`);
  }

  async reload() {
    this.filters = this.readFilters();
    const scope = document.getElementById("search-scope");
    scope.hidden = !this.filters.q;
    scope.textContent = this.filters.q ? this.searchScope() : "";
    const generation = ++this.generation;
    this.list.setAttribute("aria-busy", "true");
    try {
      const page = await this.fetchPage(null);
      if (generation !== this.generation) return;
      this.ids = [];
      this.matched.clear();
      this.absorb(page);
      this.error.hidden = true;
    } catch (error) {
      if (generation !== this.generation) return;
      this.error.textContent = error.message;
      this.error.hidden = false;
    } finally {
      if (generation === this.generation) this.list.setAttribute("aria-busy", "false");
    }
  }

  async loadMore() {
    if (!this.nextCursor || this.loading) return;
    this.loading = true;
    const generation = this.generation;
    try {
      const page = await this.fetchPage(this.nextCursor);
      if (generation === this.generation) this.absorb(page);
    } catch (error) {
      this.error.textContent = error.message;
      this.error.hidden = false;
    } finally {
      this.loading = false;
    }
  }

  absorb(page) {
    for (const conversation of page.conversations) {
      remember(conversation);
      if (conversation.match) this.matched.set(conversation.id, conversation.match);
      if (!this.ids.includes(conversation.id)) this.ids.push(conversation.id);
    }
    this.nextCursor = page.next_cursor;
    this.render();
  }

  /** A conversation changed (event or action): add, move, update or drop its row. */
  upsert(conversation) {
    const c = state.conversations.get(conversation.id) || conversation;
    const present = this.ids.includes(c.id);
    if (!this.matches(c)) {
      // Keep the open conversation visible until the operator moves on.
      if (present && c.id !== state.openId) this.ids = this.ids.filter((id) => id !== c.id);
      this.render();
      return;
    }
    if (!present) {
      if (this.filters.q) {
        this.reload(); // the server decides what a search matches
        return;
      }
      const last = state.conversations.get(this.ids[this.ids.length - 1]);
      if (this.nextCursor && last && byActivity(c, last) > 0) return; // beyond the loaded page
      this.ids.push(c.id);
    }
    this.render();
  }

  render() {
    const known = this.ids.map((id) => state.conversations.get(id)).filter(Boolean);
    known.sort(byActivity);
    this.ids = known.map((c) => c.id);
    const wanted = new Set(this.ids);
    for (const [id, row] of this.rows) {
      if (!wanted.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    let previous = null;
    for (const conversation of known) {
      const row = this.renderRow(conversation);
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (row !== expected) this.list.insertBefore(row, expected);
      previous = row;
    }
    this.empty.hidden = this.ids.length > 0;
    const f = this.filters;
    const narrowed = f.assignee || f.site_id || f.label || f.q || f.status !== "open,pending";
    this.empty.textContent = narrowed
      ? "No conversations match these filters."
      : "No open conversations. New chats appear here the moment a visitor writes in.";
    this.more.hidden = !this.nextCursor;
  }

  renderRow(c) {
    let row = this.rows.get(c.id);
    const fresh = h("a", {
      class: "row-link",
      href: `/admin/conversations/${encodeURIComponent(c.id)}`,
      dataset: { id: c.id },
      "aria-current": c.id === state.openId ? "true" : null,
    });
    const unread = c.unread_count || 0;
    const match = this.filters.q ? this.matched.get(c.id) : null;
    const preview = plainText(c.last_message?.preview || "");
    const fromOperator = !match && c.last_message?.author_type === "operator";
    fresh.append(
      h(
        "span",
        { class: "row-top" },
        h("span", { class: "row-name", text: visitorName(c) }),
        timeElement(c.last_message_at, "row-time", { relative: true }),
      ),
      h(
        "span",
        { class: match ? "row-preview row-match" : "row-preview" },
        fromOperator ? h("span", { class: "muted", text: "You: " }) : null,
        match ? highlighted(match.snippet) : preview || "—",
      ),
      h(
        "span",
        { class: "row-meta" },
        unread
          ? h("span", { class: "badge", "aria-label": `${unread} unread`, text: String(unread) })
          : null,
        h("span", { class: `status-dot status-${c.status}`, text: c.status }),
        c.assignee_id
          ? h("span", { class: "row-assignee", text: `→ ${operatorName(c.assignee_id)}` })
          : h("span", { class: "row-assignee muted", text: "Unassigned" }),
        (c.labels || []).map((name) => h("span", { class: "chip", text: name })),
      ),
    );
    if (!row) {
      row = h("li", { class: "row", dataset: { id: c.id } });
      this.rows.set(c.id, row);
    }
    row.classList.toggle("unread", unread > 0);
    row.classList.toggle("selected", c.id === state.openId);
    const hadFocus = row.contains(document.activeElement);
    clear(row).appendChild(fresh);
    if (hadFocus) fresh.focus();
    return row;
  }

  /** The id next to the open one (j = +1, k = -1), or the first. */
  neighbour(step) {
    if (!this.ids.length) return null;
    const index = this.ids.indexOf(state.openId);
    if (index === -1) return this.ids[0];
    const next = index + step;
    return next >= 0 && next < this.ids.length ? this.ids[next] : null;
  }

  /** The next conversation with unread messages after the open one (in list order,
   * wrapping round), else any other unresolved one with unread messages; null if none. */
  nextUnread() {
    const unread = (id) => {
      const c = state.conversations.get(id);
      return Boolean(c && c.id !== state.openId && c.status !== "resolved" && c.unread_count);
    };
    const start = this.ids.indexOf(state.openId) + 1;
    const ordered = [...this.ids.slice(start), ...this.ids.slice(0, start)];
    const listed = ordered.find(unread);
    if (listed) return listed;
    const others = [...state.conversations.values()].filter((c) => unread(c.id)).sort(byActivity);
    return others[0]?.id ?? null;
  }

  focusRow(id) {
    this.rows.get(id)?.querySelector("a")?.scrollIntoView({ block: "nearest" });
  }
}
