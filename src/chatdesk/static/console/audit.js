// Settings: the audit log (owners only), filtered and paged.
import { api, query } from "./api.js";
import { clear, h } from "./dom.js";
import { field, select } from "./forms.js";
import { card, me, root, say } from "./section.js";
import { formatDate, formatTimeSeconds } from "./time.js";

const AUDIT_PAGE = 50;
const ACTIONS = [
  ["auth.login", "Signed in"],
  ["auth.login_failed", "Failed sign-in"],
  ["auth.logout", "Signed out"],
  ["operator.password_change", "Changed own password"],
  ["operator.create", "Added an operator"],
  ["operator.update", "Changed an operator"],
  ["site.create", "Added a site"],
  ["site.update", "Changed a site"],
  ["canned_response.create", "Added a canned response"],
  ["canned_response.update", "Changed a canned response"],
  ["canned_response.delete", "Deleted a canned response"],
  ["api_token.create", "Created an API token"],
  ["api_token.revoke", "Revoked an API token"],
  ["webhook.create", "Added a webhook"],
  ["webhook.update", "Changed a webhook"],
  ["webhook.delete", "Deleted a webhook"],
  ["webhook.resend", "Resent a webhook delivery"],
  ["email.resend", "Sent a failed email again"],
  ["conversation.status", "Changed a conversation status"],
  ["conversation.assignee_id", "Assigned a conversation"],
  ["conversation.labels", "Changed conversation labels"],
];
const ACTION_LABELS = new Map(ACTIONS);

function auditTarget(entry, names) {
  const { target_type: type, target_id: id } = entry;
  if (!type) return h("span", { class: "muted", text: "—" });
  if (type === "conversation" && id) {
    return h("a", {
      href: `/admin/conversations/${encodeURIComponent(id)}`,
      text: "Conversation",
      "aria-label": `Conversation ${id}`,
    });
  }
  const known =
    type === "operator"
      ? names.operators.get(id)?.name
      : type === "site"
        ? names.sites.get(id)
        : null;
  if (known) return h("span", {}, h("span", { class: "muted", text: `${type} ` }), known);
  return h(
    "span",
    {},
    h("span", { class: "muted", text: type }),
    id ? [" ", h("code", { class: "audit-id", title: id, text: id })] : null,
  );
}

function auditWho(entry, names) {
  // No operator: a failed sign-in, or the command line / first start acting on its own.
  if (!entry.operator_id)
    return h("span", {
      class: "muted",
      text: entry.action === "auth.login_failed" ? "Not signed in" : "System",
    });
  const op = names.operators.get(entry.operator_id);
  if (!op)
    return h(
      "span",
      {},
      "Unknown operator ",
      h("code", { class: "audit-id", title: entry.operator_id, text: entry.operator_id }),
    );
  return h(
    "span",
    {},
    op.name,
    entry.operator_id === me.id ? h("span", { class: "muted", text: " (you)" }) : null,
  );
}

/** A cell whose content sits in one box, so the phone layout can label it (td::before). */
function auditCell(label, ...children) {
  return h("td", { "data-label": label }, h("div", { class: "audit-cell" }, ...children));
}

function auditRow(entry, names) {
  const details =
    entry.details && Object.keys(entry.details).length ? JSON.stringify(entry.details) : "";
  const label = ACTION_LABELS.get(entry.action);
  const when = new Date(entry.created_at);
  return h(
    "tr",
    { dataset: { id: entry.id, action: entry.action } },
    auditCell(
      "When",
      h(
        "time",
        { datetime: entry.created_at, title: when.toISOString() },
        h("span", { class: "audit-clock", text: formatTimeSeconds(when) }),
        " ",
        h("span", { class: "audit-date", text: formatDate(when) }),
      ),
    ),
    auditCell("Who", auditWho(entry, names)),
    auditCell(
      "Action",
      label ? h("span", { class: "audit-action", text: label }) : null,
      h("code", { class: "audit-code", text: entry.action }),
    ),
    auditCell("Target", auditTarget(entry, names)),
    auditCell("IP", h("span", { class: "audit-ip", text: entry.ip || "—" })),
    auditCell(
      "Details",
      details
        ? h("code", { class: "audit-details", text: details })
        : h("span", { class: "muted", text: "—" }),
    ),
  );
}

