// Settings: the blocks of abusive visitors (ADR 0018), in force first; lifting one.
import { api, query } from "./api.js";
import { blockSummary } from "./blocking.js";
import { clear, h } from "./dom.js";
import { checkbox, confirmButton } from "./forms.js";
import { attempt, card, root } from "./section.js";
import { formatDateTime } from "./time.js";

let showEnded = false;

function blockRow(block, siteName) {
  const lift = block.active
    ? confirmButton(
        "Lift",
        "Click again to lift",
        async () => {
          const done = await attempt(
            () => api("DELETE", `/api/v1/blocks/${encodeURIComponent(block.id)}`),
            `The block of ${block.visitor_name || "the visitor"} was lifted.`,
          );
          if (done !== undefined) await renderBlocks();
        },
        { "aria-label": `Lift the block of ${block.visitor_name || "this visitor"}` },
      )
    : h("span", {
        class: "muted small",
        text: block.lifted_at ? `Lifted ${formatDateTime(block.lifted_at)}` : "Ran out",
      });
  return h(
    "tr",
    { dataset: { id: block.id } },
    h("td", { "data-label": "Visitor", text: block.visitor_name || "Visitor (no name)" }),
    h("td", { "data-label": "Site", text: siteName.get(block.site_id) || "—" }),
    h("td", { "data-label": "Covers", text: blockSummary(block) }),
    h("td", { "data-label": "Reason", text: block.reason || "—" }),
    h("td", { class: "row-actions" }, h("div", { class: "actions" }, lift)),
  );
}

export async function renderBlocks() {
  const [{ blocks }, { sites }] = await Promise.all([
    api("GET", `/api/v1/blocks${query({ include_ended: showEnded ? "true" : "" })}`),
    api("GET", "/api/v1/sites"),
  ]);
  const siteName = new Map(sites.map((s) => [s.id, s.name]));
  clear(root);
  const ended = checkbox("Show ended blocks too", showEnded, { id: "blocks-ended" });
  ended.input.addEventListener("change", () => {
    showEnded = ended.input.checked;
    renderBlocks();
  });
  root.appendChild(
    card(
      "Blocked visitors",
      h("p", {
        class: "muted small",
        text: "Operators block abusive visitors from a conversation's visitor panel. A blocked visitor can read their chat but not write, start a new one, or start a session from a blocked address. Admins and owners lift blocks.",
      }),
      ended.node,
      blocks.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "table stacked-table", "aria-label": "Blocks" },
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["Visitor", "Site", "Covers", "Reason"].map((x) =>
                    h("th", { scope: "col", text: x }),
                  ),
                  h(
                    "th",
                    { scope: "col" },
                    h("span", { class: "visually-hidden", text: "Actions" }),
                  ),
                ),
              ),
              h(
                "tbody",
                {},
                blocks.map((block) => blockRow(block, siteName)),
              ),
            ),
          )
        : h("p", { class: "muted", text: "Nobody is blocked." }),
    ),
  );
}
