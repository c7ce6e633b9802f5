"""Recording uploaded files, and forgetting those never sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from chatdesk.access import access_conversation
from chatdesk.actions.blocks import check_not_blocked
from chatdesk.clock import aware
from chatdesk.db.batch import Unit
from chatdesk.db.tables import attachments
from chatdesk.errors import Conflict, ValidationFailed
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.security.signing import SignedLinks
from chatdesk.shape_types import Attachment
from chatdesk.shapes import attachment_shape

__all__ = [
    "SEND_WITHIN",
    "attach_to_message",
    "drop_attachments",
    "record_attachment",
    "storage_keys",
    "unsent_of",
]

# An upload is sent with a message within this time, or never (the sweep takes what is
# left after a day: nothing it may remove is ever attached).
SEND_WITHIN = timedelta(hours=12)


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


def unsent_of(
    unit: Unit,
    conversation_id: str,
    uploader: tuple[str, str],
    ids: list[str],
    links: SignedLinks,
) -> list[Attachment]:
    """The shapes of ``ids``, in that order, if each is a file ``uploader`` (type, id)
    put in this conversation within :data:`SEND_WITHIN` that no message carries yet;
    else ValidationFailed, the same for every reason (an id of another conversation
    tells nothing of it)."""
    if len(set(ids)) != len(ids):
        raise ValidationFailed("attachment_ids: the same file is listed twice.")
    rows = {
        row.id: row
        for row in unit.conn.execute(select(attachments).where(attachments.c.id.in_(ids)))
    }
    since = unit.now - SEND_WITHIN
    for attachment_id in ids:
        row = rows.get(attachment_id)
        if (
            row is None
            or row.conversation_id != conversation_id
            or (row.uploader_type, row.uploader_id) != uploader
            or row.message_id is not None
            or aware(row.created_at) < since
        ):
            raise ValidationFailed(
                "attachment_ids: each must be a file you uploaded to this conversation "
                "in the last 12 hours and not yet sent."
            )
    return [attachment_shape(rows[attachment_id], links.url) for attachment_id in ids]


def attach_to_message(unit: Unit, ids: list[str], message_id: str) -> None:
    """Mark ``ids`` sent with ``message_id`` (just inserted, in this unit). A file another
    message took meanwhile (another process, between the check and here) undoes the unit."""
    taken = unit.conn.execute(
        update(attachments)
        .where(attachments.c.id.in_(ids), attachments.c.message_id.is_(None))
        .values(message_id=message_id)
    ).rowcount
    if taken != len(ids):
        raise Conflict("A file of this message was just sent with another message.")


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
