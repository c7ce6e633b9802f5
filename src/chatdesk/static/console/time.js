// Every date and time the console shows, in one format from the operator's locale
// (Intl with no locale given: the browser's language and time zone).
import { daysAgo, toDate } from "../shared/days.js";
import { h } from "./dom.js";

const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const TIME_SECONDS = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DAY_MONTH = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function format(formatter, value) {
  const date = toDate(value);
  return date ? formatter.format(date) : "";
}

/** "14:05" (or "2:05 PM"): a time of day. */
export const formatTime = (value) => format(TIME, value);
/** A time of day with seconds, where two events may fall in the same minute. */
export const formatTimeSeconds = (value) => format(TIME_SECONDS, value);
/** "3 Mar 2026": a day. */
export const formatDate = (value) => format(DATE, value);
/** "3 Mar 2026, 14:05": a day and a time. */
export const formatDateTime = (value) => format(DATE_TIME, value);

/** "Tue 14:05": the weekday and time it is in another time zone (a visitor's); "" if unknown. */
export function formatZoneTime(value, timeZone) {
  if (!timeZone) return "";
  try {
    const zoned = new Intl.DateTimeFormat(undefined, {
      timeZone,
      weekday: "short",
      hour: TIME.resolvedOptions().hour12 ? "numeric" : "2-digit",
      minute: "2-digit",
    });
    return format(zoned, value);
  } catch {
    return ""; // a zone this browser does not know
  }
}

/** "14:05" today, "3 Mar" earlier this year, the date before that. */
export function shortTime(value, now = new Date()) {
  const date = toDate(value);
  if (!date) return "";
  if (daysAgo(date, now) === 0) return TIME.format(date);
  return date.getFullYear() === now.getFullYear() ? DAY_MONTH.format(date) : DATE.format(date);
}

/** "now", "3 min. ago", "2 hr. ago", "yesterday", then the day: how long since ``value``. */
export function relativeTime(value, now = new Date()) {
  const date = toDate(value);
  if (!date) return "";
  const elapsed = Math.max(0, now - date);
  if (elapsed < MINUTE) return RELATIVE.format(0, "second");
  if (elapsed < HOUR) return RELATIVE.format(-Math.floor(elapsed / MINUTE), "minute");
  if (elapsed < 12 * HOUR || daysAgo(date, now) === 0)
    return RELATIVE.format(-Math.floor(elapsed / HOUR), "hour");
  const days = daysAgo(date, now);
  if (days < 7) return RELATIVE.format(-days, "day");
  return shortTime(date, now);
}

/**
 * A <time> with the full date and time in its title. ``relative``: "3 min. ago", kept fresh
 * by {@link refreshTimes}; otherwise {@link shortTime}, or ``text(value)`` when given.
 */
export function timeElement(value, className = "time", { relative = false, text } = {}) {
  const node = h("time", { class: className, datetime: value, title: formatDateTime(value) });
  if (relative) node.dataset.relative = "1";
  node.textContent = relative ? relativeTime(value) : text ? text(value) : shortTime(value);
  return node;
}

/** Bring every relative time under ``root`` up to date (run it every so often). */
export function refreshTimes(root = document, now = new Date()) {
  for (const node of root.querySelectorAll("time[data-relative]")) {
    const text = relativeTime(node.getAttribute("datetime"), now);
    if (node.textContent !== text) node.textContent = text;
  }
}
