// Settings: webhooks (the signing secret is shown once, right after creation), their recent
// deliveries, and resending one.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { checkbox, confirmButton, copyText, field, select } from "./forms.js";
import { attempt, card, root, say } from "./section.js";
import { timeElement } from "./time.js";

const EVENTS = [
  ["conversation.created", "A conversation starts"],
  ["conversation.updated", "A conversation changes (status, assignee, labels)"],
  ["conversation.resolved", "A conversation is resolved"],
  ["message.created", "A message is sent"],
  ["rating.created", "A visitor rates a conversation"],
];
const STATUS_CLASS = { delivered: "pill ok", failed: "pill off", pending: "pill" };

const path = (hook, rest = "") => `/api/v1/webhooks/${encodeURIComponent(hook.id)}${rest}`;

function secretOnce(created) {
  const value = h("input", {
    class: "code",
    readonly: true,
    value: created.secret,
    "aria-label": "Signing secret",
  });
  const copy = h("button", { type: "button", class: "button small-button", text: "Copy secret" });
  copy.addEventListener("click", () => copyText(value.value, value, copy));
  return h(
    "div",
    { class: "card token-once" },
    h("h3", { text: "Webhook added" }),
    h("p", {
      text:
        "Copy the signing secret now: it is shown only once. Receivers check each delivery's " +
        "webhook-signature with it (Standard Webhooks).",
    }),
    h("div", { class: "copy-row" }, value, copy),
  );
}

function answerOf(delivery) {
  // The error names the status when there was one ("the receiver answered 500").
  if (delivery.last_error) return delivery.last_error;
  return delivery.last_status_code ? `HTTP ${delivery.last_status_code}` : "—";
}

function deliveryRow(hook, delivery, reload) {
  const resend = h("button", {
    type: "button",
    class: "button small-button",
    text: "Resend",
    "aria-label": `Resend delivery ${delivery.id}`,
  });
  resend.addEventListener("click", async () => {
    const done = await attempt(
      () => api("POST", path(hook, `/deliveries/${encodeURIComponent(delivery.id)}/resend`)),
      "The delivery was queued again.",
    );
    if (done) await reload();
  });
  return h(
    "tr",
    { dataset: { id: delivery.id, status: delivery.status } },
    h("td", {}, h("code", { text: delivery.event_type })),
    h("td", {}, h("span", { class: STATUS_CLASS[delivery.status], text: delivery.status })),
    h("td", { text: String(delivery.attempts) }),
    h("td", { class: "delivery-answer", text: answerOf(delivery) }),
    h("td", {}, timeElement(delivery.created_at)),
    h("td", {}, resend),
  );
}

function deliveriesPanel(hook) {
  const panel = h("div", { class: "deliveries", id: `deliveries-${hook.id}`, hidden: true });
  // Resolves to true once drawn (``attempt`` reads undefined as a failure).
  async function load() {
    const { deliveries } = await api("GET", path(hook, "/deliveries?limit=50"));
    clear(panel);
    if (!deliveries.length) {
      panel.appendChild(h("p", { class: "muted", text: "No deliveries yet." }));
      return true;
    }
    panel.appendChild(
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "table", "aria-label": `Deliveries of ${hook.url}` },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Event", "Status", "Attempts", "Last answer", "Queued", ""].map((x) =>
                h("th", { scope: "col", text: x }),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            deliveries.map((d) => deliveryRow(hook, d, load)),
          ),
        ),
      ),
    );
    return true;
  }
  return { panel, load };
}

