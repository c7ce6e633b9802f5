// Settings: canned responses, typed as /shortcut in the composer. Each is for every site or
// for one; each can be edited in place. Mistakes are told in words beside their field.
import { ApiError, api } from "./api.js";
import { clear, h } from "./dom.js";
import { confirmButton, field, select, setFieldError } from "./forms.js";
import { attempt, card, root, say } from "./section.js";

// What the API accepts (web/schemas.py), with a leading "/" and capitals forgiven: they are
// taken off before sending. Valid with the "v" flag Chromium compiles `pattern` with, where a
// "-" inside brackets must be escaped.
const SHORTCUT_PATTERN = "/?[A-Za-z0-9_\\-]{1,50}";
const MAX_TEXT = 10000;
const EVERY_SITE = "";
const VARIABLES_HINT =
  "{{visitor.name}}, {{operator.name}} and {{site.name}} are filled in when it is inserted. " +
  "**bold**, _italic_ and `code` work; links become clickable.";

const MESSAGES = {
  shortcut: {
    missing: "Enter a shortcut.",
    pattern: "Use only letters, digits, - and _ (no spaces), at most 50 characters.",
  },
  body: {
    missing: "Write the text of the response.",
    tooLong: `Keep the text under ${MAX_TEXT.toLocaleString()} characters.`,
  },
  site_id: { invalid: "Choose a site from the list." },
};

function normalShortcut(value) {
  return value.trim().replace(/^\//, "").toLowerCase();
}

/** The form's controls for one response (new, or one being edited). */
function controls(sites, response = null) {
  const shortcut = h("input", {
    required: true,
    pattern: SHORTCUT_PATTERN,
    maxlength: 51,
    placeholder: "refund",
    autocomplete: "off",
    spellcheck: "false",
    value: response?.shortcut,
  });
  const text = h("textarea", { rows: 4, required: true, maxlength: MAX_TEXT });
  text.value = response?.body || "";
  const site = select(
    [[EVERY_SITE, "Every site"], ...sites.map((s) => [s.id, s.name])],
    response?.site_id || EVERY_SITE,
  );
  return { shortcut, text, site };
}

/** Check in the browser first: the same rules as the server, told the same way. */
function check({ shortcut, text }) {
  const problems = {};
  const value = normalShortcut(shortcut.value);
  if (!value) problems.shortcut = MESSAGES.shortcut.missing;
  else if (shortcut.validity.patternMismatch || !/^[a-z0-9_-]{1,50}$/.test(value))
    problems.shortcut = MESSAGES.shortcut.pattern;
  if (!text.value.trim()) problems.body = MESSAGES.body.missing;
  else if (text.value.length > MAX_TEXT) problems.body = MESSAGES.body.tooLong;
  return problems;
}

/** The server's refusal, as words per field ({} when it is not about a field). */
function problemsFrom(error, shortcut, siteName) {
  if (!(error instanceof ApiError)) return {};
  if (error.status === 409 && error.details?.field === "shortcut") {
    const where = siteName ? `for ${siteName}` : "for every site";
    return { shortcut: `/${shortcut} is already used ${where}. Choose another shortcut.` };
  }
  if (error.status === 404 && error.message.startsWith("Site")) {
    return { site_id: "That site no longer exists. Choose another." };
  }
  if (error.status !== 422 || !Array.isArray(error.details)) return {};
  const problems = {};
  for (const detail of error.details) {
    const name = (detail.loc || []).filter((part) => part !== "body")[0];
    if (name === "shortcut") problems.shortcut = MESSAGES.shortcut.pattern;
    else if (name === "body") problems.body = MESSAGES.body.missing;
    else if (name === "site_id") problems.site_id = MESSAGES.site_id.invalid;
  }
  return problems;
}

function showProblems(parts, problems) {
  setFieldError(parts.shortcut, problems.shortcut || "");
  setFieldError(parts.text, problems.body || "");
  setFieldError(parts.site, problems.site_id || "");
  const first = [
    [problems.shortcut, parts.shortcut],
    [problems.body, parts.text],
    [problems.site_id, parts.site],
  ].find(([message]) => message);
  first?.[1].focus();
  return Boolean(first);
}

/** Send ``parts`` with ``send(body)``; problems go beside their fields, the rest to the status line. */
async function submit(parts, siteNames, send) {
  say("");
  const body = {
    shortcut: normalShortcut(parts.shortcut.value),
    body: parts.text.value,
    site_id: parts.site.value || null,
  };
  if (showProblems(parts, check(parts))) return null;
  try {
    return await send(body);
  } catch (error) {
    const problems = problemsFrom(error, body.shortcut, siteNames.get(body.site_id));
    if (!showProblems(parts, problems)) say(error.message, { error: true });
    return null;
  }
}

function formFields(parts, idPrefix) {
  parts.shortcut.id = `${idPrefix}-shortcut`;
  parts.text.id = `${idPrefix}-text`;
  parts.site.id = `${idPrefix}-site`;
  return [
    field("Shortcut", parts.shortcut, "Letters, digits, - and _. Typed as /shortcut."),
    field("Used on", parts.site, "Only this site's operators see a site's response."),
    h("div", { class: "full" }, field("Response text", parts.text, VARIABLES_HINT)),
  ];
}

class CannedTable {
  constructor(sites) {
    this.sites = sites;
    this.siteNames = new Map(sites.map((s) => [s.id, s.name]));
    this.body = h("tbody", {});
  }

  siteLabel(response) {
    if (!response.site_id) return h("span", { class: "muted", text: "Every site" });
    return this.siteNames.get(response.site_id) || "Another site";
  }

  row(response) {
    const edit = h("button", {
      type: "button",
      class: "button small-button",
      text: "Edit",
      "aria-label": `Edit /${response.shortcut}`,
      onclick: () => this.edit(row, response),
    });
    const remove = confirmButton(
      "Delete",
      "Click again to delete",
      async () => {
        const deleted = await attempt(
          () => api("DELETE", `/api/v1/canned-responses/${encodeURIComponent(response.id)}`),
          `/${response.shortcut} was deleted.`,
        );
        if (deleted !== undefined) renderCanned();
      },
      { "aria-label": `Delete /${response.shortcut}` },
    );
    const row = h(
      "tr",
      { dataset: { id: response.id } },
      h("td", { "data-label": "Shortcut" }, h("code", { text: `/${response.shortcut}` })),
      h("td", { "data-label": "Used on" }, this.siteLabel(response)),
      h("td", { class: "canned-text", "data-label": "Text", text: response.body }),
      h("td", { class: "canned-actions" }, h("div", { class: "actions" }, edit, remove)),
    );
    return row;
  }

  /** Turn ``row`` into a form for ``response``; saving or cancelling turns it back. */
  edit(row, response) {
    const parts = controls(this.sites, response);
    const save = h("button", { type: "submit", class: "button primary", text: "Save" });
    const cancel = h("button", { type: "button", class: "button", text: "Cancel" });
    const form = h(
      "form",
      { class: "grid-2 canned-edit", novalidate: true, "aria-label": `Edit /${response.shortcut}` },
      h(
        "p",
        { class: "full canned-edit-title" },
        "Editing ",
        h("code", { text: `/${response.shortcut}` }),
      ),
      formFields(parts, `edit-${response.id}`),
      h("div", { class: "full actions" }, save, cancel),
    );
    const editing = h("tr", { class: "editing", dataset: { id: response.id } });
    editing.appendChild(h("td", { colspan: 4 }, form));
    const back = (shown) => {
      const fresh = this.row(shown);
      editing.replaceWith(fresh);
      fresh.querySelector("button").focus();
    };
    cancel.addEventListener("click", () => back(response));
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") back(response);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      const saved = await submit(parts, this.siteNames, (body) =>
        api("PATCH", `/api/v1/canned-responses/${encodeURIComponent(response.id)}`, body),
      );
      save.disabled = false;
      if (!saved) return;
      back(saved);
      say(`/${saved.shortcut} was saved.`);
    });
    row.replaceWith(editing);
    parts.text.focus();
  }
}

