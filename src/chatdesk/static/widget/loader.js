/* chatdesk widget loader (/widget.js); see docs/embed.md. */
(() => {
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
  if (existing?.version === 1 && typeof existing.open === "function") return; // loaded twice
  if (doc.querySelector("chatdesk-widget")) return;

  const hostOrigin = location.origin;
  const query = `?site=${encodeURIComponent(siteKey)}&origin=${encodeURIComponent(hostOrigin)}`;
  const settingsUrl = `${origin}/widget/launcher${query}&lang=${encodeURIComponent(navigator.languages)}`;
  const frameUrl = `${origin}/widget/frame${query}`;
  const flag = `chatdesk:opened:${siteKey}`;
  const listeners = { unread: [], open: [], close: [] };
  const pending = [];
  let isOpen = false;
  let unread = 0;
  let wantOpen = false;
  let ready = false;
  let blocked = false;
  let timer = 0;
  let tries = 0;
  let frame = null;
  let root, launcher, panel, badge, wrap, card;
  // English until /widget/launcher answers
  let say = {
    open: "Open chat",
    unread: "Open chat, {count} unread",
    close: "Close chat",
    unavailable: "Chat is unavailable right now",
    retrying: "We'll connect as soon as it's back.",
    dismiss: "Close",
    frame: "Chat",
  };

  const CSS =
    ":host{all:initial!important;display:block!important;position:fixed!important;z-index:2147483000!important;" +
    "width:0!important;height:0!important}" +
    "*{box-sizing:border-box}" +
    ".w{--a:#2563eb;position:fixed;bottom:20px;right:20px;font:14px/1.4 system-ui,sans-serif}" +
    ".w.left{right:auto;left:20px}" +
    "button{all:unset;display:flex;align-items:center;justify-content:center;cursor:pointer}" +
    "button.l{width:56px;height:56px;border-radius:50%;background:var(--a);color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);transition:transform .15s}" +
    "button.l:hover{transform:scale(1.06)}button:focus-visible{outline:3px solid #111;outline-offset:3px}" +
    "svg{width:28px;height:28px;fill:currentColor}.x{display:none}.o .x{display:block}.o .c{display:none}" +
    ".b{position:absolute;top:-4px;inset-inline-end:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#dc2626;" +
    "color:#fff;font:700 11px/16px system-ui,sans-serif;text-align:center;border:2px solid #fff}.b[hidden],.p[hidden],.v[hidden]{display:none}" +
    ".p{position:absolute;bottom:72px;right:0;width:380px;height:min(640px,calc(100vh - 110px));border-radius:14px;overflow:hidden;" +
    "box-shadow:0 10px 40px rgba(0,0,0,.28);background:#fff}.left .p{right:auto;left:0}" +
    ".p iframe{border:0;width:100%;height:100%;display:none;color-scheme:normal}.r iframe{display:block}" +
    ".n,button.k{display:none}.d .p{width:300px;max-width:calc(100vw - 40px);height:auto}.d .n{display:block;padding:16px;padding-inline:18px 40px;color:#4b5563}" +
    ".n b{display:block;color:#111827}.k{position:absolute;top:10px;inset-inline-end:10px;padding:4px;border-radius:6px;color:#6b7280}" +
    ".d button.k,.v button.k{display:flex}.k svg{width:20px;height:20px}" +
    ".v{position:absolute;bottom:72px;right:0;width:260px;border-radius:12px;background:#fff;color:#111827;box-shadow:0 6px 24px rgba(0,0,0,.22)}" +
    ".left .v{right:auto;left:0}.v button{display:block;padding:12px 36px 12px 14px;overflow-wrap:anywhere}.v b{display:block}" +
    "@media (max-width:480px){.w:not(.d) .p{position:fixed;inset:0;width:100%;height:100%;border-radius:0}.o:not(.d) .l{display:none}}";

  const SVG = "http://www.w3.org/2000/svg";
  const X =
    "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z";
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

  function make(tag, cls, parent) {
    const el = doc.createElement(tag);
    el.className = cls;
    return parent.appendChild(el);
  }

  function emit(name, value) {
    for (const listener of listeners[name]) {
      try {
        listener(value);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  function send(message) {
    if (ready) frame.contentWindow.postMessage(message, origin);
    else pending.push(message);
  }

  function setUnread(count) {
    count = Math.max(0, count | 0);
    badge.hidden = count === 0;
    if (!count) card.hidden = true;
    badge.textContent = count > 99 ? "99+" : count;
    launcher.setAttribute(
      "aria-label",
      isOpen ? say.close : count ? say.unread.replace("{count}", count) : say.open,
    );
    if (count !== unread) {
      unread = count;
      emit("unread", count);
    }
  }

  function probe() {
    fetch(settingsUrl, { credentials: "omit", cache: "no-store" }).then(
      (res) => res.status < 500 || fail(),
      () => blocked || fail(),
    );
  }

  function fail() {
    if (ready || timer) return;
    wrap.classList.add("d");
    timer = setTimeout(
      () => {
        timer = 0;
        frame.src = frameUrl;
        probe();
      },
      Math.min(30000, 2000 * 2 ** tries++),
    );
  }

  function makeFrame() {
    if (frame) return;
    frame = make("iframe", "", panel);
    frame.title = say.frame;
    frame.setAttribute("allow", "");
    frame.src = frameUrl;
    frame.addEventListener("load", () => setTimeout(fail, 2000));
    // no query or fragment: secrets
    pending.unshift({ chatdesk: "page", url: location.origin + location.pathname });
    probe();
  }

  function open() {
    if (!panel) {
      wantOpen = true; // once mounted
      return;
    }
    makeFrame();
    try {
      localStorage.setItem(flag, "1");
    } catch {
      // storage may be off
    }
    if (!isOpen) show(true);
  }

  function close(fromFrame) {
    if (!isOpen) return;
    show(false);
    if (fromFrame) launcher.focus();
  }

  function show(on) {
    const name = on ? "open" : "close";
    isOpen = on;
    panel.hidden = !on;
    if (on) card.hidden = true;
    wrap.classList.toggle("o", on);
    launcher.setAttribute("aria-expanded", on);
    setUnread(unread);
    send({ chatdesk: name });
    if (on) frame.focus();
    emit(name);
  }

  function onMessage(event) {
    // only our own frame, from chatdesk's origin
    if (!frame || event.origin !== origin || event.source !== frame.contentWindow) return;
    const type = event.data?.chatdesk;
    if (type === "ready") {
      ready = true;
      clearTimeout(timer);
      wrap.classList.remove("d");
      wrap.classList.add("r");
      while (pending.length) send(pending.shift());
      if (isOpen) {
        send({ chatdesk: "open" });
        frame.focus();
      }
    } else if (type === "unread") {
      setUnread(event.data.count);
      // a reply's first words above the launcher, as text only
      if (event.data.text && !isOpen) {
        card.hidden = false;
        card.firstChild.firstChild.textContent = event.data.from;
        card.firstChild.lastChild.textContent = event.data.text;
      }
    } else if (type === "close") {
      close(true);
    }
  }

  function mount(config) {
    const host = doc.createElement("chatdesk-widget");
    root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      make("style", "", root).textContent = CSS;
    }
    say = { ...say, ...config.strings };
    wrap = make("div", `w${config.position === "left" ? " left" : ""}`, root);
    wrap.lang = config.locale || "en";
    wrap.dir = config.dir || "ltr";
    if (/^#[0-9a-f]{6}$/i.test(config.accent_color || ""))
      wrap.style.setProperty("--a", config.accent_color);
    panel = make("div", "p", wrap);
    panel.hidden = true;
    const note = make("div", "n", panel);
    note.setAttribute("role", "status");
    make("b", "", note).textContent = say.unavailable;
    note.append(say.retrying);
    const closer = make("button", "k", panel);
    closer.type = "button";
    closer.setAttribute("aria-label", say.dismiss);
    closer.appendChild(icon("x", X));
    closer.addEventListener("click", () => close(true));
    card = make("div", "v", wrap);
    card.hidden = true;
    const peek = make("button", "", card);
    peek.type = "button";
    make("b", "", peek);
    make("span", "", peek);
    peek.addEventListener("click", open);
    const hide = make("button", "k", card);
    hide.type = "button";
    hide.setAttribute("aria-label", say.dismiss);
    hide.appendChild(icon("x", X));
    hide.addEventListener("click", () => {
      card.hidden = true;
    });
    launcher = make("button", "l", wrap);
    launcher.type = "button";
    launcher.setAttribute("aria-expanded", "false");
    launcher.append(
      icon("c", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"),
      icon("x", X),
    );
    badge = make("span", "b", launcher);
    badge.setAttribute("aria-hidden", "true");
    setUnread(0);
    launcher.addEventListener("click", () => {
      if (isOpen) close(false);
      else open();
    });
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
    if (opened) makeFrame();
  }

  const api = {
    open,
    close: () => close(false),
    toggle: () => (isOpen ? close(false) : open()),
    showConversations: () => {
      open();
      send({ chatdesk: "conversations" });
    },
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
      // frozen window
    }
  } else {
    console.warn("chatdesk: window.chatdesk is taken; no JS API.");
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
    doc.addEventListener("securitypolicyviolation", (event) => {
      if (event.blockedURI.startsWith(origin)) blocked = true;
    });
    const fallback = setTimeout(() => start({}), 4000);
    fetch(settingsUrl, { credentials: "omit" })
      .then((res) => (res.status === 404 ? null : res.ok ? res.json() : {}))
      .catch(() => ({}))
      .then((config) => {
        clearTimeout(fallback);
        if (config === null || config.allowed === false) {
          started = true;
          console.warn(
            `chatdesk: no chat here (unknown site key, or ${hostOrigin} is not an allowed origin).`,
          );
          return;
        }
        start(config);
      });
  }

  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
