// The visitor's conversations, newest first: each with its last words, its day, whether it
// is resolved and how many replies they have not read; "New conversation" above them.
// Loaded by the frame only when the visitor asks for the list (a first open pays nothing).
// Words come from the caller: {title, start, unread(count), resolved, file}.
import { el } from "./dom.js";

document.head.append(
  el("link", { rel: "stylesheet", href: new URL("./list.css", import.meta.url).href }),
);

function when(iso, locale) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date().toDateString() === date.toDateString();
  const format = today ? { timeStyle: "short" } : { dateStyle: "medium" };
  return new Intl.DateTimeFormat(locale, format).format(date);
}

// ``onPick(conversation)`` opens one; ``onNew()`` starts another; ``current``: the open one.
export function conversationList({ conversations, current, words, locale, onPick, onNew }) {
  const items = conversations.map((conversation) => {
    const unread = conversation.unread_count || 0;
    const preview = conversation.last_message?.preview || words.file;
    const button = el(
      "button",
      {
        type: "button",
        class: "conv",
        "aria-current": conversation.id === current ? "true" : false,
        onclick: () => onPick(conversation),
      },
      el("span", { class: "conv-text", text: preview }),
      el(
        "span",
        { class: "conv-meta" },
        el("span", { text: when(conversation.last_message_at || conversation.created_at, locale) }),
        conversation.status === "resolved" &&
          el("span", { class: "conv-resolved", text: words.resolved }),
        unread > 0 && el("span", { class: "conv-unread", text: words.unread(unread) }),
      ),
    );
    return el("li", {}, button);
  });
  return el(
    "section",
    { class: "convs", "aria-labelledby": "convs-title" },
    el("h2", { id: "convs-title", class: "convs-title", text: words.title }),
    el("button", { type: "button", class: "primary convs-new", text: words.start, onclick: onNew }),
    el("ul", { class: "convs-list" }, ...items),
  );
}