function webhookCard(hook, siteNames) {
  const { panel, load } = deliveriesPanel(hook);
  const toggle = h("button", {
    type: "button",
    class: "button small-button",
    text: "Deliveries",
    "aria-expanded": "false",
    "aria-controls": panel.id,
    "aria-label": `Deliveries of ${hook.url}`,
  });
  toggle.addEventListener("click", async () => {
    const opening = panel.hidden;
    if (opening && (await attempt(load)) === undefined) return;
    panel.hidden = !opening;
    toggle.setAttribute("aria-expanded", String(opening));
  });
  const pause = h("button", {
    type: "button",
    class: "button small-button",
    text: hook.active ? "Pause" : "Resume",
    "aria-label": `${hook.active ? "Pause" : "Resume"} ${hook.url}`,
  });
  pause.addEventListener("click", async () => {
    const changed = await attempt(
      () => api("PATCH", path(hook), { active: !hook.active }),
      hook.active ? "The webhook is paused." : "The webhook is active again.",
    );
    if (changed) await renderWebhooks();
  });
  const remove = confirmButton(
    "Delete",
    "Click again to delete",
    async () => {
      if (
        (await attempt(() => api("DELETE", path(hook)), "The webhook was deleted.")) !== undefined
      )
        await renderWebhooks();
    },
    { "aria-label": `Delete ${hook.url}` },
  );
  const site = hook.site_id ? siteNames.get(hook.site_id) || hook.site_id : "All sites";
  return h(
    "li",
    { class: "card webhook", dataset: { id: hook.id } },
    h("p", { class: "webhook-url" }, h("code", { text: hook.url })),
    h(
      "p",
      { class: "webhook-facts" },
      h("span", {
        class: hook.active ? "pill ok" : "pill off",
        text: hook.active ? "Active" : "Paused",
      }),
      h("span", { text: site }),
      hook.include_private ? h("span", { text: "Private notes included" }) : null,
    ),
    h(
      "p",
      { class: "checks" },
      hook.events.map((e) => h("code", { class: "pill", text: e })),
    ),
    h("div", { class: "actions" }, toggle, pause, remove),
    panel,
  );
}

function createForm(sites) {
  const url = h("input", {
    type: "url",
    required: true,
    maxlength: 2000,
    placeholder: "https://example.com/chatdesk-hook",
    autocomplete: "off",
  });
  const boxes = EVENTS.map(([type, text]) => ({
    type,
    ...checkbox(text, type === "message.created"),
  }));
  const site = select([["", "All sites"], ...sites.map((s) => [s.id, s.name])], "");
  const notes = checkbox("Include private notes in message.created");
  const form = h(
    "form",
    { class: "grid-2", "aria-label": "Add a webhook" },
    h(
      "div",
      { class: "full" },
      field("Endpoint URL", url, "chatdesk POSTs each event here as JSON."),
    ),
    h(
      "fieldset",
      { class: "full" },
      h("legend", { class: "label", text: "Events" }),
      h(
        "div",
        { class: "checks" },
        boxes.map((b) => b.node),
      ),
    ),
    field("Site", site, "Only this site's events, or every site's."),
    h("div", { class: "checks" }, notes.node),
    h(
      "div",
      { class: "full actions" },
      h("button", { type: "submit", class: "button primary", text: "Add webhook" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      url: url.value.trim(),
      events: boxes.filter((b) => b.input.checked).map((b) => b.type),
      include_private: notes.input.checked,
    };
    if (site.value) body.site_id = site.value;
    const created = await attempt(() => api("POST", "/api/v1/webhooks", body));
    if (created) {
      await renderWebhooks(created);
      say("The webhook was added.");
    }
  });
  return form;
}

export async function renderWebhooks(justCreated) {
  const [{ webhooks }, { sites }] = await Promise.all([
    api("GET", "/api/v1/webhooks"),
    api("GET", "/api/v1/sites"),
  ]);
  const siteNames = new Map(sites.map((s) => [s.id, s.name]));
  clear(root);
  if (justCreated) root.appendChild(secretOnce(justCreated));
  root.appendChild(
    card(
      "Webhooks",
      webhooks.length
        ? h(
            "ul",
            { class: "webhook-list", "aria-label": "Webhooks" },
            webhooks.map((hook) => webhookCard(hook, siteNames)),
          )
        : h("p", {
            class: "muted",
            text: "None yet. A webhook sends chat events to another system (a CRM, Slack, a bot).",
          }),
    ),
  );
  root.appendChild(card("Add a webhook", createForm(sites)));
}