export async function renderAudit() {
  const [{ operators }, { sites }] = await Promise.all([
    api("GET", "/api/v1/operators"),
    api("GET", "/api/v1/sites"),
  ]);
  const names = {
    operators: new Map(operators.map((o) => [o.id, o])),
    sites: new Map(sites.map((s) => [s.id, s.name])),
  };
  const params = new URLSearchParams(location.search);
  const wantedAction = /^[a-z_.]{1,60}$/.test(params.get("action") || "")
    ? params.get("action")
    : "";
  const actionOptions = [
    ["", "Any action"],
    ...ACTIONS.map(([value, text]) => [value, `${text} (${value})`]),
  ];
  if (wantedAction && !ACTION_LABELS.has(wantedAction))
    actionOptions.push([wantedAction, wantedAction]);
  const action = select(actionOptions, wantedAction, { name: "action" });
  const sorted = [...operators].sort((a, b) => a.name.localeCompare(b.name));
  const wantedOperator = names.operators.has(params.get("operator_id"))
    ? params.get("operator_id")
    : "";
  const operator = select(
    [["", "Anyone"], ...sorted.map((o) => [o.id, o.active ? o.name : `${o.name} (deactivated)`])],
    wantedOperator,
    { name: "operator_id" },
  );
  const filters = h(
    "form",
    { class: "audit-filters", role: "search", "aria-label": "Filter the audit log" },
    field("Action", action),
    field("Operator", operator),
  );
  const body = h("tbody", {});
  const table = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "table audit-table", "aria-label": "Audit log entries" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["When", "Who", "Action", "Target", "IP", "Details"].map((t) =>
            h("th", { scope: "col", text: t }),
          ),
        ),
      ),
      body,
    ),
  );
  const empty = h("p", { class: "muted", hidden: true, text: "No entries match these filters." });
  const end = h("p", { class: "muted small audit-end", hidden: true, text: "No older entries." });
  const older = h("button", {
    type: "button",
    class: "button load-more",
    hidden: true,
    text: "Load older entries",
  });
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  clear(root);
  root.append(
    card(
      "Entries",
      h("p", {
        class: "muted small",
        text: `Every sign-in and settings change, newest first. Times are in your time zone (${zone}).`,
      }),
      filters,
      table,
      empty,
      older,
      end,
    ),
  );

  let before = null;
  let generation = 0;
  async function load(reset) {
    const mine = ++generation;
    if (reset) before = null;
    older.disabled = true;
    body.setAttribute("aria-busy", "true");
    const path = `/api/v1/audit-log${query({ action: action.value, operator_id: operator.value, before, limit: AUDIT_PAGE })}`;
    let entries;
    try {
      ({ entries } = await api("GET", path));
    } catch (error) {
      if (mine === generation) say(error.message, { error: true });
      return;
    } finally {
      if (mine === generation) {
        older.disabled = false;
        body.removeAttribute("aria-busy");
      }
    }
    if (mine !== generation) return;
    say("");
    if (reset) clear(body);
    body.append(...entries.map((entry) => auditRow(entry, names)));
    if (entries.length) before = entries[entries.length - 1].id;
    const rows = body.childElementCount;
    table.hidden = rows === 0;
    empty.hidden = rows !== 0;
    older.hidden = entries.length < AUDIT_PAGE;
    end.hidden = rows === 0 || entries.length === AUDIT_PAGE;
  }
  const refilter = () => {
    history.replaceState(
      {},
      "",
      location.pathname + query({ action: action.value, operator_id: operator.value }),
    );
    load(true);
  };
  action.addEventListener("change", refilter);
  operator.addEventListener("change", refilter);
  filters.addEventListener("submit", (event) => event.preventDefault());
  older.addEventListener("click", () => load(false));
  await load(true);
}
