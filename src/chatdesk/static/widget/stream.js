// The visitor's event stream: fetch() streaming SSE (long-poll as a fallback), resumed from
// the cursor after every drop, with backoff. EventSource is not used: it cannot send the
// Authorization header, and the token must never be in a URL.

import { ApiError, errorFrom } from "./api.js";

const EVENTS = "/api/v1/widget/events";
const SILENCE_MS = 45000; // no byte (not even a ping) for this long: the connection is dead
const MAX_DELAY_MS = 30000;

export function parseBlock(block) {
  let id = null;
  let data = "";
  for (const line of block.split("\n")) {
    if (!line || line[0] === ":") continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = value;
    else if (field === "data") data += (data ? "\n" : "") + value;
  }
  return data ? { id, event: JSON.parse(data) } : null;
}

export function openStream({ session, cursor, onEvents, onExpired, onState }) {
  let stopped = false;
  let controller = null;
  let wake = null;
  let useSse = typeof ReadableStream !== "undefined" && typeof TextDecoderStream !== "undefined";

  const sleep = (ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  function headers(accept) {
    const value = { Accept: accept, Authorization: `Bearer ${session.token}` };
    if (accept === "text/event-stream" && cursor !== null) value["Last-Event-ID"] = String(cursor);
    return value;
  }

  function deliver(events) {
    for (const event of events) if (event.id !== null && event.id > cursor) cursor = event.id;
    if (events.length) onEvents(events);
  }

  async function readSse(signal) {
    const response = await fetch(EVENTS, {
      headers: headers("text/event-stream"),
      signal,
      cache: "no-store",
      credentials: "omit",
    });
    if (!response.ok) throw await errorFrom(response);
    if (!response.body) {
      useSse = false;
      return;
    }
    onState(true);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
        buffer = (buffer + value).replace(/\r\n?/g, "\n");
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const parsed = parseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (parsed) deliver([parsed.event]);
        }
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  async function longPoll(signal) {
    const query = cursor === null ? "?wait=0" : `?wait=25&after=${cursor}`;
    const timer = setTimeout(() => controller.abort(), 40000);
    try {
      const response = await fetch(EVENTS + query, {
        headers: headers("application/json"),
        signal,
        cache: "no-store",
        credentials: "omit",
      });
      if (!response.ok) throw await errorFrom(response);
      onState(true);
      const body = await response.json();
      deliver(body.events);
      cursor = body.cursor;
    } finally {
      clearTimeout(timer);
    }
  }

  async function run() {
    let delay = 1000;
    while (!stopped) {
      controller = new AbortController();
      try {
        await (useSse ? readSse : longPoll)(controller.signal);
        delay = 1000;
        if (useSse && !stopped) await sleep(250); // the server closed a healthy stream
      } catch (error) {
        if (stopped) return;
        if (
          error instanceof ApiError &&
          (error.code === "cursor_expired" || error.status === 410)
        ) {
          cursor = await onExpired(); // refetched history; continue from a fresh head
          continue;
        }
        if (error instanceof ApiError && error.status === 401) return; // the session is gone
        onState(false);
        const retry = error instanceof ApiError && error.retryAfter ? error.retryAfter * 1000 : 0;
        await sleep(Math.max(retry, delay * (0.75 + Math.random() / 2)));
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
    }
  }

  function reconnect() {
    if (controller) controller.abort();
    if (wake) wake();
  }
  const onOnline = () => reconnect();
  const onOffline = () => controller?.abort();
  window.addEventListener("online", onOnline);
  window.addEventListener("offline", onOffline);
  run();

  return {
    get cursor() {
      return cursor;
    },
    stop() {
      stopped = true;
      window.removeEventListener("online", onOnline);
      window.removeEventListener("offline", onOffline);
      reconnect();
    },
  };
}
