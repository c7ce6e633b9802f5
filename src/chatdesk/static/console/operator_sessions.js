// Settings → Operators → "Sessions": an operator's signed-in devices, for admins (an
// owner's: owners), with "Sign out" per device and "Sign out everywhere"
// (GET/DELETE /api/v1/operators/{id}/sessions[/{session_id}]).
import { api } from "./api.js";
import { h } from "./dom.js";
import { attempt, root, say } from "./section.js";
import { formatDateTime } from "./time.js";

const base = (op) => `/api/v1/operators/${encodeURIComponent(op.id)}/sessions`;

function sessionItem(op, session, reload) {
  return h(
    "li",
    { class: "session-item" },
    h("strong", { text: session.device }),
    h("span", {
      class: "muted small",
      text: ` ${session.ip || "no address"} · signed in ${formatDateTime(session.signed_in_at)} · last seen ${formatDateTime(session.last_seen_at)} `,
    }),
    h("button", {
      type: "button",
      class: "button small-button",
      text: "Sign out",
      "aria-label": `Sign out ${op.name}'s ${session.device}`,
      onclick: async () => {
        const path = `${base(op)}/${encodeURIComponent(session.id)}`;
        const done = await attempt(
          () => api("DELETE", path),
          `${op.name}'s ${session.device} was signed out.`,
        );
        if (done !== undefined) reload(); // null: signed out (204); undefined: refused
      },
    }),
  );
}

async function showRow(op, row) {
  const { sessions } = await api("GET", base(op));
  const reload = () => showRow(op, row);
  const everywhere = h("button", {
    type: "button",
    class: "button small-button danger",
    text: "Sign out everywhere",
    "aria-label": `Sign out ${op.name} everywhere`,
    disabled: sessions.length === 0,
    onclick: async () => {
      const done = await attempt(
        () => api("DELETE", base(op)),
        `${op.name} was signed out everywhere.`,
      );
      if (done !== undefined) reload();
    },
  });
  const list = sessions.length
    ? h(
        "ul",
        { class: "session-list", "aria-label": `Signed-in devices of ${op.name}` },
        sessions.map((session) => sessionItem(op, session, reload)),
      )
    : h("p", { class: "muted small", text: `${op.name} is not signed in anywhere.` });
  const next = h(
    "tr",
    { class: "sessions-row", dataset: { sessionsOf: op.id } },
    h("td", { colspan: 7 }, list, everywhere),
  );
  const shown = root.querySelector(`tr[data-sessions-of="${CSS.escape(op.id)}"]`);
  if (shown) shown.replaceWith(next);
  else row.after(next);
}

/** "Sessions": shows (or hides) the operator's devices under their row. */
export function sessionsButton(op) {
  return h("button", {
    type: "button",
    class: "button small-button",
    text: "Sessions",
    "aria-label": `Sessions of ${op.name}`,
    onclick: async (event) => {
      const row = event.currentTarget.closest("tr");
      const shown = root.querySelector(`tr[data-sessions-of="${CSS.escape(op.id)}"]`);
      if (shown) {
        shown.remove();
        return;
      }
      try {
        await showRow(op, row);
      } catch (failure) {
        say(failure.message, { error: true });
      }
    },
  });
}
