// Choose a password with a reset or invitation link (/admin/reset?token=…):
// POST /api/v1/auth/password-reset/confirm, then on to the sign-in page. The token leaves
// the address bar at once (no history entry, no Referer keeps it).
import { api, handleSubmit } from "./api.js";

const form = document.getElementById("reset-form");
const error = document.getElementById("reset-error");
const done = document.getElementById("reset-done");
const button = document.getElementById("reset-submit");

const token = new URLSearchParams(location.search).get("token") || "";
history.replaceState(null, "", location.pathname);

if (!token) {
  form.hidden = true;
  done.classList.add("error");
  done.textContent =
    "This link is not complete: open the link from the email again, or ask for a new one.";
}

handleSubmit(form, async (event) => {
  event.preventDefault();
  error.textContent = "";
  const password = form.elements.password.value;
  const again = form.elements.again.value;
  if (password.length < 10) {
    error.textContent = "Use at least 10 characters.";
    form.elements.password.focus();
    return;
  }
  if (password !== again) {
    error.textContent = "The two passwords are not the same.";
    form.elements.again.focus();
    return;
  }
  button.disabled = true;
  button.textContent = "Saving…";
  try {
    await api(
      "POST",
      "/api/v1/auth/password-reset/confirm",
      { token, password },
      { redirectOn401: false },
    );
    form.hidden = true;
    done.textContent = "Your password is saved. Taking you to sign in…";
    setTimeout(() => location.assign("/admin/login"), 1500);
  } catch (failure) {
    if (failure.code === "token_invalid") {
      form.hidden = true;
      done.classList.add("error");
      done.textContent =
        "This link is no longer valid (it was used, replaced or expired). Ask for a new one.";
    } else {
      error.textContent =
        failure.status === 429 ? "Too many attempts: wait a while and try again." : failure.message;
    }
  } finally {
    button.disabled = false;
    button.textContent = "Save the password";
  }
});
