// The sign-in form: POST /api/v1/auth/login, then on to the page that sent us here.
import { api } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function safeNext(value) {
  return /^\/admin(\/[A-Za-z0-9_-]+)*\/?$/.test(value || "") ? value : "/admin";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const email = form.elements.email.value.trim();
  const password = form.elements.password.value;
  if (!email || !password) {
    error.textContent = "Enter your email and password.";
    (email ? form.elements.password : form.elements.email).focus();
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  button.textContent = "Signing in…";
  try {
    const { operator } = await api(
      "POST",
      "/api/v1/auth/login",
      { email, password },
      { redirectOn401: false },
    );
    let next = safeNext(form.dataset.next);
    if (operator.role === "agent" && next.startsWith("/admin/settings")) next = "/admin";
    if (operator.role === "admin" && next.startsWith("/admin/settings/audit"))
      next = "/admin/settings";
    location.assign(next);
  } catch (failure) {
    error.textContent = failure.status === 401 ? "Wrong email or password." : failure.message;
    form.elements.password.value = "";
    form.elements.password.focus();
    button.disabled = false;
    button.textContent = "Sign in";
  }
});
