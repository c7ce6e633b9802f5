/* chatdesk widget loader: <script src="https://CHATDESK/widget.js" data-site="SITE_KEY" async></script>
 * One <chatdesk-widget> element (Shadow DOM: launcher + chat frame), one global: window.chatdesk.
 * See docs/embed.md. */
(() => {
  // biome-ignore lint/suspicious/noRedundantUseStrict: a classic script, not a module (Biome assumes one)
  "use strict";
  const doc = document;
  let me = doc.currentScript;
  if (!me?.getAttribute("data-site")) {
    me = doc.querySelector('script[src$="/widget.js"][data-site]');
  }
  if (!me) return;
  const siteKey = me.getAttribute("data-site");
  let origin;
  try {
    origin = new URL(me.src, location.href).origin;
  } catch {
    return;
  }
  const existing = window.chatdesk;
  if (existing && existing.version === 1 && typeof existing.open === "function") return; // loaded twice
  if (doc.querySelector("chatdesk-widget")) return;

  const hostOrigin = location.origin;
  const flag = `chatdesk:opened:${siteKey}`;
  const listeners = { unread: [], open: [], close: [] };
  const pending = [];
  let isOpen = false;
  let unread = 0;
  let wantOpen = false;
  let ready = false;
  let frame = null;
  let root, launcher, panel, badge, wrap;

  const CSS =
    // all:initial!important on :host beats any !important rule of the host page (the shadow
    // context wins for important declarations), so page CSS cannot hide or move the widget.
    ":host{all:initial!important;display:block!important;position:fixed!important;z-index:2147483000!important;" +
    "width:0!important;height:0!important}" +
    "*{box-sizing:border-box}" +
    ".w{--a:#2563eb;position:fixed;bottom:20px;right:20px;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".w.left{right:auto;left:20px}" +
    "button.l{all:unset;box-sizing:border-box;display:flex;align-items:center;justify-content:center;width:56px;height:56px;" +
    "border-radius:50%;background:var(--a);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);transition:transform .15s}" +
    "button.l:hover{transform:scale(1.06)}button.l:focus-visible{outline:3px solid #111;outline-offset:3px}" +
    "button.l svg{width:28px;height:28px;fill:currentColor}.x{display:none}.o .x{display:block}.o .c{display:none}" +
    ".b{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#dc2626;" +
    "color:#fff;font:700 11px/16px system-ui,sans-serif;text-align:center;border:2px solid #fff}.b[hidden],.p[hidden]{display:none}" +
    ".p{position:absolute;bottom:72px;right:0;width:380px;height:min(640px,calc(100vh - 110px));border-radius:14px;overflow:hidden;" +
    "box-shadow:0 10px 40px rgba(0,0,0,.28);background:#fff}.left .p{right:auto;left:0}" +
    ".p iframe{border:0;width:100%;height:100%;display:block;color-scheme:normal}" +
    "@media (max-width:480px){.p{position:fixed;inset:0;width:100%;height:100%;border-radius:0}.o button.l{display:none}}";

  const SVG = "http://www.w3.org/2000/svg";
  function icon(cls, d) {
    const svg = doc.createElementNS(SVG, "svg");
    svg.setAttribute("class", cls);
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = doc.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
    return svg;
  }

  function emit(name, value) {
    for (const listener of listeners[name]) {
      try {
        listener(value);
      } catch (error) {
        // Reported (as an uncaught error, from a timer), but never breaks the loader.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  function send(message) {
    if (ready && frame) frame.contentWindow.postMessage(message, origin);
    else pending.push(message);
  }

  function setUnread(count) {
    count = Math.max(0, count | 0);
    badge.hidden = count === 0;
    badge.textContent = count > 99 ? "99+" : String(count);
    launcher.setAttribute(
      "aria-label",
      isOpen ? "Close chat" : count ? `Open chat, ${count} unread` : "Open chat",
    );
    if (count !== unread) {
      unread = count;
      emit("unread", count);
    }
  }

  function makeFrame() {
    if (frame) return;
    frame = doc.createElement("iframe");
    frame.title = "Chat";
    frame.setAttribute("allow", "");
    frame.src = `${origin}/widget/frame?site=${encodeURIComponent(siteKey)}&origin=${encodeURIComponent(hostOrigin)}`;
    panel.appendChild(frame);
    // The page (no query or fragment: those can carry secrets) for the operator's visitor panel.
    pending.unshift({ chatdesk: "page", url: location.origin + location.pathname });
  }

  function open() {
    if (!panel) {
      wantOpen = true; // opens once mounted (never, if not allowed here)
      return;
    }
    makeFrame();
    try {
      localStorage.setItem(flag, "1");
    } catch {
      // storage may be off
    }
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    wrap.classList.add("o");
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", "Close chat");
    send({ chatdesk: "open" });
    frame.focus();
    emit("open");
  }

  function close(fromFrame) {
    if (!isOpen) return;
    isOpen = false;
    panel.hidden = true;
    wrap.classList.remove("o");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", "Open chat");
    send({ chatdesk: "close" });
    if (fromFrame) launcher.focus();
    emit("close");
  }

  function onMessage(event) {
    // Only our own frame, from chatdesk's origin: anything else is ignored.
    if (!frame || event.origin !== origin || event.source !== frame.contentWindow) return;
    const data = event.data || {};
    if (data.chatdesk === "ready") {
      ready = true;
      while (pending.length) frame.contentWindow.postMessage(pending.shift(), origin);
      if (isOpen) frame.contentWindow.postMessage({ chatdesk: "open" }, origin);
    } else if (data.chatdesk === "unread") {
      setUnread(data.count);
    } else if (data.chatdesk === "close") {
      close(true);
    }
  }

  function mount(config) {
    const host = doc.createElement("chatdesk-widget");
    root = host.attachShadow({ mode: "open" });
    if (
      root.adoptedStyleSheets &&
      window.CSSStyleSheet &&
      "replaceSync" in CSSStyleSheet.prototype
    ) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS); // not an inline style: allowed under a strict host CSP
      root.adoptedStyleSheets = [sheet];
    } else {
      const style = doc.createElement("style");
      style.textContent = CSS;
      root.appendChild(style);
    }
    wrap = doc.createElement("div");
    wrap.className = `w${config.position === "left" ? " left" : ""}`;
    if (/^#[0-9a-f]{6}$/i.test(config.accent_color || ""))
      wrap.style.setProperty("--a", config.accent_color);
    panel = doc.createElement("div");
    panel.className = "p";
    panel.hidden = true;
    launcher = doc.createElement("button");
    launcher.type = "button";
    launcher.className = "l";
    launcher.setAttribute("aria-label", "Open chat");
    launcher.setAttribute("aria-expanded", "false");
    launcher.appendChild(
      icon("c", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"),
    );
    launcher.appendChild(
      icon(
        "x",
        "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z",
      ),
    );
    badge = doc.createElement("span");
    badge.className = "b";
    badge.hidden = true;
    badge.setAttribute("aria-hidden", "true");
    launcher.appendChild(badge);
    launcher.addEventListener("click", () => {
      if (isOpen) close(false);
      else open();
    });
    wrap.appendChild(panel);
    wrap.appendChild(launcher);
    root.appendChild(wrap);
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && isOpen) close(true);
    });
    (doc.body || doc.documentElement).appendChild(host);
    window.addEventListener("message", onMessage);
    let opened = false;
    try {
      opened = localStorage.getItem(flag) === "1";
    } catch {
      // storage may be off
    }
    // A returning visitor gets the frame at once (hidden) so replies raise the badge.
    if (opened) makeFrame();
  }

  const api = {
    open,
    close: () => close(false),
    toggle: () => (isOpen ? close(false) : open()),
    identify: (token) =>
      send({ chatdesk: "identify", token: token == null ? null : String(token) }),
    setVisitor: (fields) => {
      const { name, email } = fields || {};
      send({ chatdesk: "visitor", name, email });
    },
    on: (name, callback) => {
      if (Object.hasOwn(listeners, name) && typeof callback === "function") {
        listeners[name].push(callback);
      }
      return api;
    },
    // So the queue snippet `(window.chatdesk = window.chatdesk || []).push([...])` works before and after.
    push: (call) => {
      const name = call?.[0];
      if (Object.hasOwn(api, name) && name !== "push" && name !== "version") {
        api[name](...call.slice(1));
      }
    },
    version: 1,
  };
  const queued = window.chatdesk;
  if (queued === undefined || Array.isArray(queued)) {
    try {
      Object.defineProperty(window, "chatdesk", {
        value: api,
        configurable: true,
        enumerable: false,
        writable: true,
      });
    } catch {
      // a frozen window: run without the API
    }
  } else if (window.console) {
    console.warn("chatdesk: window.chatdesk is taken by this page; the JS API is not installed.");
  }

  let started = false;
  function start(config) {
    if (started) return;
    started = true;
    if (doc.querySelector("chatdesk-widget")) return;
    mount(config);
    if (Array.isArray(queued)) for (const call of queued) api.push(call);
    if (wantOpen) open();
  }

  function boot() {
    const fallback = setTimeout(() => start({}), 4000);
    const url = `${origin}/widget/launcher?site=${encodeURIComponent(siteKey)}&origin=${encodeURIComponent(hostOrigin)}`;
    fetch(url, { credentials: "omit" })
      .then((res) => {
        if (res.status === 404) return null;
        return res.ok ? res.json() : {};
      })
      // connect-src may forbid it: go with defaults
      .catch(() => ({}))
      .then((config) => {
        clearTimeout(fallback);
        if (config === null || config.allowed === false) {
          started = true;
          if (window.console) {
            console.warn(
              `chatdesk: no chat here (unknown site key, or ${hostOrigin} is not an allowed origin).`,
            );
          }
          return;
        }
        start(config);
      });
  }

  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
