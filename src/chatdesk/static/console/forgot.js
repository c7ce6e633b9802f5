// "Forgot your password?": POST /api/v1/auth/password-reset. The answer is the same for
// every address, so the page says the same too.
import { api, handleSubmit } from "./api.js";

const form = document.getElementById("forgot-form");
const error = document.getElementById("forgot-error");
const sent = document.getElementById("forgot-sent");
const button = document.getElementById("forgot-submit");

handleSubmit(form, async (event) => {
  event.preventDefault();
  error.textContent = "";
  sent.textContent = "";
  const email = form.elements.email.value.trim();
  if (!email) {
    error.textContent = "Enter your email.";
    form.elements.email.focus();
    return;
  }
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    await api("POST", "/api/v1/auth/password-reset", { email }, { redirectOn401: false });
    form.hidden = true;
    sent.textContent = `If an account exists for ${email}, we sent a link to choose a new password. Check your email; the link works once, for a limited time.`;
  } catch (failure) {
    error.textContent =
      failure.status === 429
        ? "Too many requests: wait a while before asking again."
        : failure.message;
  } finally {
    button.disabled = false;
    button.textContent = "Send the link";
  }
});
