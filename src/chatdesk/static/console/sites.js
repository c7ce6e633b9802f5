// Settings: sites and their widget (business hours, pre-chat form, identity, embed snippet).
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { checkbox, confirmButton, copyText, field, select } from "./forms.js";
import { attempt, card, root, say } from "./section.js";
import { languageFields } from "./site_language.js";
import { sitePreview } from "./site_preview.js";

const DAYS = [
  ["mon", "Monday"],
  ["tue", "Tuesday"],
  ["wed", "Wednesday"],
  ["thu", "Thursday"],
  ["fri", "Friday"],
  ["sat", "Saturday"],
  ["sun", "Sunday"],
];
const PRECHAT = [
  ["off", "Off"],
  ["optional", "Optional"],
  ["required", "Required"],
];

function embedSnippet(site) {
  return `<script src="${location.origin}/widget.js" data-site="${site.site_key}" async></script>`;
}

function hoursEditor(hours) {
  const enabled = checkbox("Only show as online during business hours", Boolean(hours));
  const zone = h("input", {
    list: "timezones",
    value: hours?.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone,
    autocomplete: "off",
  });
  const zones = h(
    "datalist",
    { id: "timezones" },
    (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : []).map((z) =>
      h("option", { value: z }),
    ),
  );
  const rows = DAYS.map(([key, name]) => {
    const span = hours?.days?.[key]?.[0];
    const day = checkbox(name, hours ? Boolean(span) : !["sat", "sun"].includes(key));
    const from = h("input", {
      type: "time",
      value: span?.[0] || "09:00",
      "aria-label": `${name} opens at`,
    });
    const to = h("input", {
      type: "time",
      value: span?.[1] || "17:00",
      "aria-label": `${name} closes at`,
    });
    return { key, day, from, to };
  });
  const grid = h(
    "div",
    { class: "hours" },
    rows.map((r) => [r.day.node, r.from, r.to]),
  );
  const node = h(
    "fieldset",
    { class: "full stack" },
    h("legend", { class: "label", text: "Business hours" }),
    enabled.node,
    field("Time zone", zone, "IANA name, e.g. Europe/Paris"),
    zones,
    grid,
  );
  const sync = () => {
    for (const r of rows) {
      r.day.input.disabled = !enabled.input.checked;
      r.from.disabled = r.to.disabled = !enabled.input.checked || !r.day.input.checked;
    }
    zone.disabled = !enabled.input.checked;
  };
  enabled.input.addEventListener("change", sync);
  for (const r of rows) r.day.input.addEventListener("change", sync);
  sync();
  return {
    node,
    value() {
      if (!enabled.input.checked) return null;
      const days = {};
      for (const r of rows) {
        // The form edits the first span of a day; further spans (set over the API) are kept.
        const extra = (hours?.days?.[r.key] || []).slice(1);
        if (r.day.input.checked) days[r.key] = [[r.from.value, r.to.value], ...extra];
      }
      return { timezone: zone.value.trim(), days };
    },
  };
}

