"""``chatdesk export``: every conversation with its messages, as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from rich.progress import track
from sqlalchemy import Connection, func, select

from chatdesk.db.runner import Database
from chatdesk.db.tables import conversations
from chatdesk.queries.conversations import labels_for
from chatdesk.queries.messages import history
from chatdesk.security.signing import SignedLinks
from chatdesk.shapes import conversation_shape

__all__ = ["export_conversations"]


def export_conversations(db: Database, output: Path, links: SignedLinks) -> int:
    """Write every conversation with its messages; attachments' links signed by ``links``."""
    total = db.read_sync(
        lambda conn: conn.execute(select(func.count()).select_from(conversations)).scalar_one()
    )
    ids = db.read_sync(
        lambda conn: list(
            conn.execute(select(conversations.c.id).order_by(conversations.c.id)).scalars()
        )
    )
    with output.open("w", encoding="utf-8") as handle:
        for conversation_id in track(ids, total=total, description="Exporting"):

            def read(conn: Connection, cid: str = conversation_id) -> dict[str, object]:
                row = conn.execute(select(conversations).where(conversations.c.id == cid)).one()
                shape = conversation_shape(row, labels_for(conn, [cid])[cid])
                messages = history(
                    conn, cid, before=None, limit=1_000_000, include_private=True, links=links
                )
                return {**shape, "messages": messages}

            handle.write(json.dumps(db.read_sync(read), ensure_ascii=False) + "\n")
    return len(ids)
