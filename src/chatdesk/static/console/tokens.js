// Settings: API tokens (the secret is shown once, right after creation).
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { confirmButton, copyText, field, select } from "./forms.js";
import { attempt, card, root } from "./section.js";
import { shortTime } from "./time.js";

export async function renderTokens(justCreated) {
  const [{ api_tokens: tokens }, { sites }] = await Promise.all([
    api("GET", "/api/v1/api-tokens"),
    api("GET", "/api/v1/sites"),
  ]);
  const siteName = new Map(sites.map((s) => [s.id, s.name]));
  clear(root);
  if (justCreated) {
    const value = h("input", {
      class: "code",
      readonly: true,
      value: justCreated.token,
      "aria-label": "New API token",
    });
    const copy = h("button", { type: "button", class: "button small-button", text: "Copy token" });
    copy.addEventListener("click", () => copyText(value.value, value, copy));
    root.appendChild(
      h(
        "div",
        { class: "card token-once" },
        h("h3", { text: `Token "${justCreated.name}" created` }),
        h("p", {
          text: "Copy it now: it is shown only once. Send it as Authorization: Bearer <token>.",
        }),
        h("div", { class: "copy-row" }, value, copy),
      ),
    );
  }
  const rows = tokens.map((t) =>
    h(
      "tr",
      {},
      h("td", { "data-label": "Name", text: t.name }),
      h("td", { "data-label": "Token" }, h("code", { text: `${t.prefix}…` })),
      h("td", {
        "data-label": "Role",
        text: t.site_id ? `bot · ${siteName.get(t.site_id) || "?"}` : t.role,
      }),
      h("td", { "data-label": "Created", text: shortTime(t.created_at) }),
      h("td", {
        "data-label": "Last used",
        text: t.last_used_at ? shortTime(t.last_used_at) : "Never",
      }),
      h(
        "td",
        { class: "row-actions" },
        confirmButton(
          "Revoke",
          "Click again to revoke",
          async () => {
            if (
              (await attempt(
                () => api("DELETE", `/api/v1/api-tokens/${encodeURIComponent(t.id)}`),
                `${t.name} was revoked.`,
              )) !== undefined
            )
              renderTokens();
          },
          { "aria-label": `Revoke ${t.name}` },
        ),
      ),
    ),
  );
  root.appendChild(
    card(
      "API tokens",
      tokens.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "table stacked-table", "aria-label": "API tokens" },
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["Name", "Token", "Role", "Created", "Last used"].map((x) =>
                    h("th", { scope: "col", text: x }),
                  ),
                  h(
                    "th",
                    { scope: "col" },
                    h("span", { class: "visually-hidden", text: "Actions" }),
                  ),
                ),
              ),
              h("tbody", {}, rows),
            ),
          )
        : h("p", {
            class: "muted",
            text: "No tokens. Integrations use them to call the API (see /api/docs).",
          }),
    ),
  );
  const name = h("input", { required: true, maxlength: 200, autocomplete: "off" });
  const role = select(
    [
      ["agent", "Agent"],
      ["admin", "Admin"],
      ["bot", "Bot (one site; posts as a bot named after the token)"],
    ],
    "agent",
  );
  const site = select(
    sites.map((s) => [s.id, s.name]),
    sites[0]?.id,
  );
  const siteField = field("Bot's site", site, "The bot reads and answers this site's chats only.");
  siteField.hidden = true;
  role.addEventListener("change", () => {
    siteField.hidden = role.value !== "bot";
  });
  const form = h(
    "form",
    { class: "grid-2", "aria-label": "Create an API token" },
    field("Token name", name, 'What will use it, e.g. "CRM sync".'),
    field("Token role", role),
    siteField,
    h(
      "div",
      { class: "full actions" },
      h("button", { type: "submit", class: "button primary", text: "Create token" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await attempt(() =>
      api("POST", "/api/v1/api-tokens", {
        name: name.value.trim(),
        role: role.value,
        ...(role.value === "bot" ? { site_id: site.value } : {}),
      }),
    );
    if (created) await renderTokens(created);
  });
  root.appendChild(card("Create an API token", form));
}
