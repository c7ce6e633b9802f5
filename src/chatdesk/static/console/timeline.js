// Timeline entries: who assigned, resolved, snoozed or labelled a conversation, told as a
// quiet centred line between the messages (operators only; the API never sends them to
// visitors). Built from the entry's kind and data, never from HTML.
import { h } from "./dom.js";
import { operatorName, state } from "./state.js";
import { formatDateTime, formatTime } from "./time.js";

const STATUS_WORDS = {
  open: "Reopened",
  pending: "Marked pending",
  resolved: "Resolved",
};

/** Who made the change, in words: "You", the teammate's or bot's name; "" for chatdesk. */
function who(by) {
  if (!by || by.type === "system") return "";
  if (by.type === "operator") return by.id === state.me.id ? "You" : by.name || operatorName(by.id);
  return by.name || "A bot";
}

function named(person) {
  if (!person) return "nobody";
  if (person.id === state.me.id) return "you";
  return person.name || operatorName(person.id);
}

/** A visitor's rating in words: "Rated 4/5 — 'Quick and kind'" (no comment: "Rated 4/5"). */
export function ratingText(rating) {
  if (!rating) return "";
  const words = `Rated ${rating.score}/5`;
  return rating.comment ? `${words} — '${rating.comment}'` : words;
}

/** The sentence an entry shows, e.g. "Ana assigned this to Ben", "Resolved by Ana". */
export function timelineText(message) {
  const data = message.data || {};
  const by = who(data.by);
  switch (message.kind) {
    case "assigned": {
      const self = data.assignee && data.by && data.assignee.id === data.by.id;
      if (self) return `${by} took this conversation`;
      return `${by || "chatdesk"} assigned this to ${named(data.assignee)}`;
    }
    case "unassigned":
      return `${by || "chatdesk"} unassigned ${named(data.previous)}`;
    case "status": {
      const words = STATUS_WORDS[data.status] || `Marked ${data.status}`;
      return by ? `${words} by ${by}` : words;
    }
    case "snoozed": {
      const until = `Snoozed until ${formatDateTime(data.until)}`;
      return by ? `${until} by ${by}` : until;
    }
    case "woke":
      return data.reason === "visitor"
        ? "Snooze ended: the visitor wrote"
        : "Snooze ended: back in the inbox";
    case "labels": {
      const parts = [];
      if (data.added?.length)
        parts.push(`added ${data.added.length > 1 ? "labels" : "label"} ${data.added.join(", ")}`);
      if (data.removed?.length)
        parts.push(
          `removed ${data.removed.length > 1 ? "labels" : "label"} ${data.removed.join(", ")}`,
        );
      return `${by || "chatdesk"} ${parts.join(" and ") || "changed the labels"}`;
    }
    case "rated": {
      const words = ratingText(data);
      return data.by?.name ? `${data.by.name}: ${words}` : `The visitor: ${words}`;
    }
    default:
      return "The conversation changed";
  }
}

/** The entry as a list item of the transcript (not an ``li.msg``: it is no message). */
export function timelineEntry(message) {
  const at = message.created_at;
  return h(
    "li",
    {
      class: `timeline timeline-${message.kind}`,
      dataset: { id: message.id, at },
    },
    h("span", { class: "timeline-text", text: timelineText(message) }),
    h("time", {
      class: "timeline-time",
      datetime: at,
      title: formatDateTime(at),
      text: formatTime(at),
    }),
  );
}
