"""Webhooks and their deliveries as settings show them (never a webhook's secret)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatdesk.db.tables import outbox, webhooks
from chatdesk.shape_types import Webhook, WebhookDelivery
from chatdesk.shapes import webhook_delivery_shape, webhook_shape

__all__ = ["any_active_webhook", "list_deliveries", "list_webhooks"]


def list_webhooks(conn: Connection) -> list[Webhook]:
    """Every webhook (of every site), oldest first."""
    rows = conn.execute(select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)).all()
    return [webhook_shape(row) for row in rows]


def list_deliveries(conn: Connection, webhook_id: str, limit: int = 50) -> list[WebhookDelivery]:
    """A webhook's most recent deliveries, newest first (job ids are time-ordered)."""
    rows = conn.execute(
        select(outbox)
        .where(outbox.c.webhook_id == webhook_id)
        .order_by(outbox.c.id.desc())
        .limit(limit)
    ).all()
    return [webhook_delivery_shape(row) for row in rows]


def any_active_webhook(conn: Connection) -> bool:
    """Whether some webhook is active: only then is there anything to dispatch."""
    return (
        conn.execute(select(webhooks.c.id).where(webhooks.c.active.is_(True)).limit(1)).first()
        is not None
    )