function siteForm(site, onSaved) {
  const name = h("input", { value: site.name, required: true, maxlength: 200 });
  const origins = h("textarea", { rows: 3, spellcheck: "false" });
  origins.value = site.allowed_origins.join("\n");
  const greeting = h("textarea", { rows: 2, maxlength: 500 });
  greeting.value = site.greeting || "";
  const colour = h("input", { type: "color", value: site.accent_color || "#2563eb" });
  const position = select(
    [
      ["right", "Bottom right"],
      ["left", "Bottom left"],
    ],
    site.position,
  );
  const theme = select(
    [
      ["auto", "Automatic: the visitor's light or dark setting"],
      ["light", "Always light"],
      ["dark", "Always dark"],
    ],
    site.theme || "auto",
    { id: "site-theme" },
  );
  const prechatName = select(PRECHAT, site.prechat?.name);
  const prechatEmail = select(PRECHAT, site.prechat?.email);
  const offline = h("textarea", { rows: 2, maxlength: 500 });
  offline.value = site.offline_message || "";
  const replyTime = h("input", { value: site.reply_time ?? "", maxlength: 200 });
  const requireOnline = checkbox(
    "Show the chat as away while none of this site's agents (or an admin) is online",
    site.require_agent_online,
  );
  const assignment = select(
    [
      ["manual", "By hand"],
      ["round_robin", "Round-robin among online agents"],
      ["least_busy", "Least busy online agent (within each one's max open)"],
    ],
    site.assignment || "manual",
  );
  const assignOnReply = checkbox(
    "Assign an unassigned conversation to whoever replies first",
    site.assign_on_reply ?? true,
  );
  const hours = hoursEditor(site.business_hours);
  const language = languageFields(site);
  const enabled = checkbox("Widget enabled", site.enabled);
  const identityRequired = checkbox(
    "Require a signed identity token (only logged-in users of your site can chat)",
    site.identity_required,
  );
  const replayProtection = checkbox(
    "Accept each identity token only once (tokens must carry a jti claim)",
    site.identity_replay_protection,
  );
  const form = h(
    "form",
    { class: "grid-2", "aria-label": `Widget settings for ${site.name}` },
    field("Site name", name),
    field("Accent colour", colour),
    h(
      "div",
      { class: "full" },
      field(
        "Allowed origins",
        origins,
        "One per line, like https://shop.example.com (no path). The widget only loads on these.",
      ),
    ),
    h("div", { class: "full" }, field("Greeting", greeting, "The first thing visitors read.")),
    h(
      "div",
      { class: "full" },
      field(
        "Reply time",
        replyTime,
        "The line under the chat's title while you are online, e.g. “We usually reply in a few minutes”. Leave it empty to show none.",
      ),
    ),
    field("Launcher position", position),
    field("Chat colours", theme, "The launcher keeps the accent colour either way."),
    field("Ask for name before chat", prechatName),
    field("Ask for email before chat", prechatEmail),
    hours.node,
    h("div", { class: "full checks" }, requireOnline.node),
    field(
      "Assign new conversations",
      assignment,
      "Automatic assignment picks among this site's agents (and admins) who are online; with nobody free a conversation waits and goes to the next one who comes online or frees a place.",
    ),
    h("div", { class: "checks" }, assignOnReply.node),
    h(
      "div",
      { class: "full" },
      field(
        "Offline message",
        offline,
        "Shown while the chat is away (outside business hours, or nobody online when that is required); visitors can leave a message and their email.",
      ),
    ),
    language.node,
    h("div", { class: "full checks" }, enabled.node, identityRequired.node, replayProtection.node),
    h(
      "div",
      { class: "full actions" },
      h("button", {
        type: "submit",
        class: "button primary",
        text: "Save changes",
        id: "site-save",
      }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      allowed_origins: origins.value
        .split(/[\s,]+/)
        .map((o) => o.trim())
        .filter(Boolean),
      greeting: greeting.value,
      accent_color: colour.value,
      position: position.value,
      theme: theme.value,
      prechat: { name: prechatName.value, email: prechatEmail.value },
      offline_message: offline.value,
      reply_time: replyTime.value.trim(),
      require_agent_online: requireOnline.input.checked,
      assignment: assignment.value,
      assign_on_reply: assignOnReply.input.checked,
      business_hours: hours.value(),
      enabled: enabled.input.checked,
      identity_required: identityRequired.input.checked,
      identity_replay_protection: replayProtection.input.checked,
      ...language.value(),
    };
    const saved = await attempt(
      () => api("PATCH", `/api/v1/sites/${encodeURIComponent(site.id)}`, body),
      null,
      {
        fields: {
          name,
          allowed_origins: origins,
          greeting,
          accent_color: colour,
          offline_message: offline,
          reply_time: replyTime,
          locale: language.locale,
          strings: language.text,
        },
      },
    );
    if (saved) onSaved(saved, "Saved.", "site-save");
  });
  // The widget as visitors will see it, redrawn as the form changes.
  const preview = sitePreview();
  const redraw = () =>
    preview.update({
      name: name.value,
      colour: colour.value,
      position: position.value,
      greeting: greeting.value,
      replyTime: replyTime.value,
      prechat: { name: prechatName.value, email: prechatEmail.value },
      ...language.value(),
    });
  for (const type of ["input", "change"]) form.addEventListener(type, redraw);
  form.addEventListener("click", () => setTimeout(redraw)); // the own-words editor's buttons
  redraw();
  return h("div", { class: "site-edit" }, form, preview.node);
}

function identityCard(site, onSaved) {
  const secret = h("input", {
    class: "code",
    readonly: true,
    value: site.identity_secret || "",
    "aria-label": "Identity secret",
  });
  const copy = h("button", { type: "button", class: "button small-button", text: "Copy secret" });
  copy.addEventListener("click", () => copyText(secret.value, secret, copy));
  const rotate = confirmButton(
    "Rotate secret",
    "Click again to rotate",
    async () => {
      const saved = await attempt(() =>
        api("PATCH", `/api/v1/sites/${encodeURIComponent(site.id)}`, {
          rotate_identity_secret: true,
        }),
      );
      if (saved)
        onSaved(
          saved,
          "A new identity secret was created; tokens signed with the old one no longer work.",
          "identity-rotate",
        );
    },
    { id: "identity-rotate" },
  );
  return card(
    "Identity verification",
    h("p", {
      class: "muted",
      text: "Your backend signs a short-lived JWT (HS256, with sub and exp) using this secret and passes it to the widget, so the same signed-in customer is recognised on every device.",
    }),
    h("div", { class: "copy-row" }, secret, copy),
    h("p", { class: "actions" }, rotate),
  );
}

