// Account → Two-factor authentication: set up (POST /api/v1/auth/totp/setup: the key as
// text and a QR code), turn on with a code (…/enable: the recovery codes, shown once),
// turn off with the password (…/disable).
import { api, handleSubmit } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const ui = {
  state: $("totp-state"),
  off: $("totp-off"),
  setup: $("totp-setup"),
  enableForm: $("totp-enable-form"),
  qr: $("totp-qr"),
  secret: $("totp-secret"),
  uri: $("totp-uri"),
  code: $("totp-code"),
  error: $("totp-error"),
  enable: $("totp-enable"),
  cancel: $("totp-cancel"),
  recovery: $("totp-recovery"),
  codes: $("totp-recovery-codes"),
  saved: $("totp-saved"),
  disableForm: $("totp-disable-form"),
  password: $("totp-disable-password"),
  disableError: $("totp-disable-error"),
  disable: $("totp-disable"),
};

function only(shown) {
  for (const part of [ui.off, ui.enableForm, ui.recovery, ui.disableForm]) {
    part.hidden = part !== shown;
  }
}

/** Shows whether two-factor sign-in is on, with what can be done next. */
export function showTotp(enabled) {
  if (!ui.state) return;
  ui.state.textContent = enabled
    ? "Two-factor authentication is on: signing in asks for a code from your app."
    : "Two-factor authentication is off.";
  only(enabled ? ui.disableForm : ui.off);
}

/** The QR code of ``text`` as SVG elements (one path of dark modules), never markup. */
async function drawQr(text) {
  const { qrcode } = await import("../vendor/qrcode-generator/qrcode.mjs");
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const count = qr.getModuleCount();
  const margin = 2;
  const size = count + margin * 2;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "QR code of the setup URI, for your authenticator app");
  svg.setAttribute("shape-rendering", "crispEdges");
  let d = "";
  for (let row = 0; row < count; row += 1) {
    for (let column = 0; column < count; column += 1) {
      if (qr.isDark(row, column)) d += `M${column + margin} ${row + margin}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(path);
  ui.qr.replaceChildren(svg);
}

ui.setup?.addEventListener("click", async () => {
  ui.setup.disabled = true;
  try {
    const { secret, otpauth_uri: uri } = await api("POST", "/api/v1/auth/totp/setup");
    // Grouped by four, as authenticator apps accept it typed.
    ui.secret.textContent = secret.match(/.{1,4}/g).join(" ");
    ui.uri.textContent = uri;
    ui.error.textContent = "";
    ui.code.value = "";
    ui.state.textContent = "Setting up two-factor authentication.";
    only(ui.enableForm);
    await drawQr(uri).catch(() => {
      ui.qr.textContent = "The QR code could not be drawn: type the key into your app.";
    });
    ui.code.focus();
  } catch (failure) {
    ui.state.textContent = failure.message;
  } finally {
    ui.setup.disabled = false;
  }
});

ui.cancel?.addEventListener("click", () => {
  ui.qr.replaceChildren();
  ui.secret.textContent = "";
  ui.uri.textContent = "";
  showTotp(false);
});

function enableFails(text) {
  ui.error.textContent = text;
  ui.code.setAttribute("aria-invalid", "true");
  ui.code.focus();
}

handleSubmit(ui.enableForm, async (event) => {
  event.preventDefault();
  ui.error.textContent = "";
  ui.code.removeAttribute("aria-invalid");
  const code = ui.code.value.replace(/\s/g, "");
  if (!/^\d{6}$/.test(code)) return enableFails("Enter the 6-digit code your app shows.");
  ui.enable.disabled = true;
  try {
    const { recovery_codes: codes } = await api("POST", "/api/v1/auth/totp/enable", { code });
    ui.codes.replaceChildren(
      ...codes.map((text) => {
        const item = document.createElement("li");
        item.textContent = text;
        return item;
      }),
    );
    ui.qr.replaceChildren();
    ui.secret.textContent = "";
    ui.uri.textContent = "";
    ui.state.textContent = "Two-factor authentication is on.";
    only(ui.recovery);
    ui.saved.focus();
  } catch (failure) {
    enableFails(
      failure.status === 422
        ? "That is not the code your app shows now. Check the app and try again."
        : failure.message,
    );
  } finally {
    ui.enable.disabled = false;
  }
});

ui.saved?.addEventListener("click", () => {
  ui.codes.replaceChildren();
  showTotp(true);
});

handleSubmit(ui.disableForm, async (event) => {
  event.preventDefault();
  ui.disableError.textContent = "";
  ui.password.removeAttribute("aria-invalid");
  if (!ui.password.value) {
    ui.disableError.textContent = "Enter your password to turn two-factor authentication off.";
    ui.password.setAttribute("aria-invalid", "true");
    ui.password.focus();
    return;
  }
  ui.disable.disabled = true;
  try {
    await api("POST", "/api/v1/auth/totp/disable", { password: ui.password.value });
    ui.password.value = "";
    showTotp(false);
  } catch (failure) {
    ui.disableError.textContent =
      failure.status === 403 ? "The password is wrong. Nothing was changed." : failure.message;
    ui.password.value = "";
    ui.password.setAttribute("aria-invalid", "true");
    ui.password.focus();
  } finally {
    ui.disable.disabled = false;
  }
});
