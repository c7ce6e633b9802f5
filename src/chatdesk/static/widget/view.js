// DOM for the frame. Text goes in with textContent / createElement only, never innerHTML.
import { renderDays } from "../shared/days.js";
import { el } from "./dom.js";
import { formatLocale, t } from "./i18n.js";

// The visitor's language (the widget's locale) and time zone.
let TIME = null;

function time(iso) {
  const date = new Date(iso);
  TIME ||= new Intl.DateTimeFormat(formatLocale(), { timeStyle: "short" });
  return iso && !Number.isNaN(date.getTime()) ? TIME.format(date) : "";
}

const PAPERCLIP =
  "M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48";

// A message's files, drawn once their module is there (loaded for the first message
// that has any: most chats never need it).
function files(attachments) {
  const node = el("div", { class: "files" });
  import("../shared/attachments.js").then(
    (module) =>
      node.replaceChildren(
        module.attachmentList(attachments, {
          locale: formatLocale(),
          box: 200,
          words: {
            image: (name) => t("open_file", { name }),
            download: (name, size) => t("download_file", { name, size }),
            close: t("close_image"),
          },
        }),
      ),
    () => {},
  );
  return node;
}

// How messages read (links, **bold**…): loaded when the chat view is made, not for a
// first open that shows the pre-chat form. Until it is there a message is plain text.
let text = null;
let loadingText = null;

function loadText() {
  loadingText ||= import("../shared/message-text.js").then((module) => {
    text = module;
    return module;
  });
  return loadingText;
}

// A message's text; one that may hold an address is drawn again once links can be.
function bubbleText(body) {
  const node = el("div", { class: "bubble" }, text ? text.messageText(body) : body);
  const draw = (module) => {
    node.replaceChildren(module.messageText(body));
    if (module.awaitsLinks(body))
      module.loadLinks().then(
        () => node.replaceChildren(module.messageText(body)),
        () => {}, // stays plain text
      );
  };
  if (text) {
    if (text.awaitsLinks(body)) draw(text);
  } else loadText().then(draw, () => {});
  return node;
}

function field(name, label, mode, type, value) {
  const id = `f-${name}`;
  const optional =
    mode === "optional" ? el("span", { class: "optional", text: ` ${t("optional")}` }) : null;
  const attrs = {
    id,
    name,
    type,
    autocomplete: name,
    value: value || "",
    required: mode === "required",
  };
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, label, optional),
    el("input", attrs),
  );
}

