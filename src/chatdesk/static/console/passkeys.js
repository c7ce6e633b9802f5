// Account → Passkeys: the operator's passkeys (GET /api/v1/auth/passkeys), adding one
// (…/register/options, the browser's dialog, …/register), renaming and removing one.
import { api, handleSubmit } from "./api.js";
import { h } from "./dom.js";
import { formatDateTime } from "./time.js";
import { createCredential, passkeysSupported } from "./webauthn.js";

const $ = (id) => document.getElementById(id);
const ui = {
  list: $("passkey-list"),
  form: $("passkey-add-form"),
  name: $("passkey-name"),
  add: $("passkey-add"),
  error: $("passkey-error"),
  status: $("passkey-status"),
  unsupported: $("passkeys-unsupported"),
};

function say(text, isError = false) {
  ui.error.textContent = isError ? text : "";
  ui.status.textContent = isError ? "" : text;
}

function item(passkey) {
  const name = h("input", {
    value: passkey.name,
    maxlength: "100",
    "aria-label": `Name of passkey ${passkey.name}`,
  });
  const used = passkey.last_used_at
    ? `last used ${formatDateTime(passkey.last_used_at)}`
    : "not used yet";
  return h(
    "li",
    { class: "passkey-item", dataset: { passkeyId: passkey.id } },
    name,
    h("span", {
      class: "muted small",
      text: `Added ${formatDateTime(passkey.created_at)}, ${used}`,
    }),
    h("button", {
      type: "button",
      class: "button small",
      text: "Rename",
      "aria-label": `Rename passkey ${passkey.name}`,
      onclick: () => rename(passkey, name.value),
    }),
    h("button", {
      type: "button",
      class: "button small danger",
      text: "Remove",
      "aria-label": `Remove passkey ${passkey.name}`,
      onclick: () => remove(passkey),
    }),
  );
}

async function load() {
  const { passkeys } = await api("GET", "/api/v1/auth/passkeys");
  ui.list.replaceChildren(...passkeys.map(item));
  if (!passkeys.length) ui.list.append(h("li", { class: "muted small", text: "No passkeys yet." }));
}

async function rename(passkey, wanted) {
  try {
    const renamed = await api("PATCH", `/api/v1/auth/passkeys/${passkey.id}`, {
      name: wanted.trim(),
    });
    await load();
    say(`Renamed to ${renamed.name}.`);
  } catch (failure) {
    say(failure.message, true);
  }
}

async function remove(passkey) {
  try {
    await api("DELETE", `/api/v1/auth/passkeys/${passkey.id}`);
    await load();
    say(`${passkey.name} was removed.`);
  } catch (failure) {
    say(failure.message, true);
  }
}

handleSubmit(ui.form, async (event) => {
  event.preventDefault();
  say("");
  ui.add.disabled = true;
  try {
    const { public_key: options } = await api("POST", "/api/v1/auth/passkeys/register/options");
    const credential = await createCredential(options);
    const name = ui.name.value.trim() || "Passkey";
    const added = await api("POST", "/api/v1/auth/passkeys/register", { name, credential });
    ui.name.value = "";
    await load();
    say(`${added.name} was added: you can sign in with it now.`);
  } catch (failure) {
    say(
      failure.name === "NotAllowedError"
        ? "The passkey was not created (cancelled, or it timed out)."
        : failure.message,
      true,
    );
  } finally {
    ui.add.disabled = false;
  }
});

/** Fills the Passkeys card (or says this browser cannot use them). */
export async function showPasskeys() {
  if (!ui.list) return;
  if (!passkeysSupported()) {
    ui.unsupported.hidden = false;
    ui.form.hidden = true;
  }
  try {
    await load();
  } catch (failure) {
    say(failure.message, true);
  }
}
