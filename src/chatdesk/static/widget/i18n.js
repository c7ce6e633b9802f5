// The widget's words in the visitor's language (ADR 0021): one catalog per locale in
// ./i18n/<locale>.json, only the active one fetched, and the site's own strings over it.

// Every locale a catalog ships for (tests/test_widget_catalogs.py checks the files).
export const LOCALES = [
  "ar",
  "de",
  "en",
  "es",
  "fr",
  "he",
  "it",
  "ja",
  "nl",
  "pl",
  "pt",
  "tr",
  "zh",
];
const RTL = ["ar", "he"];
const ALIASES = { iw: "he", cmn: "zh" };

let active = "en";
let tag = "en";
let words = {};
let own = {};

/** The catalog for a language tag, by its language alone ("de-AT" → "de",
 * "zh-Hans" → "zh", "pt-BR" → "pt"); null when there is none. */
export function match(tag) {
  const language = String(tag || "")
    .split(/[-_]/)[0]
    .toLowerCase();
  const found = ALIASES[language] || language;
  return LOCALES.includes(found) ? found : null;
}

/** The site's setting ("auto" or a tag), else the browser's first language we have, else English. */
export function pickLocale(setting, languages = navigator.languages || [navigator.language]) {
  if (setting && setting !== "auto") return match(setting) || "en";
  for (const tag of languages) {
    const found = match(tag);
    if (found) return found;
  }
  return "en";
}

/** Fetch the active catalog (English when that fails) and take the site's overrides. */
export async function loadLocale(locale, overrides = {}) {
  for (const name of locale === "en" ? ["en"] : [locale, "en"]) {
    try {
      const response = await fetch(new URL(`./i18n/${name}.json`, import.meta.url));
      if (!response.ok) continue;
      words = await response.json();
      active = name;
      break;
    } catch {
      // the next one, or the keys themselves
    }
  }
  own = overrides?.[active] || {};
  // Dates and times as the visitor's own variant of it ("en-GB", "de-AT") when they use one.
  tag = (navigator.languages || []).find((each) => match(each) === active) || active;
  const root = document.documentElement;
  root.lang = active;
  root.dir = RTL.includes(active) ? "rtl" : "ltr";
  return active;
}

export const locale = () => active;

/** The tag for Intl's dates and times: the active locale, as the browser spells it. */
export const formatLocale = () => tag;

/** The site's own text for ``key`` in the active locale, if it set one. */
export const override = (key) => own[key] || "";

/** ``key``'s text, with ``{name}`` placeholders filled from ``vars``. */
export function t(key, vars = {}) {
  const text = own[key] || words[key] || key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Words in the page itself: data-t (text), data-t-label (aria-label and title). */
export function translatePage(root = document) {
  for (const node of root.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of root.querySelectorAll("[data-t-label]")) {
    node.setAttribute("aria-label", t(node.dataset.tLabel));
    if (node.title) node.title = t(node.dataset.tLabel);
  }
}
