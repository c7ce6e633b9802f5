// The visitor's files on their way into the conversation (loaded when the first one is
// picked, dropped or pasted): each uploads at once with its progress, into the list the
// view shows above the composer; the next message carries those that arrived. Picked
// before there is a conversation (the first message starts it), a file waits: ``start()``
// uploads the waiting ones once there is. Words come from the caller (``words``), as the
// frame's do.
import { formatSize, uploadFile } from "../shared/attachments.js";
import { el } from "./dom.js";

const MAX_FILES = 10;

export function makeUploads({ list, path, token, words, onProblem }) {
  let items = []; // {file, progress, attachment, error, controller, done, node}

  function add(files) {
    for (const file of files) {
      if (items.length >= MAX_FILES) {
        onProblem(words.tooMany(MAX_FILES));
        break;
      }
      const item = { file, progress: 0 };
      item.controller = new AbortController();
      items.push(item);
      upload(item);
    }
    render();
  }

  function upload(item) {
    const target = path();
    item.waiting = !target;
    if (item.waiting) return;
    item.done = uploadFile(target, item.file, {
      headers: { Authorization: `Bearer ${token()}` },
      cookies: false,
      signal: item.controller.signal,
      onProgress(fraction) {
        item.progress = fraction;
        const bar = item.node?.querySelector("progress");
        if (bar) bar.value = fraction;
      },
    }).then(
      (attachment) => {
        item.attachment = attachment;
        render();
      },
      (failure) => {
        if (failure.aborted) return;
        item.error = failure.message || words.offline;
        render();
      },
    );
  }

  function render() {
    list.replaceChildren();
    list.hidden = items.length === 0;
    for (const item of items) {
      const name = item.file.name || words.pasted;
      let state = el("progress", { max: "1", "aria-label": words.uploading(name) });
      state.value = item.progress;
      if (item.waiting) state = el("span", { class: "upload-ready", text: words.waiting });
      if (item.attachment) state = el("span", { class: "upload-ready", text: words.ready });
      if (item.error)
        state = el("span", { class: "upload-error", role: "alert", text: item.error });
      const remove = el("button", {
        type: "button",
        class: "upload-remove",
        "aria-label": words.remove(name),
        text: "×",
      });
      remove.addEventListener("click", () => {
        item.controller.abort();
        items = items.filter((other) => other !== item);
        render();
      });
      item.node = el(
        "li",
        { class: "upload" },
        el("span", { class: "upload-name", text: name }),
        el("span", { class: "upload-size", text: formatSize(item.file.size, words.locale) }),
        state,
        remove,
      );
      list.append(item.node);
    }
  }

  return {
    add,
    get pending() {
      return items.length > 0;
    },
    /** Files waiting for the conversation to exist. */
    get waiting() {
      return items.some((item) => item.waiting);
    },
    /** Uploads the waiting files (there is a conversation now). */
    start() {
      for (const item of items) if (item.waiting) upload(item);
      render();
    },
    /** Once every upload has ended: the attachments that arrived, taken off the list
     * (waiting files stay). */
    async take() {
      await Promise.all(items.filter((item) => !item.waiting).map((item) => item.done));
      const ready = items.filter((item) => item.attachment).map((item) => item.attachment);
      items = items.filter((item) => !item.attachment);
      render();
      return ready;
    },
  };
}
