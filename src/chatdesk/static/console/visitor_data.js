// A visitor's data on their request, from the visitor panel (admins and owners): download
// everything stored about them, or erase them with their conversations and files.
import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { confirmButton } from "./forms.js";

const mayManage = () => ["admin", "owner"].includes(document.body.dataset.role);

export class VisitorData {
  constructor(node, { onErased }) {
    this.node = node;
    this.onErased = onErased;
  }

  show(visitor) {
    clear(this.node);
    this.node.hidden = !visitor || !mayManage();
    if (this.node.hidden) return;
    const status = h("p", { class: "muted small", role: "status" });
    const download = h("button", {
      type: "button",
      class: "button small-button",
      text: "Download their data",
      onclick: async () => {
        try {
          const data = await api(
            "GET",
            `/api/v1/visitors/${encodeURIComponent(visitor.id)}/export`,
          );
          const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
          const link = h("a", {
            href: URL.createObjectURL(blob),
            download: `visitor-${visitor.id}.json`,
          });
          document.body.appendChild(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
          status.textContent = "Downloaded.";
        } catch (error) {
          status.textContent = error.message;
        }
      },
    });
    const erase = confirmButton(
      "Erase this visitor",
      "Erase for good?",
      async () => {
        try {
          await api("DELETE", `/api/v1/visitors/${encodeURIComponent(visitor.id)}`);
          status.textContent = "Erased, with their conversations and files.";
          this.onErased(visitor);
        } catch (error) {
          status.textContent = error.message;
        }
      },
      { "aria-label": "Erase this visitor with their conversations and files" },
    );
    this.node.append(
      h("p", {
        class: "muted small",
        text: "For a visitor's request to see or remove what is stored about them.",
      }),
      h("div", { class: "copy-row" }, download, erase),
      status,
    );
  }
}
