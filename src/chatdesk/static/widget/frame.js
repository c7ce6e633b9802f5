// The widget frame: boots from the site's public config, restores the visitor's history,
// keeps the event stream open, and talks to the loader on the host page.

import { setDayLocale } from "../shared/days.js";
import { ApiError, makeApi } from "./api.js";
import { el } from "./dom.js";
import { focusFirstField, trapFocus } from "./focus.js";
import { connectHost } from "./host.js";
import {
  formatLocale,
  loadLocale,
  locale,
  override,
  pickLocale,
  t,
  translatePage,
} from "./i18n.js";
import { makeOutbox } from "./outbox.js";
import { makeStore } from "./store.js";
import { openStream } from "./stream.js";
import { chatView, prechatForm } from "./view.js";

const siteKey = document.body.dataset.site;
const store = makeStore(siteKey);
const $ = (id) => document.getElementById(id);
const session = {
  token: store.get("token"),
  onUnauthorized() {
    forget(); // revoked or unknown token: start over as a new visitor
    showStart();
  },
};
const api = makeApi(session);
const state = {
  config: null,
  conversationId: null,
  synced: false,
  open: false,
  unread: store.get("unread", 0),
  online: true,
  operatorRead: null, // the newest message the team has read (read receipts)
  receiptSent: null, // the newest message this visitor has told it read
  conversations: [], // the visitor's, newest first (GET …/conversations)
  fresh: false, // "New conversation" chosen: the next message starts one
  elsewhere: new Set(), // other conversations with a reply the visitor has not seen
};
let profile = store.get("profile", {});
let pageUrl = null;
let view = null;
let stream = null;
let lastTyping = 0;
let chain = Promise.resolve();

const serial = (fn) => (chain = chain.then(fn).catch(report));
const post = connectHost(document.body.dataset.hostOrigin, {
  open() {
    state.open = true;
    markSeen();
    focusFirstField($("body"));
    serial(refreshConfig);
  },
  close() {
    state.open = false;
  },
  identify: ({ token }) => serial(() => identify(token)),
  visitor: ({ name, email }) => serial(() => setVisitor({ name, email })),
  page: ({ url }) => serial(() => setPage(url)),
  conversations: () => serial(showConversations),
});

const outbox = makeOutbox({
  store,
  view: () => ensureChat(),
  deliver,
  explain(error) {
    const reason = explain(error);
    notice(reason);
    return reason;
  },
  onSent: () => notice(""),
});

function report(error) {
  if (!(error instanceof ApiError)) console.error(error);
  else notice(explain(error));
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function wait(seconds) {
  const [amount, unit] = seconds >= 90 ? [Math.ceil(seconds / 60), "minute"] : [seconds, "second"];
  const format = new Intl.NumberFormat(formatLocale(), {
    style: "unit",
    unit,
    unitDisplay: "long",
  });
  return format.format(Math.max(1, amount));
}

// The site's greeting, offline message or reply time: its words for this locale, else its
// own text, else (still chatdesk's stock English) the catalog's (ADR 0021).
function siteText(field) {
  const config = state.config;
  return override(field) || (config.default_texts?.includes(field) ? t(field) : config[field]);
}

function explain(error) {
  // Said to a visitor an operator blocked (ADR 0018): polite, and no error text.
  if (error.blocked) return t("blocked");
  if (error.status === 429)
    return error.retryAfter ? t("too_fast_wait", { time: wait(error.retryAfter) }) : t("too_fast");
  if (error.status === 0) return t("offline");
  if (error.status >= 500) return t("server_trouble");
  // The server's own words are English: other languages get the plain failure.
  return (locale() === "en" && error.message) || t("failed");
}

function forget() {
  if (stream) stream.stop();
  stream = null;
  session.token = null;
  state.conversationId = null;
  state.synced = false;
  state.conversations = [];
  state.fresh = false;
  state.elsewhere.clear();
  showListButton();
  store.set("token", null);
  store.set("sub", null);
  store.set("seen", null);
  if (view) view.clear();
  rating?.element.remove();
  rating = null;
}

// With a new reply, its author and first words go to the card above the launcher.
function setUnread(count, message) {
  state.unread = count;
  store.set("unread", count);
  const text = message?.body || "";
  post("unread", {
    count,
    from: message?.author.name || t("support"),
    text: text.length > 100 ? `${text.slice(0, 99)}…` : text,
  });
}

function markSeen() {
  const last = document.querySelector(".confirmed .msg:last-child");
  if (last) store.set("seen", last.dataset.id);
  setUnread(0);
  // A read receipt only for what the visitor can see: the panel open and the page visible.
  if (last && state.open && !document.hidden) sendReceipt(last.dataset.id);
}

function sendReceipt(id) {
  const cid = state.conversationId;
  if (!id || !cid || (state.receiptSent && state.receiptSent >= id)) return;
  state.receiptSent = id;
  const path = `/api/v1/widget/conversations/${encodeURIComponent(cid)}/read`;
  api("POST", path, { message_id: id }).catch(() => {
    state.receiptSent = null; // told again at the next chance
  });
}

function showSeen() {
  if (view) view.seen(state.operatorRead);
}

function beep() {
  if (!store.get("sound", false)) return;
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.25);
  } catch {
    // no audio: silence is fine
  }
}

