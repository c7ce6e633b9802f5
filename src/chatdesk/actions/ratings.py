"""The visitor's rating of a resolved conversation (CSAT): a score of 1 to 5 and a comment.

One rating per conversation, given once it is resolved. In the unit that stores it:

- a private timeline entry (``kind: "rated"``), so operators read it in the history;
- ``conversation.updated`` with ``changes: ["rating"]``, which the visitor sees too
  (their other tabs show the rating instead of the form);
- ``rating.created`` ``{conversation, rating}``, operators only: what webhooks
  subscribed to ``rating.created`` receive (``jobs/dispatch.py``).
"""

from __future__ import annotations

from sqlalchemy import update

from chatdesk.access import access_conversation
from chatdesk.actions.blocks import check_not_blocked
from chatdesk.actions.events import append_conversation_updated, append_event
from chatdesk.actions.timeline import record_entry
from chatdesk.db.batch import Unit
from chatdesk.db.tables import conversations
from chatdesk.errors import Conflict
from chatdesk.queries.conversations import labels_for
from chatdesk.queries.visitors import visitor_name
from chatdesk.security.principals import VisitorActor
from chatdesk.shape_types import Author, Rating
from chatdesk.shapes import conversation_shape, rating_shape

__all__ = ["rate_conversation"]


def rate_conversation(
    unit: Unit, actor: VisitorActor, conversation_id: str, score: int, comment: str | None
) -> Rating:
    """Store the visitor's rating of their resolved conversation; returns it.

    404 for a conversation that is not the visitor's, 403 while the visitor is blocked,
    409 (``details.reason``) while it is not resolved (``not_resolved``) or once it was
    rated (``already_rated``). ``comment`` is stripped; an empty one is stored as null.
    """
    row = access_conversation(unit.conn, actor, conversation_id)
    check_not_blocked(unit.conn, actor.visitor_id, unit.now)
    if row.rating_score is not None:
        raise Conflict("This conversation was already rated.", {"reason": "already_rated"})
    if row.status != "resolved":
        raise Conflict(
            "A conversation can be rated once it is resolved.", {"reason": "not_resolved"}
        )
    comment = (comment or "").strip() or None
    # Conditional: of two ratings sent at once, the second finds the first and stops.
    done = unit.conn.execute(
        update(conversations)
        .where(
            conversations.c.id == row.id,
            conversations.c.status == "resolved",
            conversations.c.rating_score.is_(None),
        )
        .values(rating_score=score, rating_comment=comment, rated_at=unit.now, updated_at=unit.now)
    )
    if done.rowcount != 1:
        raise Conflict("This conversation was already rated.", {"reason": "already_rated"})
    author: Author = {
        "type": "visitor",
        "id": actor.visitor_id,
        "name": visitor_name(unit.conn, actor.visitor_id),
    }
    record_entry(unit, row, "rated", {"score": score, "comment": comment}, author)
    row = append_conversation_updated(unit, row.id, ["rating"], private=False)
    rating = rating_shape(row)
    assert rating is not None  # just written
    append_event(
        unit,
        "rating.created",
        site_id=row.site_id,
        conversation_id=row.id,
        visitor_id=row.visitor_id,
        private=True,
        data={
            "conversation": conversation_shape(row, labels_for(unit.conn, [row.id])[row.id]),
            "rating": rating,
        },
    )
    return rating
