// The frame origin's localStorage, one namespace per site key (history survives reloads and tabs).

export function makeStore(siteKey) {
  const prefix = `chatdesk:${siteKey}:`;
  return {
    get(key, fallback = null) {
      try {
        const raw = localStorage.getItem(prefix + key);
        return raw === null ? fallback : JSON.parse(raw);
      } catch {
        return fallback; // storage off or corrupt: behave like a first visit
      }
    },
    set(key, value) {
      try {
        if (value === null || value === undefined) localStorage.removeItem(prefix + key);
        else localStorage.setItem(prefix + key, JSON.stringify(value));
      } catch {
        // storage full or off: the chat still works for this page view
      }
    },
  };
}
