// Blocking an abusive visitor from the visitor panel (ADR 0018): any operator of the
// visitor's site may block them for a set time; admins and owners lift a block, here or
// in Settings → Blocks.
import { api, query } from "./api.js";
import { clear, h } from "./dom.js";
import { checkbox, confirmButton, field, select } from "./forms.js";
import { formatDateTime } from "./time.js";

export const DURATIONS = [
  ["3600", "1 hour"],
  ["86400", "24 hours"],
  ["604800", "7 days"],
  ["2592000", "30 days"],
];

const mayLift = () => ["admin", "owner"].includes(document.body.dataset.role);

/** A block's one-line summary: until when, and what it covers. */
export function blockSummary(block) {
  const also = [];
  if (block.external_id) also.push("their signed-in account on any device");
  if (block.ip) also.push(`anyone from ${block.ip}`);
  const more = also.length ? `, with ${also.join(" and ")}` : "";
  return `Blocked until ${formatDateTime(block.expires_at)}${more}.`;
}

export class BlockBox {
  constructor(node) {
    this.node = node;
    this.visitorId = null;
  }

  async show(visitor) {
    this.visitorId = visitor?.id || null;
    clear(this.node);
    if (!this.visitorId) return;
    const visitorId = this.visitorId;
    let blocks = [];
    try {
      blocks = (await api("GET", `/api/v1/blocks${query({ visitor_id: visitorId })}`)).blocks;
    } catch (error) {
      if (this.visitorId === visitorId) this.status(error.message, true);
      return;
    }
    if (this.visitorId !== visitorId) return;
    clear(this.node);
    if (blocks.length) this.renderBlocked(visitor, blocks[0]);
    else this.renderForm(visitor);
  }

  status(text, error = false) {
    let line = this.node.querySelector(".block-status");
    if (!line) {
      line = h("p", { class: "block-status", role: "status" });
      this.node.appendChild(line);
    }
    line.textContent = text;
    line.classList.toggle("error", error);
  }

  renderBlocked(visitor, block) {
    this.node.appendChild(h("p", { class: "blocked-note", text: blockSummary(block) }));
    if (block.reason) {
      this.node.appendChild(h("p", { class: "muted small", text: `Reason: ${block.reason}` }));
    }
    if (mayLift()) {
      this.node.appendChild(
        confirmButton("Lift block", "Click again to lift", async () => {
          try {
            await api("DELETE", `/api/v1/blocks/${encodeURIComponent(block.id)}`);
            await this.show(visitor);
            this.status("The block was lifted.");
          } catch (error) {
            this.status(error.message, true);
          }
        }),
      );
    } else {
      this.node.appendChild(h("p", { class: "muted small", text: "An admin can lift it." }));
    }
  }

  renderForm(visitor) {
    const duration = select(DURATIONS, "86400", { id: "block-duration" });
    const address = checkbox("Also block their address (IP) for that time");
    const reason = h("input", {
      id: "block-reason",
      maxlength: 500,
      autocomplete: "off",
      placeholder: "Spam, abuse…",
    });
    const run = async () => {
      try {
        await api("POST", "/api/v1/blocks", {
          visitor_id: visitor.id,
          duration_seconds: Number(duration.value),
          include_ip: address.input.checked,
          reason: reason.value.trim() || null,
        });
        await this.show(visitor);
        this.status("Blocked: they can read their chat but not write.");
      } catch (error) {
        this.status(error.message, true);
      }
    };
    this.node.append(
      h(
        "p",
        { class: "muted small" },
        "A blocked visitor can no longer write or start a chat; they are told so politely.",
      ),
      field("Block for", duration),
      address.node,
      field("Reason (optional, for your team)", reason),
      confirmButton("Block visitor", "Click again to block", run),
    );
  }
}
