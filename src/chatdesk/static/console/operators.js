// Settings: operators, their roles and the sites agents answer for.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { checkbox, confirmButton, field, select } from "./forms.js";
import { attempt, card, me, root, say } from "./section.js";

/** Which sites an agent answers for: a summary that opens into checkboxes. */
function siteEditor(op, sites) {
  const names = sites.filter((s) => (op.site_ids || []).includes(s.id)).map((s) => s.name);
  const boxes = sites.map((s) => ({
    id: s.id,
    ...checkbox(s.name, (op.site_ids || []).includes(s.id)),
  }));
  const save = h("button", {
    type: "button",
    class: "button small-button",
    text: "Save sites",
    "aria-label": `Save sites of ${op.name}`,
  });
  save.addEventListener("click", async () => {
    const site_ids = boxes.filter((b) => b.input.checked).map((b) => b.id);
    if (
      await attempt(
        () => api("PATCH", `/api/v1/operators/${encodeURIComponent(op.id)}`, { site_ids }),
        `${op.name}'s sites were saved.`,
      )
    )
      renderOperators();
  });
  return h(
    "details",
    { class: "site-editor" },
    h(
      "summary",
      {},
      h("span", { class: "visually-hidden", text: `Sites of ${op.name}: ` }),
      names.length ? names.join(", ") : "No sites",
    ),
    h(
      "div",
      { class: "stack" },
      boxes.map((b) => b.node),
      save,
    ),
  );
}

export async function renderOperators() {
  const [{ operators }, { sites }] = await Promise.all([
    api("GET", "/api/v1/operators"),
    api("GET", "/api/v1/sites"),
  ]);
  const roles =
    me.role === "owner"
      ? [
          ["agent", "Agent"],
          ["admin", "Admin"],
          ["owner", "Owner"],
        ]
      : [
          ["agent", "Agent"],
          ["admin", "Admin"],
        ];
  clear(root);
  const rows = operators.map((op) => {
    const self = op.id === me.id;
    const role = select(
      op.role === "owner" && me.role !== "owner" ? [["owner", "Owner"]] : roles,
      op.role,
      {
        "aria-label": `Role of ${op.name}`,
        disabled: self || (op.role === "owner" && me.role !== "owner"),
      },
    );
    role.addEventListener("change", () =>
      attempt(
        () => api("PATCH", `/api/v1/operators/${encodeURIComponent(op.id)}`, { role: role.value }),
        `${op.name} is now ${role.value}.`,
      ),
    );
    const toggle = op.active
      ? confirmButton(
          "Deactivate",
          "Click again to deactivate",
          async () => {
            if (
              await attempt(
                () =>
                  api("PATCH", `/api/v1/operators/${encodeURIComponent(op.id)}`, { active: false }),
                `${op.name} was deactivated and signed out.`,
              )
            )
              renderOperators();
          },
          { "aria-label": `Deactivate ${op.name}`, disabled: self },
        )
      : h("button", {
          type: "button",
          class: "button small-button",
          text: "Reactivate",
          "aria-label": `Reactivate ${op.name}`,
          onclick: async () => {
            if (
              await attempt(
                () =>
                  api("PATCH", `/api/v1/operators/${encodeURIComponent(op.id)}`, { active: true }),
                `${op.name} was reactivated.`,
              )
            )
              renderOperators();
          },
        });
    return h(
      "tr",
      {},
      h(
        "td",
        {},
        h("strong", { text: op.name }),
        self ? h("span", { class: "muted", text: " (you)" }) : null,
      ),
      h("td", { text: op.email }),
      h("td", {}, role),
      h(
        "td",
        {},
        op.role === "agent"
          ? siteEditor(op, sites)
          : h("span", { class: "muted", text: "All sites" }),
      ),
      h(
        "td",
        {},
        h("span", {
          class: op.active ? "pill" : "pill off",
          text: op.active ? "Active" : "Deactivated",
        }),
      ),
      h("td", {}, toggle),
    );
  });
  root.appendChild(
    card(
      "Team",
      h(
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
              ["Name", "Email", "Role", "Sites", "Status", ""].map((t) =>
                h("th", { scope: "col", text: t }),
              ),
            ),
          ),
          h("tbody", {}, rows),
        ),
      ),
    ),
  );

  const name = h("input", { required: true, maxlength: 200, autocomplete: "off" });
  const email = h("input", { type: "email", required: true, autocomplete: "off" });
  const password = h("input", {
    type: "password",
    required: true,
    minlength: 10,
    autocomplete: "new-password",
  });
  const role = select(roles, "agent");
  const siteBoxes = sites.map((s) => ({ id: s.id, ...checkbox(s.name, true) }));
  const form = h(
    "form",
    { class: "grid-2", "aria-label": "Add an operator" },
    field("Name", name),
    field("Email", email),
    field(
      "Password",
      password,
      "At least 10 characters; share it privately, they can use it right away.",
    ),
    field("Role", role, "Agents answer chats on their sites; admins also change settings."),
    sites.length
      ? h(
          "fieldset",
          { class: "full" },
          h("legend", { class: "label", text: "Sites (for agents)" }),
          h(
            "div",
            { class: "checks" },
            siteBoxes.map((b) => b.node),
          ),
        )
      : null,
    h(
      "div",
      { class: "full actions" },
      h("button", { type: "submit", class: "button primary", text: "Add operator" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      email: email.value.trim(),
      password: password.value,
      role: role.value,
    };
    if (sites.length) body.site_ids = siteBoxes.filter((b) => b.input.checked).map((b) => b.id);
    const created = await attempt(() => api("POST", "/api/v1/operators", body));
    if (created) {
      await renderOperators();
      say(`${created.name} can now sign in as ${created.email}.`);
    }
  });
  root.appendChild(card("Add an operator", form));
}
