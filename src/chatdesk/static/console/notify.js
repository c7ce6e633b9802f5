// Attention: the title badge, a short sound, and desktop notifications (each switchable).

const DEFAULTS = { sound: true, notify: true };
const PREFIX = "chatdesk.pref.";

export const preferences = {
  get(key) {
    const stored = localStorage.getItem(PREFIX + key);
    return stored === null ? DEFAULTS[key] : stored === "1";
  },
  set(key, on) {
    localStorage.setItem(PREFIX + key, on ? "1" : "0");
  },
};

const BASE_TITLE = "chatdesk";

/** "(3) chatdesk" while 3 messages wait unread; plain "chatdesk" otherwise. */
export function setBadge(count) {
  const title = count > 0 ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
  if (document.title !== title) document.title = title;
}

let audio = null;

export function ping() {
  if (!preferences.get("sound")) return;
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.15, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  } catch {
    // No audio (autoplay policy before any interaction): silence is acceptable.
  }
}

/** A desktop notification that focuses the conversation when clicked. */
export function notify(title, body, onClick) {
  if (!preferences.get("notify") || !("Notification" in window)) return;
  if (Notification.permission !== "granted") return;
  try {
    const note = new Notification(title, { body: body.slice(0, 200), tag: title });
    note.onclick = () => {
      window.focus();
      onClick?.();
      note.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker; skip quietly.
  }
}

/** Browsers only ask for notification permission after a user gesture: ask at the first one. */
export function askPermissionOnFirstGesture() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  document.addEventListener(
    "pointerdown",
    () => {
      if (preferences.get("notify") && Notification.permission === "default") {
        Notification.requestPermission().catch(() => {});
      }
    },
    { once: true },
  );
}
