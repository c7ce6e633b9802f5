// The account page: your name, your password (POST /api/v1/auth/password), two-factor
// authentication (totp.js) and your email notifications (PATCH /api/v1/auth/me).
import { ApiError, api, csrfHeader, handleSubmit } from "./api.js";
import "./chrome.js";
import { showPasskeys } from "./passkeys.js";
import { followPresence } from "./presence.js";
import { showSessions } from "./sessions.js";
import { showTotp } from "./totp.js";

// Signed in with a temporary password (an admin reset it): only the password form is
// here, and nothing else of the console answers until a new one is chosen.
const mustChange = Boolean(document.querySelector("[data-must-change]"));
// An owner requires two-factor sign-in and this operator has none yet: only its set-up
// is here, and the console opens once it is on.
const totpRequired = Boolean(document.querySelector("[data-totp-required]"));
if (!mustChange && !totpRequired) {
  followPresence(); // an operator on this page is at the console too
  showSessions();
  showPasskeys();
}
document.getElementById("totp-saved")?.addEventListener("click", () => {
  if (totpRequired) location.assign("/admin");
});

// Your name (PATCH /api/v1/auth/me): what colleagues and visitors see.
const NAME_MAX = 100;
const nameForm = document.getElementById("name-form");
const nameInput = document.getElementById("account-name-input");
const nameError = document.getElementById("name-error");
const nameStatus = document.getElementById("name-status");
const nameSave = document.getElementById("name-save");

function showName(name) {
  nameInput.value = name;
  document.body.dataset.operatorName = name;
  for (const id of ["menu-name", "menu-who-name"]) {
    const node = document.getElementById(id);
    if (node) node.textContent = name;
  }
  const avatar = document.getElementById("menu-avatar");
  if (avatar) avatar.textContent = name.slice(0, 1).toUpperCase();
}

function nameFails(text) {
  nameError.textContent = text;
  nameInput.setAttribute("aria-invalid", "true");
  nameInput.focus();
}

handleSubmit(nameForm, async (event) => {
  event.preventDefault();
  nameError.textContent = "";
  nameStatus.textContent = "";
  nameInput.removeAttribute("aria-invalid");
  const name = nameInput.value.trim();
  if (!name) return nameFails("Enter your name: colleagues and visitors see it.");
  if (name.length > NAME_MAX)
    return nameFails(`Your name can be at most ${NAME_MAX} characters (it has ${name.length}).`);
  nameSave.disabled = true;
  try {
    const { operator } = await api("PATCH", "/api/v1/auth/me", { name });
    showName(operator.name);
    nameStatus.textContent = "Name saved.";
  } catch (failure) {
    nameFails(
      failure.status === 422
        ? `Your name must be 1 to ${NAME_MAX} characters. Nothing was changed.`
        : failure.message,
    );
  } finally {
    nameSave.disabled = false;
  }
});

// Your picture (PUT/DELETE /api/v1/auth/me/avatar): a preview of what visitors see.
const AVATAR_MAX = 2 * 1024 * 1024;
const avatar = {
  preview: document.getElementById("avatar-preview"),
  file: document.getElementById("avatar-file"),
  remove: document.getElementById("avatar-remove"),
  error: document.getElementById("avatar-error"),
  status: document.getElementById("avatar-status"),
};

function showAvatar(operator) {
  if (!avatar.preview) return;
  avatar.preview.src = operator.avatar_url;
  avatar.preview.hidden = false;
  avatar.remove.hidden = !operator.avatar_uploaded;
}

async function sendAvatar(method, file) {
  let body;
  if (file) {
    body = new FormData();
    body.append("file", file);
  }
  const response = await fetch("/api/v1/auth/me/avatar", {
    method,
    body,
    headers: { Accept: "application/json", ...csrfHeader() },
    credentials: "same-origin",
  }).catch(() => {
    throw new ApiError(0, "network_error", "Cannot reach the server. Check your connection.");
  });
  const data = await response.json().catch(() => null);
  if (response.status === 413) throw new ApiError(413, "", "The picture is larger than 2 MB.");
  if (!response.ok)
    throw new ApiError(response.status, "", data?.error?.message || `Error ${response.status}`);
  return data.operator;
}

async function changeAvatar(method, file, done) {
  avatar.error.textContent = "";
  avatar.status.textContent = "";
  avatar.file.removeAttribute("aria-invalid");
  avatar.file.disabled = avatar.remove.disabled = true;
  try {
    showAvatar(await sendAvatar(method, file));
    avatar.status.textContent = done;
  } catch (failure) {
    avatar.error.textContent = `${failure.message} Your picture was not changed.`;
    avatar.file.setAttribute("aria-invalid", "true");
  } finally {
    avatar.file.disabled = avatar.remove.disabled = false;
    avatar.file.value = "";
  }
}

avatar.file?.addEventListener("change", () => {
  const file = avatar.file.files[0];
  if (!file) return;
  if (file.size > AVATAR_MAX) {
    avatar.error.textContent = "The picture is larger than 2 MB. Your picture was not changed.";
    avatar.file.value = "";
    return;
  }
  changeAvatar("PUT", file, "Picture saved.");
});
avatar.remove?.addEventListener("click", () => {
  changeAvatar("DELETE", null, "Picture removed: your initials show instead.");
  avatar.file.focus();
});

const MIN_LENGTH = 10;
const form = document.getElementById("password-form");
const error = document.getElementById("password-error");
const statusLine = document.getElementById("password-status");
// Not on the page while an owner's two-factor rule holds this operator back.
const button = form?.querySelector('button[type="submit"]');
const fields = {
  current: form?.elements.current_password,
  next: form?.elements.new_password,
  confirm: form?.elements.confirm_password,
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

handleSubmit(form, async (event) => {
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
    if (mustChange) {
      statusLine.textContent = "Password changed. Opening your inbox…";
      location.assign("/admin");
      return;
    }
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

notify.unanswered?.addEventListener("change", () => {
  notify.minutes.disabled = !notify.unanswered.checked;
});

handleSubmit(
  notify.form,
  async (event) => {
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
  },
  // Enabled once the saved choices are shown: saving before would overwrite them.
  { enableNow: false },
);

api("GET", "/api/v1/auth/me")
  .then(({ operator }) => {
    if (notify.form) {
      showNotifications(operator);
      notify.save.disabled = false;
    }
    showAvatar(operator);
    showTotp(Boolean(operator.totp_enabled));
  })
  .catch((failure) => {
    if (notify.error) notify.error.textContent = failure.message;
  })
  .finally(() => {
    document.body.dataset.ready = "1";
  });