function embedCard(site) {
  const code = h("textarea", {
    class: "code",
    rows: 2,
    readonly: true,
    "aria-label": "Embed snippet",
    spellcheck: "false",
  });
  code.value = embedSnippet(site);
  const copy = h("button", { type: "button", class: "button small-button", text: "Copy snippet" });
  copy.addEventListener("click", () => copyText(code.value, code, copy));
  return card(
    "Embed snippet",
    h("p", { class: "muted", text: "Paste this before </body> on every page of your site." }),
    h("div", { class: "copy-row" }, code, copy),
  );
}

/** Deleting a site: typed confirmation of its name, then gone with everything of it. */
function deleteCard(site) {
  const typed = h("input", { autocomplete: "off", spellcheck: "false" });
  const remove = h("button", {
    type: "submit",
    class: "button danger",
    text: "Delete this site",
    disabled: true,
  });
  typed.addEventListener("input", () => {
    remove.disabled = typed.value.trim() !== site.name.trim();
  });
  const form = h(
    "form",
    { class: "stack", "aria-label": `Delete ${site.name}` },
    h("p", {
      class: "muted",
      text: "Deleting a site erases its visitors, all their conversations and messages, its canned responses, webhooks, bot tokens and blocks. This cannot be undone; the audit log keeps a line saying it happened.",
    }),
    field(`Type the site's name, ${site.name}, to confirm`, typed),
    h("div", { class: "actions" }, remove),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (typed.value.trim() !== site.name.trim()) return;
    remove.disabled = true;
    const done = await attempt(
      () => api("DELETE", `/api/v1/sites/${encodeURIComponent(site.id)}`),
      `${site.name} was deleted.`,
    );
    if (done === undefined) {
      remove.disabled = false;
      return;
    }
    history.replaceState({}, "", location.pathname);
    await renderSites();
    say(`${site.name} was deleted, with its conversations.`);
  });
  return card("Delete this site", form);
}

export async function renderSites() {
  const { sites } = await api("GET", "/api/v1/sites");
  const wanted = new URLSearchParams(location.search).get("site");
  const current = sites.find((s) => s.id === wanted) || sites[0];
  clear(root);
  if (sites.length) {
    root.appendChild(
      h(
        "ul",
        { class: "site-list", "aria-label": "Sites" },
        sites.map((s) =>
          h(
            "li",
            {},
            h(
              "a",
              {
                href: `?site=${encodeURIComponent(s.id)}`,
                "aria-current": s === current ? "true" : null,
              },
              s.name,
              s.enabled ? null : h("span", { class: "pill off", text: " disabled" }),
            ),
          ),
        ),
      ),
    );
  }
  if (current) {
    // Drawn anew after a save; what the save says goes beside the same button again.
    const rerender = async (saved, note, nearId) => {
      history.replaceState({}, "", `?site=${encodeURIComponent(saved.id)}`);
      await renderSites();
      if (note) say(note, { near: document.getElementById(nearId) });
    };
    root.append(
      card(
        current.name,
        h("p", { class: "muted small" }, "Site key: ", h("code", { text: current.site_key })),
        siteForm(current, rerender),
      ),
      embedCard(current),
      identityCard(current, rerender),
      deleteCard(current),
    );
  }
  const name = h("input", { required: true, maxlength: 200 });
  const origin = h("input", { placeholder: "https://shop.example.com" });
  const create = h(
    "form",
    { class: "grid-2", "aria-label": "Add a site" },
    field("New site name", name),
    field("Website origin", origin, "Where the widget will run; more can be added later."),
    h(
      "div",
      { class: "full actions" },
      h("button", { type: "submit", class: "button primary", text: "Add site" }),
    ),
  );
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      allowed_origins: origin.value.trim() ? [origin.value.trim()] : [],
    };
    const site = await attempt(
      () => api("POST", "/api/v1/sites", body),
      "Site added. Copy its embed snippet below.",
    );
    if (site) {
      history.replaceState({}, "", `?site=${encodeURIComponent(site.id)}`);
      await renderSites();
      say("Site added. Copy its embed snippet below.");
    }
  });
  root.appendChild(card("Add a site", create));
}