// Files go into the conversation: there is none before the first message, so files picked
// before it wait for it (sendWaiting). The module that uploads them is loaded with the
// first file.
let uploads = null;

async function addFiles(files) {
  if (!uploads) {
    const { makeUploads } = await import("./uploads.js");
    uploads ||= makeUploads({
      list: ensureChat().uploadList,
      path: () =>
        state.conversationId &&
        `/api/v1/widget/conversations/${encodeURIComponent(state.conversationId)}/attachments`,
      token: () => session.token,
      onProblem: notice,
      words: {
        locale: formatLocale(),
        waiting: t("files_wait"),
        tooMany: (count) => t("too_many_files", { count }),
        offline: t("upload_failed"),
        pasted: t("pasted_image"),
        uploading: (name) => t("uploading", { name }),
        ready: t("upload_ready"),
        remove: (name) => t("remove_file", { name }),
      },
    });
  }
  uploads.add(files);
}

// Files picked before the first message: uploaded now, sent as the next message.
function sendWaiting() {
  uploads.start();
  uploads.take().then((files) => {
    if (files.length) outbox.add("", files);
  }, report);
}

function ensureChat() {
  if (!view) {
    view = chatView({
      greeting: !state.config ? "" : siteText(state.config.online ? "greeting" : "offline_message"),
      async onSend(body) {
        // Files alone cannot start a conversation: they wait for its first words.
        if (!body && !state.conversationId && uploads?.waiting) return notice(t("attach_first"));
        const files = uploads ? await uploads.take() : [];
        if (body || files.length) outbox.add(body, files); // a second Enter finds none
      },
      onFiles: (files) => addFiles(files).catch(report),
      filesPending: () => Boolean(uploads?.pending),
      onTyping: sendTyping,
      onRetry: () => outbox.retry(),
      onTranscript: state.config?.email_enabled ? emailTranscript : null,
      hasEmail: () => Boolean(profile.email),
    });
  }
  // While the list of conversations is shown, live messages wait in the chat view.
  if (!view.element.isConnected && !$("body").querySelector(".convs"))
    $("body").replaceChildren(view.element);
  return view;
}

// POST …/transcript; an address typed in the bar is saved on the visitor first.
async function emailTranscript(email) {
  if (!state.conversationId || !session.token) throw new Error(t("no_conversation"));
  try {
    if (email) rememberProfile(await api("PATCH", "/api/v1/widget/visitor", { email }));
    const path = `/api/v1/widget/conversations/${encodeURIComponent(state.conversationId)}/transcript`;
    await api("POST", path);
  } catch (error) {
    if (error instanceof ApiError) throw new Error(explain(error));
    throw error;
  }
  return t("transcript_sent", { email: profile.email });
}

