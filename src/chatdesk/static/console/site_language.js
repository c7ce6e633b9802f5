// Settings → Sites: the widget's language and the site's own words per language
// (overrides over the widget's catalogs, docs/embed.md "Languages").
import { LOCALES } from "../widget/i18n.js";
import { h } from "./dom.js";
import { field, select } from "./forms.js";

const NAMES = new Intl.DisplayNames(["en"], { type: "language" });

function languageName(code) {
  const native = new Intl.DisplayNames([code], { type: "language" }).of(code);
  const english = NAMES.of(code);
  return english === native ? english : `${english} (${native})`;
}

// The widget's English catalog: every key a site may put its own words on.
let english = null;
function englishCatalog() {
  english ||= fetch(new URL("../widget/i18n/en.json", import.meta.url)).then((response) =>
    response.ok ? response.json() : {},
  );
  return english;
}

/** The language select and the overrides editor; ``value()`` gives ``{locale, strings}``. */
export function languageFields(site) {
  const locale = select(
    [
      ["auto", "Automatic: the visitor's browser language"],
      ...LOCALES.map((code) => [code, languageName(code)]),
    ],
    site.locale || "auto",
    { id: "site-locale" },
  );
  // A copy edited in place; saved with the rest of the form.
  const strings = structuredClone(site.strings || {});
  const list = h("ul", { "aria-label": "Your own words" });
  const pickLocale = select(
    LOCALES.map((code) => [code, languageName(code)]),
    "en",
    { "aria-label": "Language of the text" },
  );
  const pickKey = h("select", { "aria-label": "Which text", class: "text-key" });
  const text = h("textarea", { rows: 2, maxlength: 500, id: "site-strings" });
  const add = h("button", { type: "button", class: "button small-button", text: "Use this text" });

  function draw() {
    const rows = [];
    for (const [code, texts] of Object.entries(strings)) {
      for (const [key, value] of Object.entries(texts)) {
        const remove = h("button", {
          type: "button",
          class: "button small-button",
          text: "Remove",
          "aria-label": `Remove ${languageName(code)} ${key}`,
        });
        remove.addEventListener("click", () => {
          delete strings[code][key];
          if (!Object.keys(strings[code]).length) delete strings[code];
          draw();
        });
        rows.push(h("li", {}, h("code", { text: `${code} · ${key}` }), ` ${value} `, remove));
      }
    }
    list.replaceChildren(
      ...(rows.length
        ? rows
        : [h("li", { class: "muted", text: "None yet: the widget's own words everywhere." })]),
    );
  }

  englishCatalog().then((catalog) => {
    pickKey.replaceChildren(
      ...Object.entries(catalog).map(([key, value]) =>
        // Long texts (the blocked notice) would widen the select past a narrow screen.
        h("option", {
          value: key,
          text: `${key}: ${value.length > 48 ? `${value.slice(0, 47)}…` : value}`,
        }),
      ),
    );
  });
  add.addEventListener("click", () => {
    if (!pickKey.value || !text.value.trim()) return;
    strings[pickLocale.value] = { ...strings[pickLocale.value], [pickKey.value]: text.value };
    text.value = "";
    draw();
  });
  draw();

  const node = h(
    "div",
    { class: "full stack" },
    field(
      "Widget language",
      locale,
      "Automatic: the first of the visitor's browser languages the widget has, else English.",
    ),
    h(
      "fieldset",
      { class: "stack" },
      h("legend", { class: "label", text: "Your own words" }),
      h("p", {
        class: "muted small",
        text: "Replace any of the widget's texts in one language: pick the language and the text, write yours.",
      }),
      list,
      h("div", { class: "copy-row" }, pickLocale, pickKey),
      field("Your text", text),
      h("div", { class: "actions" }, add),
    ),
  );
  return {
    node,
    locale,
    text,
    value: () => ({ locale: locale.value, strings }),
  };
}
