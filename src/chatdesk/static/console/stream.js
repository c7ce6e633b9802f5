// The console's live connection: EventSource on /api/v1/events (session cookie).
//
// On any error (a drop, a restart, a non-200 answer) we close the EventSource and
// ask the long-poll endpoint what is wrong: 410 cursor_expired -> resync over REST
// and continue from the new head; 401 -> sign in again; anything else -> reconnect
// with backoff (250 ms doubling to 10 s) from our own cursor.
// Every stored event has an id; anything at or below the cursor is a duplicate.
import { ApiError, api, goToLogin, query } from "./api.js";

const TYPES = [
  "conversation.created",
  "conversation.updated",
  "conversation.read",
  "message.created",
  "visitor.updated",
  "typing",
  "operator.presence",
];

export class LiveStream {
  constructor({ onEvent, onResync, onStatus, onSignedOut }) {
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onStatus = onStatus || (() => {});
    // The session ended (401): by default, sign in again at once.
    this.onSignedOut = onSignedOut || goToLogin;
    this.cursor = null;
    this.source = null;
    this.retries = 0;
    this.timer = null;
    window.addEventListener("online", () => this.reconnect(0));
  }

  /** The current head of the event log (where "now" is). */
  async head() {
    const body = await api("GET", `/api/v1/events${query({ wait: 0 })}`);
    return body.cursor;
  }

  /** Start at ``cursor`` (taken before the REST state was loaded, so nothing falls between). */
  start(cursor) {
    this.cursor = cursor;
    this.connect();
  }

  connect() {
    this.close();
    const source = new EventSource(`/api/v1/events${query({ after: this.cursor })}`);
    this.source = source;
    for (const type of TYPES) source.addEventListener(type, (message) => this.receive(message));
    source.onopen = () => {
      this.retries = 0;
      this.onStatus("live");
    };
    source.onerror = () => {
      if (source !== this.source) return;
      // Take over from the browser's own retry: find out why, then reconnect quickly
      // (server restarts) or resync (410) or sign in again (401).
      this.onStatus("reconnecting");
      this.diagnose();
    };
  }

  receive(message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event.id !== null && event.id !== undefined) {
      if (this.cursor !== null && event.id <= this.cursor) return; // seen already
      this.cursor = event.id;
    }
    try {
      this.onEvent(event);
    } catch (error) {
      console.error("event handler failed", error);
    }
  }

  close() {
    if (this.source) {
      this.source.onerror = null;
      this.source.close();
      this.source = null;
    }
    clearTimeout(this.timer);
  }

  reconnect(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  async diagnose() {
    this.close();
    try {
      // wait=0 answers at once: events (which we leave to the stream) or an error.
      await api("GET", `/api/v1/events${query({ after: this.cursor, wait: 0 })}`, undefined, {
        redirectOn401: false,
      });
      this.backoff();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.onSignedOut();
      } else if (error instanceof ApiError && error.status === 410) {
        await this.resync();
      } else {
        this.backoff();
      }
    }
  }

  backoff() {
    const delay = Math.min(10000, 250 * 2 ** this.retries);
    this.retries += 1;
    this.reconnect(delay);
  }

  /** The cursor expired: reload state over REST, continue from the new head. */
  async resync() {
    try {
      const cursor = await this.head();
      await this.onResync();
      this.cursor = cursor;
      this.connect();
    } catch {
      this.backoff();
    }
  }
}