// The rating form once the conversation is resolved (rating.js, loaded only then).
const ratingStrings = () => ({
  question: t("rating_question"),
  rate: t("rating_rate"),
  comment: t("rating_comment"),
  send: t("rating_send"),
  sending: t("sending"),
  pick: t("rating_pick"),
  thanks: t("rating_thanks"),
  rated: t("rating_rated"),
  failed: t("failed"),
});
let rating = null; // the current conversation's rating box, while it is resolved

function showRating(conversation) {
  if (!conversation || conversation.id !== state.conversationId) return;
  if (conversation.status !== "resolved") {
    rating?.element.remove();
    rating = null;
    return;
  }
  import("./rating.js").then(({ ratingBox }) => {
    if (conversation.id !== state.conversationId) return;
    if (rating?.id !== conversation.id) {
      rating?.element.remove();
      const onRate = (score, comment) => rate(conversation.id, score, comment);
      rating = { id: conversation.id, ...ratingBox({ strings: ratingStrings(), onRate }) };
    }
    rating.show(conversation.rating);
    const chat = ensureChat().element;
    if (!rating.element.isConnected)
      chat.insertBefore(rating.element, chat.querySelector(".composer"));
  }, report);
}

async function rate(id, score, comment) {
  try {
    const path = `/api/v1/widget/conversations/${encodeURIComponent(id)}/rating`;
    return await api("POST", path, { score, comment });
  } catch (error) {
    if (error instanceof ApiError) throw new Error(explain(error));
    throw error;
  }
}

function sendTyping() {
  const now = Date.now();
  if (!state.conversationId || now - lastTyping < 3000) return;
  lastTyping = now;
  api(
    "POST",
    `/api/v1/widget/conversations/${encodeURIComponent(state.conversationId)}/typing`,
  ).catch(() => {});
}

async function ensureSession(fields = {}) {
  if (session.token) return;
  const body = { site_key: siteKey, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone };
  for (const [key, value] of Object.entries({ ...profile, ...fields }))
    if (value) body[key] = value;
  if (pageUrl) body.page_url = pageUrl;
  const created = await api("POST", "/api/v1/widget/sessions", body);
  session.token = created.visitor_token;
  store.set("token", session.token);
  rememberProfile(created.visitor);
  state.synced = true; // a new visitor has no history
  await connect(null);
}

function rememberProfile(visitor) {
  profile = { name: visitor.name || profile.name, email: visitor.email || profile.email };
  store.set("profile", profile);
}

async function deliver(item) {
  await ensureSession();
  if (!state.synced) await sync(); // never start a second conversation by mistake
  const message = { body: item.body, client_msg_id: item.client_msg_id };
  if (item.attachments?.length) message.attachment_ids = item.attachments.map((file) => file.id);
  if (!state.conversationId) {
    const started = await api("POST", "/api/v1/widget/conversations", message);
    state.conversationId = started.conversation.id;
    state.fresh = false;
    state.conversations.unshift(started.conversation);
    showListButton();
    ensureChat().add(started.message);
    if (uploads?.waiting) sendWaiting();
  } else {
    const path = `/api/v1/widget/conversations/${encodeURIComponent(state.conversationId)}/messages`;
    ensureChat().add(await api("POST", path, message));
  }
  showSeen();
  if (state.open) markSeen();
}

// History first, from a head cursor taken before it, so nothing falls in between.
async function sync() {
  const head = await api("GET", "/api/v1/widget/events?wait=0");
  const { conversations } = await api("GET", "/api/v1/widget/conversations");
  state.conversations = conversations; // newest first
  const chosen = conversations.find((c) => c.id === state.conversationId) || conversations[0];
  if (chosen && !state.fresh) await load(chosen);
  for (const c of conversations)
    if (c.id !== state.conversationId && c.unread_count) state.elsewhere.add(c.id);
  showListButton();
  state.synced = true;
  return head.cursor;
}

