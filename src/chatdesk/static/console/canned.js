// Settings: canned responses, typed as /shortcut in the composer.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { confirmButton, field } from "./forms.js";
import { attempt, card, root, say } from "./section.js";

export async function renderCanned() {
  const { canned_responses: canned } = await api("GET", "/api/v1/canned-responses");
  clear(root);
  const rows = canned.map((c) =>
    h(
      "tr",
      {},
      h("td", {}, h("code", { text: `/${c.shortcut}` })),
      h("td", { class: "msg-body", text: c.body }),
      h(
        "td",
        {},
        confirmButton(
          "Delete",
          "Click again to delete",
          async () => {
            if (
              (await attempt(
                () => api("DELETE", `/api/v1/canned-responses/${encodeURIComponent(c.id)}`),
                `/${c.shortcut} was deleted.`,
              )) !== undefined
            )
              renderCanned();
          },
          { "aria-label": `Delete /${c.shortcut}` },
        ),
      ),
    ),
  );
  root.appendChild(
    card(
      "Canned responses",
      canned.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "table" },
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["Shortcut", "Text", ""].map((t) => h("th", { scope: "col", text: t })),
                ),
              ),
              h("tbody", {}, rows),
            ),
          )
        : h("p", {
            class: "muted",
            text: "None yet. Operators type /shortcut in the reply box to insert one.",
          }),
    ),
  );
  const shortcut = h("input", {
    required: true,
    pattern: "[a-z0-9_-]{1,50}",
    placeholder: "refund",
    autocomplete: "off",
  });
  const text = h("textarea", { rows: 3, required: true, maxlength: 10000 });
  const form = h(
    "form",
    { class: "grid-2", "aria-label": "Add a canned response" },
    field("Shortcut", shortcut, "Lower-case letters, digits, - and _. Typed as /shortcut."),
    h("div", { class: "full" }, field("Response text", text)),
    h(
      "div",
      { class: "full actions" },
      h("button", { type: "submit", class: "button primary", text: "Add canned response" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      shortcut: shortcut.value.trim().replace(/^\//, "").toLowerCase(),
      body: text.value,
    };
    if (await attempt(() => api("POST", "/api/v1/canned-responses", body))) {
      await renderCanned();
      say(`/${body.shortcut} was added.`);
    }
  });
  root.appendChild(card("Add a canned response", form));
}
