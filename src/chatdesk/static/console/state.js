// What the console knows: the signed-in operator, the team, and every conversation seen.

const body = document.body;

export const state = {
  me: { id: body.dataset.operatorId, name: body.dataset.operatorName, role: body.dataset.role },
  team: new Map(), // operator id -> {id, name, role}
  sites: new Map(), // site id -> name
  labels: [],
  canned: [],
  conversations: new Map(), // id -> Conversation (with .visitor once known)
  openId: null,
};

/** Merge a Conversation from the API or an event; keeps the visitor an update lacks. */
/** Whether ``incoming`` is an older state than ``known``: an answer or an event that
 * comes after a newer change (a PATCH answered, a later event) arrived first. */
function older(incoming, known) {
  return Boolean(
    incoming.updated_at &&
      known?.updated_at &&
      Date.parse(incoming.updated_at) < Date.parse(known.updated_at),
  );
}

/** Keep what is known of a conversation. An older state never takes it back; it may
 * still bring the visitor. Partial objects (no updated_at) merge into what is known. */
export function remember(conversation) {
  const known = state.conversations.get(conversation.id);
  if (older(conversation, known)) {
    if (!known.visitor && conversation.visitor) {
      const withVisitor = { ...known, visitor: conversation.visitor };
      state.conversations.set(conversation.id, withVisitor);
      return withVisitor;
    }
    return known;
  }
  const merged = { ...(known || {}), ...conversation };
  if (!conversation.visitor && known?.visitor) merged.visitor = known.visitor;
  state.conversations.set(conversation.id, merged);
  return merged;
}

export function visitorName(conversation) {
  const name = conversation?.visitor?.name;
  return name?.trim() ? name : "Visitor";
}

export function operatorName(id) {
  if (!id) return "";
  if (id === state.me.id) return "You";
  return state.team.get(id)?.name || "Operator";
}

/** Newest activity first; ties broken by id, as the API orders them. */
export function byActivity(a, b) {
  if (a.last_message_at !== b.last_message_at)
    return a.last_message_at < b.last_message_at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function totalUnread() {
  let total = 0;
  for (const conversation of state.conversations.values()) {
    // Resolved and snoozed conversations are put away: their counts wait until they wake.
    if (conversation.status !== "resolved" && conversation.status !== "snoozed")
      total += conversation.unread_count || 0;
  }
  return total;
}
