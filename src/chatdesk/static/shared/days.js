// Which day a message belongs to, and that day in words, in the reader's locale and time
// zone: what the console's and the widget's day separators say.

const DAY_MS = 24 * 60 * 60 * 1000;
let RELATIVE_DAY;
let DAY_TITLE;
let DAY_TITLE_YEAR;
setDayLocale(undefined);

/** The language days are said in: the browser's (``undefined``, the console) or a tag
 * (the widget, in its visitor's language). */
export function setDayLocale(locale) {
  RELATIVE_DAY = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  DAY_TITLE = new Intl.DateTimeFormat(locale, { weekday: "long", month: "long", day: "numeric" });
  DAY_TITLE_YEAR = new Intl.DateTimeFormat(locale, { dateStyle: "full" });
}

export function toDate(value) {
  if (!value) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Whole local days from ``date`` to ``now`` (0 today, 1 yesterday), across DST changes. */
export function daysAgo(date, now = new Date()) {
  const start = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
  return Math.round((start(now) - start(date)) / DAY_MS);
}

/** The local day of ``value`` as "YYYY-MM-DD" ("" when it is no time). */
export function dayKey(value) {
  const date = toDate(value);
  if (!date) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** "Today", "Yesterday", or "Monday, March 3" (with the year when it is not this one). */
export function dayLabel(value, now = new Date()) {
  const date = toDate(value);
  if (!date) return "";
  const days = daysAgo(date, now);
  if (days === 0 || days === 1) {
    const word = RELATIVE_DAY.format(-days, "day");
    return word[0].toLocaleUpperCase() + word.slice(1);
  }
  return (date.getFullYear() === now.getFullYear() ? DAY_TITLE : DAY_TITLE_YEAR).format(date);
}

/**
 * Put a separator before the first message of each day among ``container``'s children
 * (messages carry their time in ``data-at``). Separators already right stay in place (a
 * live region would read a node put back again); wrong ones go, missing ones are made by
 * ``make(label, key)``.
 */
export function renderDays(container, make, now = new Date()) {
  let day = null;
  for (const node of [...container.children]) {
    if (node.classList.contains("day-separator")) {
      const next = node.nextElementSibling;
      const nextDay = next?.dataset.at ? dayKey(next.dataset.at) : "";
      if (nextDay && nextDay !== day && node.dataset.day === nextDay) {
        day = nextDay;
        const label = dayLabel(next.dataset.at, now);
        if (node.getAttribute("aria-label") !== label) {
          node.setAttribute("aria-label", label);
          node.firstChild.textContent = label;
        }
      } else {
        node.remove();
      }
      continue;
    }
    const key = node.dataset.at ? dayKey(node.dataset.at) : "";
    if (key && key !== day) node.before(make(dayLabel(node.dataset.at, now), key));
    day = key || day;
  }
}
