// The sign-in form: POST /api/v1/auth/login, then on to the page that sent us here. An
// operator with two-factor authentication on is asked for their code in a second step
// (the server answers 401 `totp_required`); a recovery code goes in the same field.
import { api, handleSubmit } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const passwordStep = document.getElementById("login-password-step");
const codeStep = document.getElementById("login-code-step");
const codeInput = document.getElementById("login-totp");
const back = document.getElementById("login-back");
const button = document.getElementById("login-submit");

function safeNext(value) {
  return /^\/admin(\/[A-Za-z0-9_-]+)*\/?$/.test(value || "") ? value : "/admin";
}

const askingForCode = () => !codeStep.hidden;

function showStep(code) {
  passwordStep.hidden = code;
  codeStep.hidden = !code;
  back.hidden = !code;
  codeInput.value = "";
  button.textContent = code ? "Verify" : "Sign in";
  (code ? codeInput : form.elements.password).focus();
}

back.addEventListener("click", () => {
  error.textContent = "";
  form.elements.password.value = "";
  showStep(false);
});

function refused(failure) {
  if (failure.code === "totp_required") {
    if (askingForCode()) {
      error.textContent =
        "That code is not right, or was used already. Enter the code your app shows now, or a recovery code.";
      codeInput.value = "";
      codeInput.focus();
    } else {
      showStep(true);
    }
    return;
  }
  if (askingForCode()) showStep(false);
  error.textContent = failure.status === 401 ? "Wrong email or password." : failure.message;
  form.elements.password.value = "";
  form.elements.password.focus();
}

handleSubmit(form, async (event) => {
  event.preventDefault();
  error.textContent = "";
  const email = form.elements.email.value.trim();
  const password = form.elements.password.value;
  if (!email || !password) {
    if (askingForCode()) showStep(false);
    error.textContent = "Enter your email and password.";
    (email ? form.elements.password : form.elements.email).focus();
    return;
  }
  const body = { email, password };
  if (askingForCode()) {
    const code = codeInput.value.trim();
    if (!code) {
      error.textContent = "Enter the code your authenticator app shows, or a recovery code.";
      codeInput.focus();
      return;
    }
    body.totp_code = code;
  }
  const label = button.textContent;
  button.disabled = true;
  button.textContent = askingForCode() ? "Verifying…" : "Signing in…";
  try {
    const { operator } = await api("POST", "/api/v1/auth/login", body, { redirectOn401: false });
    let next = safeNext(form.dataset.next);
    if (operator.role === "agent" && next.startsWith("/admin/settings")) next = "/admin";
    if (operator.role === "admin" && next.startsWith("/admin/settings/audit"))
      next = "/admin/settings";
    location.assign(next);
  } catch (failure) {
    button.textContent = label;
    refused(failure);
    button.disabled = false;
  }
});