// The pre-chat form (name / email as the site asks) or, when away, the leave-a-message form.
// Away, the email is required only when chatdesk can send email (a reply by email is
// promised then); otherwise the site's own pre-chat choice holds.
export function prechatForm({
  greeting,
  prechat,
  offline,
  offlineMessage,
  emailEnabled,
  profile,
  onSubmit,
}) {
  const error = el("p", { class: "error", role: "alert" });
  const parts = [el("p", { class: "greeting", text: offline ? offlineMessage : greeting })];
  const nameMode = prechat.name;
  const emailMode = offline && emailEnabled ? "required" : prechat.email;
  if (nameMode !== "off") parts.push(field("name", t("name"), nameMode, "text", profile.name));
  if (emailMode !== "off")
    parts.push(field("email", t("email"), emailMode, "email", profile.email));
  if (offline) {
    parts.push(
      el(
        "div",
        { class: "field" },
        el("label", { for: "f-message", text: t("message") }),
        el("textarea", {
          id: "f-message",
          name: "message",
          rows: "4",
          required: true,
          maxlength: "10000",
        }),
      ),
    );
  }
  const button = el("button", {
    type: "submit",
    class: "primary",
    text: t(offline ? "send_message" : "start_chat"),
  });
  const form = el("form", { class: "prechat", novalidate: true }, ...parts, error, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    for (const key of Object.keys(values)) values[key] = values[key].trim();
    const problem = checkForm(form, values);
    error.textContent = problem;
    if (problem) return;
    button.disabled = true;
    try {
      await onSubmit(values);
    } catch (failure) {
      error.textContent = failure.message || t("something_wrong");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function checkForm(form, values) {
  for (const input of form.querySelectorAll("[required]")) {
    if (!values[input.name]) {
      input.focus();
      return t(`fill_in_${input.name}`);
    }
  }
  if (values.email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(values.email)) {
    form.querySelector("[name=email]").focus();
    return t("invalid_email");
  }
  return "";
}

// "Email me the transcript": a button under the conversation; asks for an address first
// when the visitor gave none (onTranscript(email) resolves to the confirmation text).
function transcriptBar(onTranscript, hasEmail) {
  const status = el("p", { class: "transcript-status", role: "status", "aria-live": "polite" });
  const input = el("input", {
    id: "transcript-email",
    type: "email",
    autocomplete: "email",
    required: true,
  });
  const ask = el(
    "form",
    { class: "transcript-ask", hidden: true, novalidate: true },
    el("label", { for: "transcript-email", text: t("your_email") }),
    input,
    el("button", { type: "submit", class: "primary", text: t("send_transcript") }),
  );
  const button = el("button", {
    type: "button",
    class: "link-button",
    id: "transcript",
    text: t("email_transcript"),
  });
  async function send(email) {
    button.disabled = true;
    status.textContent = t("sending");
    try {
      status.textContent = await onTranscript(email);
      ask.hidden = true;
    } catch (failure) {
      status.textContent = failure.message || t("failed");
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("click", () => {
    if (hasEmail()) return send(null);
    ask.hidden = false;
    status.textContent = t("where_send");
    input.focus();
  });
  ask.addEventListener("submit", (event) => {
    event.preventDefault();
    const email = input.value.trim();
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      status.textContent = t("invalid_email");
      input.focus();
      return;
    }
    send(email);
  });
  return el("div", { class: "transcript" }, button, ask, status);
}

export function chatView({
  greeting,
  onSend,
  onTyping,
  onRetry,
  onTranscript,
  hasEmail,
  onFiles,
  filesPending,
}) {
  loadText().catch(() => {});
  const list = el("div", {
    class: "messages",
    id: "messages",
    tabindex: "0",
    "aria-label": t("conversation"),
  });
  const confirmed = el("div", { class: "confirmed" });
  const pending = el("div", { class: "pending" });
  const note = el("p", { class: "note", hidden: true });
  list.append(el("p", { class: "greeting", text: greeting }), confirmed, pending, note);
  const typing = el("p", { class: "typing", id: "typing", hidden: true });
  const live = el("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "false" });
  const input = el("textarea", {
    id: "composer-input",
    rows: "1",
    maxlength: "10000",
    placeholder: t("placeholder"),
    "aria-label": t("message"),
  });
  const send = el("button", { type: "submit", class: "send", "aria-label": t("send") });
  send.append(svg("M3 20.5 21 12 3 3.5v6.6l12.6 1.9L3 13.9z"));
  // Files: the paperclip, a drop on the chat, a pasted screenshot (frame.js uploads them).
  const picker = el("input", { type: "file", multiple: true, hidden: true, tabindex: "-1" });
  const attach = el("button", { type: "button", class: "attach", "aria-label": t("attach") });
  attach.title = attach.getAttribute("aria-label");
  picker.setAttribute("aria-label", attach.title);
  attach.append(svg(PAPERCLIP));
  attach.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    onFiles([...picker.files]);
    picker.value = "";
  });
  const uploadList = el("ul", { class: "uploads", "aria-label": t("files_to_send"), hidden: true });
  const composer = el("form", { class: "composer" }, attach, input, send, picker);
  const byId = new Map();
  let typingTimer = null;
  // "Today" becomes "Yesterday" at midnight while the chat stays open.
  setInterval(() => renderDays(confirmed, daySeparator), 60_000);

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body && !filesPending()) return;
    input.value = "";
    resize();
    onSend(body);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    onFiles(files); // a screenshot
  });
  input.addEventListener("input", () => {
    resize();
    if (input.value.trim()) onTyping();
  });
  function resize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
  }
  function scroll() {
    list.scrollTop = list.scrollHeight;
  }

  function bubble(message, mine) {
    const who = mine ? t("you") : message.author.name || t("support");
    return el(
      "div",
      {
        class: `msg ${mine ? "me" : "them"}`,
        "data-id": message.id || "",
        "data-client-id": message.client_msg_id || "",
      },
      el("span", { class: "sr-only", text: `${who}: ` }),
      message.author.type === "operator" && message.author.id
        ? el("img", {
            class: "face",
            src: `/avatars/${encodeURIComponent(message.author.id)}`,
            alt: "",
          })
        : null,
      message.body || !message.attachments?.length ? bubbleText(message.body) : null,
      message.attachments?.length ? files(message.attachments) : null,
      el("div", {
        class: "meta",
        text: mine ? time(message.created_at) : `${who} · ${time(message.created_at)}`,
      }),
    );
  }

  const extra = onTranscript ? transcriptBar(onTranscript, hasEmail) : null;
  const element = el(
    "div",
    { class: "chat-view" },
    list,
    typing,
    extra,
    uploadList,
    composer,
    live,
  );
  acceptDrops(element, onFiles);
  return {
    element,
    uploadList,
    input,
    has: (id) => byId.has(id),
    // Adds a stored message once (by id), in created_at order; a pending twin is replaced.
    add(message, { announce = false } = {}) {
      if (byId.has(message.id)) return false;
      const twin =
        message.client_msg_id &&
        pending.querySelector(`[data-client-id="${CSS.escape(message.client_msg_id)}"]`);
      if (twin) twin.remove();
      const mine = message.author.type === "visitor";
      const node = bubble(message, mine);
      node.dataset.at = message.created_at;
      let before = null;
      for (
        let sibling = confirmed.lastElementChild;
        sibling;
        sibling = sibling.previousElementSibling
      ) {
        if (!sibling.dataset.at) continue; // a day separator: renderDays puts it right
        if (sibling.dataset.at <= message.created_at) break;
        before = sibling;
      }
      confirmed.insertBefore(node, before);
      byId.set(message.id, node);
      renderDays(confirmed, daySeparator);
      if (!mine) {
        typing.hidden = true;
        if (announce)
          live.textContent = t("says", {
            name: message.author.name || t("support"),
            text: message.body,
          });
      }
      scroll();
      return true;
    },
    // A message not yet stored: shown with its state, and a Retry button once it failed.
    showPending(item, failedReason) {
      if (confirmed.querySelector(`[data-client-id="${CSS.escape(item.client_msg_id)}"]`)) return;
      let node = pending.querySelector(`[data-client-id="${CSS.escape(item.client_msg_id)}"]`);
      if (!node) {
        node = bubble(
          {
            body: item.body,
            attachments: item.attachments,
            client_msg_id: item.client_msg_id,
            author: { type: "visitor" },
            created_at: null,
          },
          true,
        );
        pending.append(node);
      }
      const meta = node.querySelector(".meta");
      meta.textContent = failedReason ? `${t("not_sent")} ` : t("sending");
      node.classList.toggle("failed", Boolean(failedReason));
      if (failedReason) {
        meta.append(
          el("button", { type: "button", class: "retry", text: t("retry"), onclick: onRetry }),
        );
        node.title = failedReason;
      }
      scroll();
    },
    // "Seen" under the visitor's last message the team has read (up to message ``upTo``).
    seen(upTo) {
      for (const old of confirmed.querySelectorAll(".seen")) old.remove();
      if (!upTo) return;
      const read = [...confirmed.querySelectorAll(".msg.me")].filter(
        (node) => node.dataset.id && node.dataset.id <= upTo,
      );
      const last = read.pop();
      if (last) last.append(el("div", { class: "seen", text: t("seen") }));
    },
    dropPending(clientMsgId) {
      const node = pending.querySelector(`[data-client-id="${CSS.escape(clientMsgId)}"]`);
      if (node) node.remove();
    },
    typing(name) {
      typing.textContent = t("typing", { name: name || t("support") });
      typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => (typing.hidden = true), 6000);
    },
    note(text) {
      note.textContent = text;
      note.hidden = !text;
    },
    clear() {
      confirmed.replaceChildren();
      byId.clear();
    },
  };
}

/** Files dropped anywhere on the chat go up as if picked with the paperclip. */
function acceptDrops(zone, onFiles) {
  zone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    zone.classList.add("dropping");
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("dropping");
  });
  zone.addEventListener("drop", (event) => {
    zone.classList.remove("dropping");
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    onFiles([...event.dataTransfer.files]);
  });
}

function daySeparator(label, key) {
  const node = el("div", { class: "day-separator", role: "separator", "aria-label": label });
  node.dataset.day = key;
  node.append(el("span", { text: label }));
  return node;
}

export function svg(d) {
  const ns = "http://www.w3.org/2000/svg";
  const node = document.createElementNS(ns, "svg");
  node.setAttribute("viewBox", "0 0 24 24");
  node.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  node.append(path);
  return node;
}
