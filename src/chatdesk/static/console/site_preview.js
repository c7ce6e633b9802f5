// The widget as a site's visitors will see it, drawn beside the site's form and redrawn as
// the owner types: colour, corner, title and reply time, greeting, pre-chat fields, and the
// words of the chosen language (the widget's own catalogs, ADR 0021). A drawing, not the
// widget itself: nothing is sent, no visitor is made.
import { h } from "./dom.js";

const catalogs = new Map(); // locale -> Promise<words>

function catalog(locale) {
  if (!catalogs.has(locale)) {
    const url = new URL(`../widget/i18n/${locale}.json`, import.meta.url);
    catalogs.set(
      locale,
      fetch(url).then(
        (response) => (response.ok ? response.json() : {}),
        () => ({}),
      ),
    );
  }
  return catalogs.get(locale);
}

/** Dark text on a light accent, white on a dark one: as the widget decides. */
function onAccent(colour) {
  const value = Number.parseInt(String(colour).slice(1), 16);
  if (Number.isNaN(value)) return "#ffffff";
  const r = (value >> 16) & 255;
  const g = (value >> 8) & 255;
  const b = value & 255;
  return r * 0.299 + g * 0.587 + b * 0.114 > 160 ? "#111827" : "#ffffff";
}

/** The preview's node and ``update(values)``; values as the form holds them:
 * ``{name, colour, position, greeting, replyTime, prechat: {name, email}, locale, strings}``. */
export function sitePreview() {
  const title = h("strong", { class: "preview-title" });
  const status = h("span", { class: "preview-status" });
  const head = h("div", { class: "preview-head" }, title, status);
  const body = h("div", { class: "preview-body" });
  const launcher = h("span", { class: "preview-launcher", "aria-hidden": "true" });
  const stage = h(
    "div",
    { class: "preview-stage" },
    h("div", { class: "preview-panel" }, head, body),
    launcher,
  );
  const caption = h("figcaption", { class: "muted small" });
  const node = h(
    "figure",
    { class: "site-preview", "aria-label": "Widget preview" },
    stage,
    caption,
  );
  let drawn = 0;

  async function update(values) {
    const turn = ++drawn;
    const locale = values.locale && values.locale !== "auto" ? values.locale : "en";
    const [english, words] = await Promise.all([catalog("en"), catalog(locale)]);
    if (turn !== drawn) return; // a newer drawing is on its way
    const own = values.strings?.[locale] || {};
    const say = (key) => own[key] || words[key] || english[key] || "";
    // The site's own greeting, unless it is the stock English one (then the visitor's
    // language says it), as the widget does.
    const ownText = (key, value) =>
      own[key] || (value?.trim() && value.trim() !== english[key] ? value : say(key));

    stage.dataset.position = values.position === "left" ? "left" : "right";
    node.style.setProperty("--preview-accent", values.colour || "#2563eb");
    node.style.setProperty("--preview-on-accent", onAccent(values.colour || "#2563eb"));
    node.dir = locale === "ar" || locale === "he" ? "rtl" : "ltr";
    node.lang = locale;
    title.textContent = values.name || say("chat");
    status.textContent = values.replyTime?.trim() ? ownText("reply_time", values.replyTime) : "";

    const fields = [];
    for (const [key, label] of [
      ["name", say("name")],
      ["email", say("email")],
    ]) {
      const mode = values.prechat?.[key] || "off";
      if (mode === "off") continue;
      fields.push(
        h(
          "span",
          { class: "preview-field" },
          `${label}${mode === "optional" ? ` ${say("optional")}` : ""}`,
        ),
      );
    }
    body.replaceChildren(
      h("p", { class: "preview-bubble", text: ownText("greeting", values.greeting) }),
      ...fields,
      fields.length
        ? h("span", { class: "preview-button", text: say("start_chat") })
        : h("span", { class: "preview-composer", text: say("placeholder") }),
    );
    caption.textContent =
      locale === "en" && values.locale === "auto"
        ? "As a visitor sees it (shown in English; each visitor gets their browser's language)."
        : "As a visitor sees it.";
  }

  return { node, update };
}
