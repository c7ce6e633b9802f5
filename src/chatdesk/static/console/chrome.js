// The top bar on every console page: sign out, preferences, shortcut help.
import { api, signingOutNow } from "./api.js";
import { preferences } from "./notify.js";

export function setupChrome() {
  const logout = document.getElementById("logout");
  logout?.addEventListener("click", async () => {
    logout.disabled = true;
    signingOutNow();
    try {
      await api("POST", "/api/v1/auth/logout", undefined, { redirectOn401: false });
    } catch {
      // Signed out already, or offline: the login page sorts it out either way.
    }
    location.assign("/admin/login");
  });
  // Rendered disabled: a click before this handler exists would be lost.
  if (logout) logout.disabled = false;
  for (const [id, key] of [
    ["pref-sound", "sound"],
    ["pref-notify", "notify"],
  ]) {
    const box = document.getElementById(id);
    if (!box) continue;
    box.checked = preferences.get(key);
    box.addEventListener("change", async () => {
      preferences.set(key, box.checked);
      if (
        key === "notify" &&
        box.checked &&
        "Notification" in window &&
        Notification.permission === "default"
      ) {
        await Notification.requestPermission();
      }
    });
  }
  const dialog = document.getElementById("shortcuts-dialog");
  const open = document.getElementById("shortcuts-open");
  if (open && !dialog) open.hidden = true;
  open?.addEventListener("click", () => {
    open.closest("details")?.removeAttribute("open");
    dialog?.showModal();
  });
  // Close the account menu when clicking elsewhere.
  document.addEventListener("click", (event) => {
    const menu = document.querySelector("details.menu[open]");
    if (menu && !menu.contains(event.target)) menu.removeAttribute("open");
  });
}

// Runs once per page, whichever module imports it first.
if (document.body.dataset.chromeReady !== "1") {
  document.body.dataset.chromeReady = "1";
  setupChrome();
}
