// The account page: change your own password (POST /api/v1/auth/password).
import { api } from "./api.js";
import "./chrome.js";

const MIN_LENGTH = 10;
const form = document.getElementById("password-form");
const error = document.getElementById("password-error");
const statusLine = document.getElementById("password-status");
const button = form.querySelector('button[type="submit"]');
const fields = {
  current: form.elements.current_password,
  next: form.elements.new_password,
  confirm: form.elements.confirm_password,
};

function fail(text, field) {
  error.textContent = text;
  for (const input of Object.values(fields)) input.removeAttribute("aria-invalid");
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

function reset() {
  error.textContent = "";
  statusLine.textContent = "";
  for (const input of Object.values(fields)) input.removeAttribute("aria-invalid");
}

/** The server's refusal in words a person can act on. */
function explain(failure) {
  if (failure.status === 403)
    return ["The current password is wrong. Nothing was changed.", fields.current];
  if (failure.status === 422) {
    const about = (failure.details || []).map((d) => (d.loc || []).join(".")).join(" ");
    if (about.includes("current_password")) return ["Enter your current password.", fields.current];
    return [
      `The new password must be at least ${MIN_LENGTH} characters long. Nothing was changed.`,
      fields.next,
    ];
  }
  return [failure.message, null];
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  reset();
  const current = fields.current.value;
  const next = fields.next.value;
  if (!current) return fail("Enter your current password.", fields.current);
  if (next.length < MIN_LENGTH) {
    return fail(
      `The new password must be at least ${MIN_LENGTH} characters long (it has ${next.length}).`,
      fields.next,
    );
  }
  if (next !== fields.confirm.value)
    return fail("The two new passwords do not match.", fields.confirm);
  button.disabled = true;
  button.textContent = "Changing…";
  try {
    await api("POST", "/api/v1/auth/password", { current_password: current, new_password: next });
    form.reset();
    statusLine.textContent = "Password changed. Your other sessions were signed out.";
    document.getElementById("first-run-hint")?.setAttribute("hidden", "");
  } catch (failure) {
    const [text, field] = explain(failure);
    if (field === fields.current) fields.current.value = "";
    fail(text, field);
  } finally {
    button.disabled = false;
    button.textContent = "Change password";
  }
});

// Email notifications (PATCH /api/v1/auth/me).
const notify = {
  form: document.getElementById("notify-form"),
  unanswered: document.getElementById("notify-unanswered"),
  minutes: document.getElementById("notify-minutes"),
  mentions: document.getElementById("notify-mentions"),
  error: document.getElementById("notify-error"),
  status: document.getElementById("notify-status"),
  save: document.getElementById("notify-save"),
};

function showNotifications(operator) {
  const chosen = operator.notifications || { unanswered_minutes: null, mentions: true };
  notify.unanswered.checked = chosen.unanswered_minutes !== null;
  if (chosen.unanswered_minutes !== null) notify.minutes.value = String(chosen.unanswered_minutes);
  notify.mentions.checked = chosen.mentions;
  notify.minutes.disabled = !notify.unanswered.checked;
}

notify.unanswered.addEventListener("change", () => {
  notify.minutes.disabled = !notify.unanswered.checked;
});

notify.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  notify.error.textContent = "";
  notify.status.textContent = "";
  notify.minutes.removeAttribute("aria-invalid");
  const minutes = Number(notify.minutes.value);
  if (
    notify.unanswered.checked &&
    !(Number.isInteger(minutes) && minutes >= 1 && minutes <= 1440)
  ) {
    notify.error.textContent = "Enter a number of minutes from 1 to 1440.";
    notify.minutes.setAttribute("aria-invalid", "true");
    notify.minutes.focus();
    return;
  }
  notify.save.disabled = true;
  try {
    const { operator } = await api("PATCH", "/api/v1/auth/me", {
      notify_unanswered_minutes: notify.unanswered.checked ? minutes : null,
      notify_mentions: notify.mentions.checked,
    });
    showNotifications(operator);
    notify.status.textContent = "Notifications saved.";
  } catch (failure) {
    notify.error.textContent = failure.message;
  } finally {
    notify.save.disabled = false;
  }
});

api("GET", "/api/v1/auth/me")
  .then(({ operator }) => showNotifications(operator))
  .catch((failure) => {
    notify.error.textContent = failure.message;
  })
  .finally(() => {
    document.body.dataset.ready = "1";
  });
