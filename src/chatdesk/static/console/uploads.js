// Files on their way into the open conversation: picked with the paperclip, dropped on
// the conversation, or pasted (a screenshot). Each uploads at once, with its progress;
// the message that follows carries those that arrived (attachment_ids).
import { formatSize, uploadFile } from "../shared/attachments.js";
import { csrfHeader } from "./api.js";
import { clear, h } from "./dom.js";
import { state } from "./state.js";

const MAX_FILES = 10; // what one message may carry

export class Uploads {
  constructor({ onChange }) {
    this.onChange = onChange;
    this.items = []; // {file, conversation_id, progress, attachment, error, controller, done}
    this.list = document.getElementById("composer-files");
    this.picker = document.getElementById("file-picker");
    this.button = document.getElementById("attach");
    this.status = document.getElementById("upload-status");
    this.button.addEventListener("click", () => this.picker.click());
    this.picker.addEventListener("change", () => {
      this.add([...this.picker.files]);
      this.picker.value = "";
    });
  }

  /** Take files dropped on ``zone`` (the conversation) as they come. */
  acceptDrops(zone) {
    zone.addEventListener("dragover", (event) => {
      if (!state.openId || !event.dataTransfer?.types.includes("Files")) return;
      event.preventDefault();
      zone.classList.add("dropping");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("dropping");
    });
    zone.addEventListener("drop", (event) => {
      zone.classList.remove("dropping");
      if (!state.openId || !event.dataTransfer?.files.length) return;
      event.preventDefault();
      this.add([...event.dataTransfer.files]);
    });
  }

  /** Files pasted into ``input`` (a screenshot) are uploaded; text pastes as usual. */
  acceptPastes(input) {
    input.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (!files.length) return;
      event.preventDefault();
      this.add(files);
    });
  }

  add(files) {
    const conversationId = state.openId;
    if (!conversationId) return;
    for (const file of files) {
      if (this.items.length >= MAX_FILES) {
        this.status.textContent = `A message carries at most ${MAX_FILES} files.`;
        break;
      }
      const item = { file, conversation_id: conversationId, progress: 0, error: "" };
      this.items.push(item);
      this.start(item);
    }
    this.render();
  }

  start(item) {
    item.controller = new AbortController();
    const path = `/api/v1/conversations/${encodeURIComponent(item.conversation_id)}/attachments`;
    item.done = uploadFile(path, item.file, {
      headers: csrfHeader(),
      signal: item.controller.signal,
      onProgress: (fraction) => {
        item.progress = fraction;
        const bar = this.list.querySelector(`[data-index="${this.items.indexOf(item)}"] progress`);
        if (bar) bar.value = fraction;
      },
    }).then(
      (attachment) => {
        item.attachment = attachment;
        this.status.textContent = `${attachment.name} is ready to send.`;
        this.render();
      },
      (failure) => {
        if (failure.aborted) return;
        item.error = failure.message || "Cannot reach the server. Check your connection.";
        this.render();
      },
    );
  }

  remove(item) {
    item.controller?.abort();
    this.items = this.items.filter((other) => other !== item);
    this.render();
  }

  /** Forget every file (another conversation was opened). */
  reset() {
    for (const item of this.items) item.controller?.abort();
    this.items = [];
    this.render();
  }

  get pending() {
    return this.items.length > 0;
  }

  /** Once every upload has ended: the attachments that arrived (taken off the list) and
   * whether some failed (those stay, with their reason, to be removed or retried). */
  async take() {
    await Promise.all(this.items.map((item) => item.done));
    const ready = this.items.filter((item) => item.attachment);
    this.items = this.items.filter((item) => !item.attachment);
    this.render();
    return { attachments: ready.map((item) => item.attachment), failed: this.items.length > 0 };
  }

  render() {
    clear(this.list);
    this.list.hidden = this.items.length === 0;
    this.items.forEach((item, index) => {
      const name = item.file.name || "pasted image";
      let state = h("progress", {
        max: "1",
        value: String(item.progress),
        "aria-label": `Uploading ${name}`,
      });
      if (item.attachment) state = h("span", { class: "muted small", text: "Ready" });
      if (item.error) state = h("span", { class: "upload-error", role: "alert", text: item.error });
      this.list.appendChild(
        h(
          "li",
          { class: "composer-file", dataset: { index } },
          h("span", { class: "composer-file-name", text: name }),
          h("span", { class: "muted small", text: formatSize(item.file.size) }),
          state,
          h("button", {
            type: "button",
            class: "link-button",
            "aria-label": `Remove ${name}`,
            text: "Remove",
            onclick: () => this.remove(item),
          }),
        ),
      );
    });
    this.onChange?.();
  }
}
