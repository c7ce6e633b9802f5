// The conversation list: filters, search, paging over next_cursor, live reordering.
import { plainText } from "../shared/message-text.js";
import { api, query } from "./api.js";
import { clear, h } from "./dom.js";
import { byActivity, operatorName, remember, state, visitorName } from "./state.js";
import { refreshTimes, timeElement } from "./time.js";

const PAGE = 25;

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
    this.form.addEventListener("change", () => this.reload());
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
    return {
      status: el.status.value,
      assignee: el.assignee.value,
      site_id: el.site_id.value,
      label: el.label.value,
      q: el.q.value.trim(),
    };
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
    // A search looks across every status (the status filter applies to the list only).
    if (f.status && !f.q && !f.status.split(",").includes(c.status)) return false;
    if (f.assignee === "me" && c.assignee_id !== state.me.id) return false;
    if (f.assignee === "unassigned" && c.assignee_id) return false;
    if (f.site_id && c.site_id !== f.site_id) return false;
    if (f.label && !(c.labels || []).includes(f.label)) return false;
    return true;
  }

  async fetchPage(cursor) {
    const params = { ...this.filters, limit: PAGE, cursor };
    if (params.q) params.status = "";
    return api("GET", `/api/v1/conversations${query(params)}`);
  }

  async reload() {
    this.filters = this.readFilters();
    document.getElementById("search-scope").hidden = !this.filters.q;
    const generation = ++this.generation;
    this.list.setAttribute("aria-busy", "true");
    try {
      const page = await this.fetchPage(null);
      if (generation !== this.generation) return;
      this.ids = [];
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
    const preview = plainText(c.last_message?.preview || "");
    const fromOperator = c.last_message?.author_type === "operator";
    fresh.append(
      h(
        "span",
        { class: "row-top" },
        h("span", { class: "row-name", text: visitorName(c) }),
        timeElement(c.last_message_at, "row-time", { relative: true }),
      ),
      h(
        "span",
        { class: "row-preview" },
        fromOperator ? h("span", { class: "muted", text: "You: " }) : null,
        preview || "—",
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
