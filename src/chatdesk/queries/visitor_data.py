"""Everything stored about one visitor, for their own request to see it (GDPR art. 15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from chatdesk.clock import iso
from chatdesk.db.tables import conversations, visitor_blocks, visitor_tokens, visitors
from chatdesk.queries.conversations import labels_for
from chatdesk.queries.messages import history
from chatdesk.security.signing import SignedLinks
from chatdesk.shape_types import ExportedBlock, ExportedConversation, VisitorExport
from chatdesk.shapes import conversation_shape, visitor_shape

__all__ = ["visitor_export", "visitor_row"]

_ALL = 1_000_000  # a conversation's whole history


def visitor_export(conn: Connection, row: Any, links: SignedLinks, now: datetime) -> VisitorExport:
    """The visitor ``row`` with their sessions, conversations (every message, private
    notes included: what the team wrote about them is theirs to see too; attachments'
    links signed by ``links``) and blocks."""
    rows = conn.execute(
        select(conversations)
        .where(conversations.c.visitor_id == row.id)
        .order_by(conversations.c.id)
    ).all()
    labels = labels_for(conn, [c.id for c in rows])
    exported: list[ExportedConversation] = []
    for conversation in rows:
        messages = history(
            conn, conversation.id, before=None, limit=_ALL, include_private=True, links=links
        )
        exported.append(
            {**conversation_shape(conversation, labels[conversation.id]), "messages": messages}
        )
    sessions = conn.execute(
        select(visitor_tokens).where(visitor_tokens.c.visitor_id == row.id)
    ).all()
    blocks = conn.execute(select(visitor_blocks).where(visitor_blocks.c.visitor_id == row.id)).all()
    return {
        "exported_at": iso(now),
        "visitor": {
            **visitor_shape(row),
            "last_ip": row.last_ip,
            "email_unsubscribed_at": iso(row.email_unsubscribed_at),
            "blocked_until": iso(row.blocked_until),
        },
        "sessions": [
            {
                "created_at": iso(s.created_at),
                "last_used_at": iso(s.last_used_at),
                "revoked_at": iso(s.revoked_at),
            }
            for s in sessions
        ],
        "conversations": exported,
        "blocks": [_block(b) for b in blocks],
    }


def _block(row: Any) -> ExportedBlock:
    return {
        "id": row.id,
        "ip": row.ip,
        "external_id": row.external_id,
        "reason": row.reason,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "lifted_at": iso(row.lifted_at),
    }


def visitor_row(conn: Connection, visitor_id: str) -> Any:
    return conn.execute(select(visitors).where(visitors.c.id == visitor_id)).first()
