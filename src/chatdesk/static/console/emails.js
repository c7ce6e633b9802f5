// Settings: the emails chatdesk could not send (or is still sending, or sent), and sending a
// failed one again. Recipient and subject are what the email would carry now (docs/api.md).
import { api, query } from "./api.js";
import { clear, h } from "./dom.js";
import { field, select } from "./forms.js";
import { attempt, card, root, say } from "./section.js";
import { formatDateTime, timeElement } from "./time.js";

const KINDS = new Map([
  ["replies", "Reply notification"],
  ["transcript", "Transcript"],
  ["offline_ack", "Offline acknowledgement"],
  ["unanswered", "Unanswered conversation alert"],
  ["mention", "Mention notification"],
]);
const STATES = [
  ["failed", "Failed"],
  ["pending", "Pending"],
  ["delivered", "Sent"],
];
const EMPTY = {
  failed: "No failed emails: every email chatdesk tried to send went out or is still being tried.",
  pending: "No emails waiting to be sent.",
  delivered: "No emails sent yet.",
};
// When each state's time is, and what it is called.
const WHEN = {
  failed: ["updated_at", "Failed"],
  pending: ["next_attempt_at", "Next try"],
  delivered: ["delivered_at", "Sent"],
};
const LIMIT = 100;

export const kindInWords = (kind) => KINDS.get(kind) || kind;
const labelOf = (status) => STATES.find(([value]) => value === status)[1];

function cell(label, ...children) {
  return h("td", { "data-label": label }, h("div", { class: "email-cell" }, ...children));
}

function reasonOf(email) {
  if (email.status === "delivered") return h("span", { class: "muted", text: "—" });
  if (!email.last_error)
    return h("span", { class: "muted", text: email.attempts ? "Not known" : "Not tried yet" });
  const prefix = email.status === "pending" ? "Last try: " : "";
  return h("span", { class: "email-reason", text: prefix + email.last_error });
}

function recipientOf(email) {
  if (email.to) return h("span", { class: "email-to" }, "To ", h("span", { text: email.to }));
  return h("span", {
    class: "muted",
    text: "To an unknown recipient (the conversation or operator is gone)",
  });
}

function whenOf(email) {
  const [key] = WHEN[email.status];
  const value = email[key] || email.updated_at;
  return timeElement(value, "time", { text: formatDateTime });
}

function emailRow(email, { canSend, noEmailHint, reload }) {
  const kind = kindInWords(email.kind);
  const what = h(
    "div",
    { class: "email-what" },
    h("strong", { text: kind }),
    recipientOf(email),
    email.subject ? h("span", { class: "muted email-subject", text: email.subject }) : null,
    email.conversation_id
      ? h("a", {
          href: `/admin/conversations/${encodeURIComponent(email.conversation_id)}`,
          text: "Open conversation",
          "aria-label": `Open the conversation of the ${kind.toLowerCase()} to ${email.to || "an unknown recipient"}`,
        })
      : null,
  );
  let action = null;
  if (email.status === "failed") {
    action = h("button", {
      type: "button",
      class: "button small-button",
      text: "Send again",
      "aria-label": `Send again: ${kind} to ${email.to || "an unknown recipient"}`,
      disabled: !canSend,
      "aria-describedby": canSend ? null : noEmailHint,
    });
    action.addEventListener("click", async () => {
      action.disabled = true;
      const sent = await attempt(
        () => api("POST", `/api/v1/emails/${encodeURIComponent(email.id)}/resend`),
        `The ${kind.toLowerCase()} to ${email.to || "its recipient"} is being sent again.`,
      );
      if (sent) await reload({ keepStatus: true });
      else action.disabled = false;
    });
  }
  return h(
    "tr",
    { dataset: { id: email.id, status: email.status } },
    cell("Email", what),
    cell("Reason", reasonOf(email)),
    cell("Attempts", h("span", { class: "email-attempts", text: String(email.attempts) })),
    cell(WHEN[email.status][1], whenOf(email)),
    action ? cell("", action) : h("td", { class: "email-no-action" }),
  );
}

function table(status, emails, options) {
  const label = labelOf(status);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "table email-table", "aria-label": `${label} emails` },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Email", "Reason", "Attempts", WHEN[status][1], ""].map((text) =>
            h("th", { scope: "col", text }),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        emails.map((email) => emailRow(email, options)),
      ),
    ),
  );
}

function notConfigured(id) {
  return h(
    "div",
    { class: "card email-off", id, role: "note" },
    h("h3", { text: "Email is not configured" }),
    h("p", {
      text:
        "chatdesk sends no email: no SMTP server is set (CHATDESK_SMTP_URL). Visitors are " +
        "not offered transcripts or replies by email, and operators get no notifications. " +
        "Emails that failed before are listed here; they can be sent again once an SMTP " +
        "server is set.",
    }),
  );
}

function wantedStatus() {
  const wanted = new URLSearchParams(location.search).get("status");
  return STATES.some(([value]) => value === wanted) ? wanted : "failed";
}

export async function renderEmails() {
  const show = select(STATES, wantedStatus(), { name: "status" });
  const refresh = h("button", {
    type: "button",
    class: "button",
    text: "Refresh",
    "aria-label": "Refresh the list of emails",
  });
  const list = h("div", { class: "email-list", "aria-live": "polite" });
  const noEmailHint = "emails-off";
  let shownOff = false;

  async function reload({ keepStatus = false } = {}) {
    const status = show.value;
    list.setAttribute("aria-busy", "true");
    const { emails, email_enabled: enabled } = await api(
      "GET",
      `/api/v1/emails${query({ status, limit: LIMIT })}`,
    );
    list.removeAttribute("aria-busy");
    if (!enabled && !shownOff) {
      root.prepend(notConfigured(noEmailHint));
      shownOff = true;
    }
    if (!keepStatus) say("");
    heading.textContent = `${labelOf(status)} emails`;
    clear(list);
    if (!emails.length) {
      list.appendChild(h("p", { class: "muted", text: EMPTY[status] }));
      return true;
    }
    const more = emails.length >= LIMIT ? ` (the newest ${LIMIT})` : "";
    list.appendChild(
      h("p", {
        class: "muted small",
        text: `${emails.length} ${labelOf(status).toLowerCase()}${more}, newest first.`,
      }),
    );
    list.appendChild(table(status, emails, { canSend: enabled, noEmailHint, reload }));
    return true;
  }

  show.addEventListener("change", async () => {
    const url = new URL(location.href);
    if (show.value === "failed") url.searchParams.delete("status");
    else url.searchParams.set("status", show.value);
    history.replaceState(null, "", url);
    await attempt(reload);
  });
  refresh.addEventListener("click", () => attempt(reload));

  clear(root);
  const box = card(
    "Failed emails",
    h("p", {
      class: "muted small",
      text:
        "Transcripts, replies by email and operator notifications that chatdesk sends. " +
        "An email fails when the mail server refuses it or cannot be reached after every retry.",
    }),
    h("div", { class: "email-filters" }, field("Show", show), refresh),
    list,
  );
  const heading = box.querySelector("h3");
  root.appendChild(box);
  await reload();
}