// One of the visitor's conversations in the chat view: its history, receipts and rating.
async function load(conversation) {
  state.conversationId = conversation.id;
  state.operatorRead = conversation.operator_read_message_id || null;
  state.receiptSent = conversation.visitor_read_message_id || null;
  state.elsewhere.delete(conversation.id);
  const path = `/api/v1/widget/conversations/${encodeURIComponent(conversation.id)}/messages?limit=200`;
  const { messages } = await api("GET", path);
  const chat = ensureChat();
  chat.clear();
  for (const message of messages) chat.add(message);
  showSeen();
  countUnread(messages);
  showRating(conversation);
}

// The list of conversations (list.js, loaded when asked for): from the header's button,
// shown once the visitor has a conversation (there is one to go back to or start beside).
function showListButton() {
  const button = $("list");
  button.hidden = !session.token || !state.conversations.length;
  button.toggleAttribute("data-unread", state.elsewhere.size > 0);
}

async function showList() {
  if ($("body").querySelector(".convs")) return backToChat();
  const [{ conversationList }, { conversations }] = await Promise.all([
    import("./list.js"),
    api("GET", "/api/v1/widget/conversations"),
  ]);
  state.conversations = conversations;
  const list = conversationList({
    conversations,
    current: state.fresh ? null : state.conversationId,
    locale: formatLocale(),
    words: {
      title: t("conversations"),
      start: t("new_conversation"),
      unread: (count) => t("new_replies", { count }),
      resolved: t("resolved"),
      file: t("attachment"),
    },
    onPick: (conversation) => serial(() => pick(conversation)),
    onNew: () => serial(startNew),
  });
  $("body").replaceChildren(list);
  $("list").setAttribute("aria-expanded", "true");
  focusFirstField($("body"));
}

// Asked for by the host page (chatdesk.showConversations()): the list, when the header's
// button offers one; a visitor with no conversation yet stays where the chat starts. An
// open list stays open (the button toggles, this call does not).
async function showConversations() {
  if (!$("list").hidden && !$("body").querySelector(".convs")) await showList();
}

function backToChat() {
  $("list").setAttribute("aria-expanded", "false");
  $("body").querySelector(".convs")?.remove();
  ensureChat();
  focusFirstField($("body"));
}

async function pick(conversation) {
  state.fresh = false;
  if (conversation.id !== state.conversationId) {
    rating?.element.remove();
    rating = null;
    await load(conversation);
  }
  showListButton();
  backToChat();
  if (state.open) markSeen();
}

function startNew() {
  state.fresh = true;
  state.conversationId = null;
  state.operatorRead = null;
  state.receiptSent = null;
  rating?.element.remove();
  rating = null;
  ensureChat().clear();
  backToChat();
}

function countUnread(messages) {
  const seen = store.get("seen");
  const index = messages.findIndex((m) => m.id === seen);
  if (state.open || (seen === null && messages.length)) return markSeen();
  const later = index < 0 ? [] : messages.slice(index + 1);
  setUnread(later.filter((m) => m.author.type !== "visitor").length);
}

async function connect(cursor) {
  if (stream) stream.stop();
  if (cursor === null) cursor = (await api("GET", "/api/v1/widget/events?wait=0")).cursor;
  stream = openStream({
    session,
    cursor,
    onEvents,
    onExpired: () => serial(() => null).then(sync),
    onState: (up) => {
      state.online = up;
      status();
    },
  });
}

