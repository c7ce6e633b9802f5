"""An event's bytes on the wire: the Server-Sent Events frame and the long-poll item.

Encoded here once per event and audience by the hub (and per reader only for a
catch-up read), so a delivery to a listener is a socket write of bytes already made.
"""

from __future__ import annotations

import json

from chatdesk.shape_types import Event

__all__ = ["json_item", "page_body", "sse_frame"]


def sse_frame(event: Event) -> bytes:
    """One SSE frame: the id (none for ephemeral events), the type, the JSON."""
    head = f"id: {event['id']}\n" if event["id"] is not None else ""
    return f"{head}event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def json_item(event: Event) -> bytes:
    """The event as one item of a long-poll's ``events`` array, encoded as the API's
    JSON responses are (UTF-8, compact)."""
    return json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def page_body(items: list[bytes], cursor: int) -> bytes:
    """A long-poll answer (``EventsPage``) from items already encoded."""
    return b'{"events":[' + b",".join(items) + b'],"cursor":' + str(cursor).encode() + b"}"
