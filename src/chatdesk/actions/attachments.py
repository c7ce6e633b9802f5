"""Recording uploaded files, and forgetting those never sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from chatdesk.access import access_conversation
from chatdesk.actions.blocks import check_not_blocked
from chatdesk.db.batch import Unit
from chatdesk.db.tables import attachments
from chatdesk.security.principals import OperatorActor, VisitorActor

__all__ = ["drop_attachments", "record_attachment", "storage_keys"]


def storage_keys(row: Any) -> list[str]:
    """The file store keys of an attachment row: the file, and its thumbnail if any."""
    key = f"{row.site_id}/{row.conversation_id}/{row.id}"
    return [key, key + ".thumb"] if row.thumbnail else [key]


def record_attachment(
    unit: Unit,
    actor: OperatorActor | VisitorActor,
    conversation_id: str,
    attachment_id: str,
    *,
    name: str,
    content_type: str,
    size: int,
    width: int | None,
    height: int | None,
    thumbnail: bool,
) -> Any:
    """The row of a file just stored under ``attachment_id``'s keys, in a conversation
    ``actor`` may see (else NotFound, and the caller removes the file)."""
    row = access_conversation(unit.conn, actor, conversation_id)
    if isinstance(actor, VisitorActor):
        check_not_blocked(unit.conn, actor.visitor_id, unit.now)  # blocked since the upload began
        uploader = ("visitor", actor.visitor_id)
    elif actor.is_bot and actor.api_token_id is not None:
        uploader = ("bot", actor.api_token_id)
    else:
        uploader = ("operator", actor.operator_id)
    values = {
        "id": attachment_id,
        "site_id": row.site_id,
        "conversation_id": row.id,
        "message_id": None,
        "uploader_type": uploader[0],
        "uploader_id": uploader[1],
        "name": name,
        "content_type": content_type,
        "size": size,
        "width": width,
        "height": height,
        "thumbnail": thumbnail,
        "created_at": unit.now,
    }
    unit.conn.execute(insert(attachments).values(values))
    return unit.conn.execute(select(attachments).where(attachments.c.id == attachment_id)).one()


def drop_attachments(unit: Unit, ids: list[str], unsent_before: datetime) -> int:
    """Delete the rows of ``ids`` that are still unsent and older than ``unsent_before``
    (their files are removed first, by the caller: a row never outlives its file's
    removal by more than this unit)."""
    if not ids:
        return 0
    result = unit.conn.execute(
        delete(attachments).where(
            attachments.c.id.in_(ids),
            attachments.c.message_id.is_(None),
            attachments.c.created_at < unsent_before,
        )
    )
    return int(result.rowcount)