function onEvents(events) {
  for (const event of events) {
    if (event.type === "conversation.created" && !state.conversationId && !state.fresh)
      state.conversationId = event.conversation_id;
    if (event.type === "typing" && event.data.author && event.data.author.type === "operator") {
      if (event.conversation_id === state.conversationId)
        ensureChat().typing(event.data.author.name);
    }
    if (event.type === "conversation.updated") showRating(event.data.conversation);
    if (event.type === "conversation.read" && event.data.by === "operator") {
      const id = event.data.message_id;
      if (event.conversation_id === state.conversationId && !(state.operatorRead >= id)) {
        state.operatorRead = id;
        showSeen();
      }
    }
    if (event.type !== "message.created" || !event.data.message || event.data.message.private)
      continue;
    const message = event.data.message;
    if (!state.conversationId && !state.fresh) state.conversationId = message.conversation_id;
    const incoming = message.author.type !== "visitor";
    if (message.conversation_id !== state.conversationId) {
      // A reply in another of the visitor's conversations: marked on the list's button.
      if (!incoming) continue;
      state.elsewhere.add(message.conversation_id);
      showListButton();
      if (!state.open || document.hidden) {
        setUnread(state.unread + 1, message);
        beep();
      }
      continue;
    }
    const added = ensureChat().add(message, { announce: incoming });
    if (added && !incoming) showSeen();
    if (added && incoming) {
      if (state.open && !document.hidden) markSeen();
      else {
        setUnread(state.unread + 1, message);
        beep();
      }
    }
  }
}

function status() {
  const config = state.config;
  if (!config) return;
  const away = t(config.email_enabled ? "away_email" : "away");
  // The site's own words (its settings' "reply time"); empty: no line.
  let text = config.online ? siteText("reply_time") || "" : away;
  if (!state.online) text = t("reconnecting");
  $("status").textContent = text;
}

async function identify(token) {
  if (!token) {
    if (store.get("sub")) {
      forget();
      showStart();
    }
    return;
  }
  const sub = subjectOf(token);
  if (session.token && sub && sub === store.get("sub")) return;
  const body = {
    site_key: siteKey,
    identity_token: token,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  };
  if (pageUrl) body.page_url = pageUrl;
  const created = await api("POST", "/api/v1/widget/sessions", body);
  forget();
  session.token = created.visitor_token;
  store.set("token", session.token);
  store.set("sub", sub);
  rememberProfile(created.visitor);
  ensureChat();
  await connect(await sync());
}

function subjectOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(part)).sub || "");
  } catch {
    return "";
  }
}

async function setVisitor(fields) {
  const changes = {};
  for (const key of ["name", "email"])
    if (typeof fields[key] === "string" && fields[key].trim()) changes[key] = fields[key].trim();
  if (!Object.keys(changes).length) return;
  profile = { ...profile, ...changes };
  store.set("profile", profile);
  if (session.token) rememberProfile(await api("PATCH", "/api/v1/widget/visitor", changes));
  else if ($("body").querySelector(".prechat") && !needsForm()) ensureChat();
}

async function setPage(url) {
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) return;
  pageUrl = url.slice(0, 2000);
  if (session.token && store.get("page") !== pageUrl) {
    await api("PATCH", "/api/v1/widget/visitor", { page_url: pageUrl });
    store.set("page", pageUrl);
  }
}

function needsForm() {
  const { prechat, online } = state.config;
  if (!online) return true;
  return (prechat.name !== "off" && !profile.name) || (prechat.email !== "off" && !profile.email);
}

function showStart() {
  const config = state.config;
  if (!config) return;
  if (config.identity_required && !session.token) {
    $("body").replaceChildren(el("p", { class: "empty", text: t("sign_in") }));
  } else if (!session.token && needsForm()) {
    const form = prechatForm({
      greeting: siteText("greeting"),
      prechat: config.prechat,
      offline: !config.online,
      offlineMessage: siteText("offline_message"),
      emailEnabled: config.email_enabled,
      profile,
      onSubmit: submitForm,
    });
    $("body").replaceChildren(form);
  } else {
    ensureChat();
  }
  if (state.open) focusFirstField($("body"));
}

