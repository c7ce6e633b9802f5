// Messages on their way out. Each keeps its client_msg_id for life, so a retry (automatic
// or the Retry button) can never store it twice: the server answers a repeat with the
// stored message. Kept in storage, so a reload does not lose a word.

export function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `w-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export function makeOutbox({ store, view, deliver, explain, onSent }) {
  let items = store.get("outbox", []);
  let busy = false;
  let timer = null;
  let delay = 2000;

  const save = () => store.set("outbox", items.length ? items : null);

  async function pump() {
    if (busy) return;
    busy = true;
    clearTimeout(timer);
    try {
      for (let item = next(); item; item = next()) {
        view().showPending(item);
        try {
          await deliver(item);
        } catch (error) {
          const reason = explain(error);
          if (!error.transient) item.failed = true; // needs the visitor's Retry
          save();
          for (const other of items) view().showPending(other, reason);
          if (!error.transient) continue;
          timer = setTimeout(pump, error.retryAfter ? error.retryAfter * 1000 : delay);
          delay = Math.min(delay * 2, 30000);
          return;
        }
        items = items.filter((other) => other !== item);
        save();
        view().dropPending(item.client_msg_id);
        delay = 2000;
        onSent();
      }
    } finally {
      busy = false;
    }
  }

  function next() {
    return items.find((item) => !item.failed);
  }

  window.addEventListener("online", () => pump());

  return {
    add(body, attachments = []) {
      const item = { client_msg_id: newId(), body, attachments };
      items.push(item);
      save();
      view().showPending(item);
      pump();
    },
    retry() {
      for (const item of items) delete item.failed;
      save();
      pump();
    },
    restore() {
      for (const item of items) view().showPending(item);
      if (items.length) pump();
    },
  };
}
