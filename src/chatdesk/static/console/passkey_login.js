// "Sign in with a passkey" on the sign-in page: POST /api/v1/auth/passkeys/login/options,
// the browser's passkey picker, then …/login; on to the page that sent us here.
import { api } from "./api.js";
import { getCredential, passkeysSupported } from "./webauthn.js";

const box = document.getElementById("passkey-login");
const button = document.getElementById("passkey-login-button");
const error = document.getElementById("passkey-login-error");
const next = document.getElementById("login-form")?.dataset.next || "/admin";

if (box && passkeysSupported()) box.hidden = false;

button?.addEventListener("click", async () => {
  error.textContent = "";
  button.disabled = true;
  try {
    const { public_key: options } = await api("POST", "/api/v1/auth/passkeys/login/options");
    const credential = await getCredential(options);
    await api("POST", "/api/v1/auth/passkeys/login", { credential }, { redirectOn401: false });
    location.assign(/^\/admin(\/[A-Za-z0-9_-]+)*\/?$/.test(next) ? next : "/admin");
  } catch (failure) {
    error.textContent =
      failure.name === "NotAllowedError"
        ? "No passkey was chosen. Try again, or sign in with your password."
        : failure.message;
    button.disabled = false;
  }
});
