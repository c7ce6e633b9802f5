// Settings: operators, their roles and the sites agents answer for.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { checkbox, confirmButton, copyText, field, select } from "./forms.js";
import { sessionsButton } from "./operator_sessions.js";
import { presenceDot, rememberPresence } from "./presence.js";
import { attempt, card, me, root, say } from "./section.js";

/** How many open conversations routing may give ``op`` (empty: no limit). */
function maxOpenEditor(op) {
  const input = h("input", {
    type: "number",
    class: "max-open",
    min: 1,
    max: 1000,
    step: 1,
    inputmode: "numeric",
    placeholder: "No limit",
    value: op.max_open ?? "",
    "aria-label": `Most open conversations for ${op.name} (empty: no limit)`,
  });
  input.addEventListener("change", async () => {
    const raw = input.value.trim();
    const max_open = raw === "" ? null : Number(raw);
    if (max_open !== null && !(Number.isInteger(max_open) && max_open >= 1 && max_open <= 1000)) {
      say(`${op.name}: enter a whole number from 1 to 1000, or leave it empty for no limit.`, {
        error: true,
      });
      input.setAttribute("aria-invalid", "true");
      return;
    }
    input.removeAttribute("aria-invalid");
    const saved = await attempt(
      () => api("PATCH", `/api/v1/operators/${encodeURIComponent(op.id)}`, { max_open }),
      max_open === null
        ? `${op.name} has no limit of open conversations.`
        : `${op.name} gets at most ${max_open} open conversations.`,
    );
    if (saved) op.max_open = saved.max_open;
    else input.value = op.max_open ?? "";
  });
  return input;
}

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

/** "Reset password": a generated temporary password, shown once under the operator's row;
 * they must choose their own at their next sign-in. */
function resetButton(op) {
  return confirmButton(
    "Reset password",
    "Click again to reset",
    async () => {
      const done = await attempt(
        () => api("POST", `/api/v1/operators/${encodeURIComponent(op.id)}/password`, {}),
        `${op.name}'s password was reset; they were signed out.`,
      );
      if (!done) return;
      const row = root.querySelector(`tr[data-id="${CSS.escape(op.id)}"]`);
      row?.nextElementSibling?.classList.contains("once-row") && row.nextElementSibling.remove();
      const value = h("input", {
        class: "code",
        readonly: true,
        value: done.temporary_password,
        "aria-label": `Temporary password for ${op.name}`,
      });
      const copy = h("button", { type: "button", class: "button small-button", text: "Copy" });
      copy.addEventListener("click", () => copyText(value.value, value, copy));
      const once = h(
        "tr",
        { class: "once-row" },
        h(
          "td",
          { colspan: 7 },
          h("p", {
            text: `Temporary password for ${op.name}, shown only now: give it to them privately. They must choose their own when they next sign in.`,
          }),
          h("div", { class: "copy-row" }, value, copy),
        ),
      );
      row?.after(once);
      value.focus();
      value.select();
    },
    { "aria-label": `Reset password of ${op.name}` },
  );
}

/** "Reset two-factor": their authenticator lost, they sign in with the password alone and
 * set it up again. Admins for agents, owners for admins too; an owner's only on the server. */
function resetTotpButton(op) {
  return confirmButton(
    "Reset two-factor",
    "Click again to reset two-factor",
    () =>
      attempt(
        () => api("DELETE", `/api/v1/operators/${encodeURIComponent(op.id)}/totp`),
        `${op.name}'s two-factor sign-in is off: they sign in with their password and can set it up again.`,
      ),
    { "aria-label": `Reset two-factor sign-in of ${op.name}` },
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
  rememberPresence(operators);
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
    const mayReset = !self && op.active && (op.role !== "owner" || me.role === "owner");
    const mayResetTotp =
      !self && op.role !== "owner" && (op.role === "agent" || me.role === "owner");
    return h(
      "tr",
      { dataset: { id: op.id } },
      h(
        "td",
        { "data-label": "Name" },
        h(
          "span",
          { class: "operator-name" },
          presenceDot(op.id),
          h("strong", { text: op.name }),
          self ? h("span", { class: "muted", text: " (you)" }) : null,
        ),
      ),
      h("td", { "data-label": "Email", class: "operator-email", text: op.email }),
      h("td", { "data-label": "Role" }, role),
      h(
        "td",
        { "data-label": "Sites" },
        op.role === "agent"
          ? siteEditor(op, sites)
          : h("span", { class: "muted", text: "All sites" }),
      ),
      h("td", { "data-label": "Max open" }, maxOpenEditor(op)),
      h(
        "td",
        { "data-label": "Status" },
        h("span", {
          class: op.active && !op.invited ? "pill" : "pill off",
          text: !op.active ? "Deactivated" : op.invited ? "Invited" : "Active",
          title: op.active && op.invited ? "Has not chosen a password yet" : null,
        }),
      ),
      h(
        "td",
        { class: "row-actions" },
        h(
          "div",
          { class: "actions" },
          mayReset ? resetButton(op) : null,
          mayResetTotp ? resetTotpButton(op) : null,
          !self && (op.role !== "owner" || me.role === "owner") ? sessionsButton(op) : null,
          toggle,
        ),
      ),
    );
  });
  root.appendChild(
    card(
      "Team",
      h("p", {
        class: "muted small",
        text: "A green dot: online (the console is open); amber: away; grey: offline. Max open: the most open conversations automatic assignment may give someone (empty: no limit).",
      }),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "table stacked-table operators-table", "aria-label": "Operators" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Name", "Email", "Role", "Sites", "Max open", "Status"].map((t) =>
                h("th", { scope: "col", text: t }),
              ),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: "Actions" })),
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
  // Invite by email (no password: they choose their own with the emailed link), or set
  // a password to share privately.
  const invite = checkbox("Send an invitation by email instead (they choose their own)", false);
  const passwordField = field(
    "Password",
    password,
    "At least 10 characters; share it privately, they can use it right away.",
  );
  const showMode = () => {
    passwordField.hidden = invite.input.checked;
    password.required = !invite.input.checked;
  };
  invite.input.addEventListener("change", showMode);
  showMode();
  const role = select(roles, "agent");
  const siteBoxes = sites.map((s) => ({ id: s.id, ...checkbox(s.name, true) }));
  const form = h(
    "form",
    { class: "grid-2", "aria-label": "Add an operator" },
    field("Name", name),
    field("Email", email),
    h("div", { class: "full" }, invite.node),
    passwordField,
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
      role: role.value,
    };
    if (!invite.input.checked) body.password = password.value;
    if (sites.length) body.site_ids = siteBoxes.filter((b) => b.input.checked).map((b) => b.id);
    const created = await attempt(() => api("POST", "/api/v1/operators", body));
    if (created) {
      await renderOperators();
      if (created.invitation === "sent") {
        say(
          `Invitation sent to ${created.email}: they choose their password with the link in it, then sign in.`,
        );
      } else if (created.invitation === "not_sent") {
        say(
          `${created.name} was added, but no invitation email could be sent (email is not configured). Use "Reset password" on their row and give them the temporary password privately.`,
        );
      } else {
        say(`${created.name} can now sign in as ${created.email}.`);
      }
    }
  });
  root.appendChild(card("Add an operator", form));
}