export async function renderCanned() {
  const [{ canned_responses: canned }, { sites }] = await Promise.all([
    api("GET", "/api/v1/canned-responses"),
    api("GET", "/api/v1/inbox/sites"),
  ]);
  clear(root);
  const table = new CannedTable(sites);
  for (const response of canned) table.body.appendChild(table.row(response));
  root.appendChild(
    card(
      "Canned responses",
      canned.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "table canned-table", "aria-label": "Canned responses" },
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["Shortcut", "Used on", "Text"].map((t) => h("th", { scope: "col", text: t })),
                  h(
                    "th",
                    { scope: "col" },
                    h("span", { class: "visually-hidden", text: "Actions" }),
                  ),
                ),
              ),
              table.body,
            ),
          )
        : h("p", {
            class: "muted",
            text: "None yet. Operators type /shortcut in the reply box to insert one.",
          }),
    ),
  );
  const parts = controls(sites);
  const form = h(
    "form",
    { class: "grid-2", novalidate: true, "aria-label": "Add a canned response" },
    formFields(parts, "new-canned"),
    h(
      "div",
      { class: "full actions" },
      h("button", { type: "submit", class: "button primary", text: "Add canned response" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const made = await submit(parts, table.siteNames, (body) =>
      api("POST", "/api/v1/canned-responses", body),
    );
    if (!made) return;
    await renderCanned();
    say(`/${made.shortcut} was added.`);
  });
  root.appendChild(card("Add a canned response", form));
}