async function submitForm(values) {
  try {
    await ensureSession({ name: values.name, email: values.email });
  } catch (error) {
    if (error instanceof ApiError) throw new Error(explain(error));
    throw error;
  }
  const chat = ensureChat();
  if (values.message) {
    outbox.add(values.message);
    // A reply by email is promised only when chatdesk sends email.
    chat.note(
      state.config.email_enabled && values.email
        ? t("thanks_email", { email: values.email })
        : t("thanks"),
    );
  }
  focusFirstField($("body"));
}

// Whether the site is online can change while the page stays open (business hours, the
// team's presence): opening the chat after a while reads the config again.
const CONFIG_MAX_AGE_MS = 60000;
let configReadAt = 0;

async function readConfig() {
  const path = `/api/v1/widget/config?site_key=${encodeURIComponent(siteKey)}`;
  const { site } = await api("GET", path);
  configReadAt = Date.now();
  return site;
}

async function refreshConfig() {
  if (!state.config || Date.now() - configReadAt < CONFIG_MAX_AGE_MS) return;
  let config;
  try {
    config = await readConfig();
  } catch {
    return; // keep what we have; the next opening tries again
  }
  const changed = config.online !== state.config.online;
  applyConfig(config);
  // A visitor who has not started yet gets the start that fits (the away form or not);
  // a conversation under way keeps its view, with the new status line.
  if (changed && !session.token) showStart();
}

function applyConfig(config) {
  state.config = config;
  document.title = t("chat_with", { name: config.name });
  $("title").textContent = config.name;
  const root = document.documentElement.style;
  root.setProperty("--accent", config.accent_color);
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(config.accent_color.slice(i, i + 2), 16));
  root.setProperty("--on-accent", r * 0.299 + g * 0.587 + b * 0.114 > 160 ? "#111827" : "#ffffff");
  paint();
  // Up to three of the team online: their faces, named by their first names.
  $("faces").replaceChildren(
    ...(config.team || []).map((face) =>
      el("img", { src: face.avatar_url, alt: face.name, title: face.name }),
    ),
  );
  status();
}

// The site's theme, or with "auto" the visitor's light or dark setting (followed live).
const darkQuery = matchMedia("(prefers-color-scheme: dark)");
function paint() {
  const theme = state.config?.theme || "auto";
  document.documentElement.dataset.theme =
    theme === "auto" ? (darkQuery.matches ? "dark" : "light") : theme;
}
darkQuery.addEventListener("change", paint);

function wireChrome() {
  trapFocus($("chat"), () => post("close"));
  $("list").addEventListener("click", () => serial(showList));
  $("close").addEventListener("click", () => post("close"));
  const sound = $("sound");
  const show = () => sound.setAttribute("aria-pressed", String(store.get("sound", false)));
  sound.addEventListener("click", () => {
    store.set("sound", !store.get("sound", false));
    show();
  });
  show();
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.open) markSeen();
  });
}

// History and the stream for a returning visitor; retried with backoff while the network is down.
async function resume(attempt) {
  try {
    await connect(await sync());
    if (attempt) notice("");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // start over as a new visitor
    report(error);
    setTimeout(() => serial(() => resume(attempt + 1)), Math.min(30000, 2000 * 2 ** attempt));
  }
}

// The site's language setting or the browser's: its catalog, its direction, its dates.
async function useLocale(setting, overrides) {
  await loadLocale(pickLocale(setting), overrides);
  setDayLocale(formatLocale());
  translatePage();
}

async function boot() {
  wireChrome();
  post("ready");
  let config;
  try {
    config = await readConfig();
  } catch (error) {
    await useLocale("auto");
    $("body").replaceChildren(
      el("p", {
        class: "empty",
        text: error.status === 404 ? t("not_available") : explain(error),
      }),
    );
    return;
  }
  await useLocale(config.locale, config.strings);
  applyConfig(config);
  post("unread", { count: state.unread });
  if (session.token) {
    ensureChat();
    await resume(0);
  }
  if (!session.token || !view?.element.isConnected) showStart();
  outbox.restore();
  if (state.open) focusFirstField($("body"));
}

serial(boot);
