// The visitor panel: who they are, where they are, what time it is for them, their history.
import { attachmentList } from "../shared/attachments.js";
import { plainText } from "../shared/message-text.js";
import { api, query } from "./api.js";
import { BlockBox } from "./blocking.js";
import { clear, h } from "./dom.js";
import { state } from "./state.js";
import { formatDateTime, formatZoneTime, shortTime } from "./time.js";
import { ratingText } from "./timeline.js";
import { VisitorData } from "./visitor_data.js";

/** "Chrome 120 on macOS" from a User-Agent string (best effort, never trusted). */
export function describeBrowser(ua) {
  if (!ua) return "Unknown";
  const browsers = [
    [/Edg(?:e|A|iOS)?\/(\d+)/, "Edge"],
    [/OPR\/(\d+)/, "Opera"],
    [/SamsungBrowser\/(\d+)/, "Samsung Internet"],
    [/Firefox\/(\d+)/, "Firefox"],
    [/FxiOS\/(\d+)/, "Firefox"],
    [/CriOS\/(\d+)/, "Chrome"],
    [/Chrom(?:e|ium)\/(\d+)/, "Chrome"],
    [/Version\/(\d+)[.\d]* (?:Mobile\/\S+ )?Safari/, "Safari"],
  ];
  const systems = [
    [/iPhone|iPad|iPod/, "iOS"],
    [/Android/, "Android"],
    [/Windows/, "Windows"],
    [/Mac OS X|Macintosh/, "macOS"],
    [/CrOS/, "ChromeOS"],
    [/Linux/, "Linux"],
  ];
  let browser = null;
  for (const [pattern, name] of browsers) {
    const match = pattern.exec(ua);
    if (match) {
      browser = `${name} ${match[1]}`;
      break;
    }
  }
  const system = systems.find(([pattern]) => pattern.test(ua))?.[1];
  if (!browser) return ua.slice(0, 80);
  return system ? `${browser} on ${system}` : browser;
}

export function localTime(timezone, now = new Date()) {
  const time = formatZoneTime(now, timezone);
  return time ? `${time} (${timezone})` : null;
}

function safeUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export class VisitorPanel {
  constructor({ onOpen, onErased }) {
    this.onOpen = onOpen;
    this.panel = document.getElementById("visitor-panel");
    this.facts = document.getElementById("visitor-facts");
    this.past = document.getElementById("visitor-past");
    this.files = document.getElementById("visitor-files");
    this.toggle = document.getElementById("details-toggle");
    this.closeButton = document.getElementById("details-close");
    this.visitor = null;
    this.blocking = new BlockBox(document.getElementById("visitor-block"));
    this.dataBox = document.getElementById("visitor-data-box");
    this.data = new VisitorData(document.getElementById("visitor-data"), {
      onErased: (visitor) => onErased?.(visitor),
    });
    this.toggle.addEventListener("click", () =>
      this.setOpen(!document.body.classList.contains("details-open")),
    );
    this.closeButton.addEventListener("click", () => this.setOpen(false));
    setInterval(() => this.visitor && this.renderFacts(), 30000);
  }

  setOpen(open) {
    document.body.classList.toggle("details-open", open);
    this.toggle.setAttribute("aria-expanded", String(open));
    if (open) this.closeButton.focus();
  }

  hide() {
    this.panel.hidden = true;
    this.visitor = null;
  }

  async show(conversation) {
    this.panel.hidden = false;
    this.visitor = conversation.visitor || null;
    this.renderFacts();
    clear(this.past);
    clear(this.files);
    this.blocking.show(this.visitor);
    this.data.show(this.visitor);
    this.dataBox.hidden = this.data.node.hidden;
    if (!this.visitor) return;
    const visitorId = this.visitor.id;
    this.showFiles(visitorId);
    try {
      const found = await api(
        "GET",
        `/api/v1/conversations${query({ visitor_id: visitorId, limit: 10 })}`,
      );
      if (this.visitor?.id !== visitorId) return;
      const others = found.conversations.filter((c) => c.id !== conversation.id);
      clear(this.past);
      if (!others.length)
        this.past.appendChild(h("li", { class: "muted", text: "No other conversations." }));
      for (const other of others) {
        this.past.appendChild(
          h(
            "li",
            {},
            h(
              "a",
              {
                href: `/admin/conversations/${encodeURIComponent(other.id)}`,
                onclick: (event) => {
                  event.preventDefault();
                  this.onOpen(other.id, { push: true });
                },
              },
              h("span", {
                class: "past-preview",
                text: plainText(other.last_message?.preview) || "—",
              }),
              h("span", {
                class: "muted small",
                text: ` ${shortTime(other.last_message_at)} · ${other.status}`,
              }),
              other.rating
                ? h("span", { class: "past-rating small", text: ratingText(other.rating) })
                : null,
            ),
          ),
        );
      }
    } catch {
      this.past.appendChild(
        h("li", { class: "muted", text: "Could not load past conversations." }),
      );
    }
  }

  /** A message with files arrived in the open conversation: list them too. */
  refreshFiles() {
    if (this.visitor) this.showFiles(this.visitor.id);
  }

  /** The files of every conversation of the visitor, newest first: images as thumbnails. */
  async showFiles(visitorId) {
    try {
      const { attachments } = await api(
        "GET",
        `/api/v1/visitors/${encodeURIComponent(visitorId)}/attachments`,
      );
      if (this.visitor?.id !== visitorId) return;
      clear(this.files);
      this.files.appendChild(
        attachmentList(attachments, { box: 88 }) ||
          h("p", { class: "muted", text: "No files shared yet." }),
      );
    } catch {
      this.files.appendChild(h("p", { class: "muted", text: "Could not load the files." }));
    }
  }

  update(visitor) {
    if (this.visitor && this.visitor.id === visitor.id) {
      this.visitor = visitor;
      this.renderFacts();
    }
  }

  renderFacts() {
    clear(this.facts);
    const v = this.visitor;
    if (!v) return;
    const url = v.page_url ? safeUrl(v.page_url) : null;
    const rows = [
      ["Name", v.name || "Visitor (no name given)"],
      ["Email", v.email ? h("a", { href: `mailto:${v.email}`, text: v.email }) : "—"],
      [
        "Page",
        url
          ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: v.page_url })
          : v.page_url || "—",
      ],
      ["Browser", describeBrowser(v.user_agent)],
      ["Local time", localTime(v.timezone) || "Unknown"],
      ["Site", state.sites.get(v.site_id) || "—"],
      ["First seen", formatDateTime(v.created_at) || "—"],
    ];
    if (v.external_id) rows.push(["Verified user", v.external_id]);
    for (const [term, value] of rows) {
      this.facts.append(h("dt", { text: term }), h("dd", {}, value));
    }
  }
}
