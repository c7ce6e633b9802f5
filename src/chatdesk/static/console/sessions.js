// Account → Signed-in devices (GET/DELETE /api/v1/auth/sessions): this operator's live
// sessions, signing one out or every other one; and, for owners, the sign-in rule for
// everyone (GET/PATCH /api/v1/security-policy).
import { api } from "./api.js";
import { h } from "./dom.js";
import { formatDateTime } from "./time.js";

const $ = (id) => document.getElementById(id);
const ui = {
  rows: $("sessions-rows"),
  error: $("sessions-error"),
  status: $("sessions-status"),
  endOthers: $("sessions-end-others"),
  requireTotp: $("policy-require-totp"),
  policyError: $("policy-error"),
  policyStatus: $("policy-status"),
};

function row(session) {
  const end = h("button", {
    type: "button",
    class: "button small",
    text: "Sign out",
    "aria-label": `Sign out ${session.device}${session.current ? " (this device)" : ""}`,
    onclick: () => endOne(session),
  });
  return h(
    "tr",
    { dataset: { sessionId: session.id } },
    h(
      "td",
      { "data-label": "Browser", title: session.user_agent || "" },
      h(
        "span",
        {},
        session.device,
        session.current ? h("span", { class: "pill", text: "This device" }) : null,
      ),
    ),
    h("td", { "data-label": "IP address", text: session.ip || "—" }),
    h("td", { "data-label": "Signed in", text: formatDateTime(session.signed_in_at) }),
    h("td", { "data-label": "Last seen", text: formatDateTime(session.last_seen_at) }),
    h("td", { class: "session-actions" }, end),
  );
}

async function load() {
  if (!ui.rows) return;
  try {
    const { sessions } = await api("GET", "/api/v1/auth/sessions");
    ui.rows.replaceChildren(...sessions.map(row));
    ui.endOthers.disabled = sessions.every((session) => session.current);
  } catch (failure) {
    ui.error.textContent = failure.message;
  }
}

async function endOne(session) {
  ui.error.textContent = "";
  try {
    await api("DELETE", `/api/v1/auth/sessions/${encodeURIComponent(session.id)}`);
    if (session.current) {
      location.assign("/admin/login");
      return;
    }
    ui.status.textContent = `${session.device} was signed out.`;
    await load();
  } catch (failure) {
    ui.error.textContent = failure.message;
  }
}

ui.endOthers?.addEventListener("click", async () => {
  ui.error.textContent = "";
  ui.endOthers.disabled = true;
  try {
    await api("DELETE", "/api/v1/auth/sessions");
    ui.status.textContent = "Every other device was signed out.";
    await load();
  } catch (failure) {
    ui.error.textContent = failure.message;
    ui.endOthers.disabled = false;
  }
});

ui.requireTotp?.addEventListener("change", async () => {
  ui.policyError.textContent = "";
  ui.policyStatus.textContent = "";
  const wanted = ui.requireTotp.checked;
  try {
    const policy = await api("PATCH", "/api/v1/security-policy", { require_totp: wanted });
    ui.requireTotp.checked = policy.require_totp;
    ui.policyStatus.textContent = policy.require_totp
      ? "Two-factor authentication is now required for every operator."
      : "Two-factor authentication is no longer required.";
  } catch (failure) {
    ui.requireTotp.checked = !wanted;
    ui.policyError.textContent = failure.message;
  }
});

/** Fills the devices table (and the owners' sign-in rule). */
export async function showSessions() {
  await load();
  if (ui.requireTotp) {
    try {
      ui.requireTotp.checked = (await api("GET", "/api/v1/security-policy")).require_totp;
      // Rendered disabled: a change made before the saved rule arrived would be undone.
      ui.requireTotp.disabled = false;
    } catch (failure) {
      ui.policyError.textContent = failure.message;
    }
  }
}
