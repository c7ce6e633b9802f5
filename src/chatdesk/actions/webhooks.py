"""Webhooks (admin settings): where chatdesk POSTs its events, and resending a delivery.

A webhook gets only events committed after it was made (or resumed): its
``after_event_id`` is the log's head at that moment (``jobs/dispatch.py``). Its URL is
checked here against :func:`chatdesk.security.outbound.url_problem` (a refused URL is
a 422) and again, on every address it resolves to, each time a delivery connects.
"""

from __future__ import annotations

from typing import Any, get_args

from sqlalchemy import delete, insert, select, update

from chatdesk.access import (
    SETTINGS_ROLE,
    access_site,
    access_webhook,
    access_webhook_delivery,
    require_role,
)
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import outbox, webhooks
from chatdesk.errors import NotFound, ValidationFailed
from chatdesk.ids import new_id
from chatdesk.jobs.signing import new_secret
from chatdesk.queries.events import head
from chatdesk.security.outbound import url_problem
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import NewWebhook, Webhook, WebhookDelivery, WebhookEventType
from chatdesk.shapes import webhook_delivery_shape, webhook_shape

__all__ = ["EVENT_TYPES", "create_webhook", "delete_webhook", "resend_delivery", "update_webhook"]

EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)


def _checked_url(url: str, allow_private: bool) -> str:
    problem = url_problem(url, allow_private=allow_private)
    if problem is not None:
        raise ValidationFailed(f"The webhook URL {problem}.", {"field": "url"})
    return url


def _event_types(events: list[str]) -> list[str]:
    """The types asked for, each once, in their documented order."""
    return [t for t in EVENT_TYPES if t in set(events)]


def create_webhook(
    unit: Unit,
    actor: OperatorActor,
    *,
    url: str,
    events: list[str],
    site_id: str | None = None,
    active: bool = True,
    include_private: bool = False,
    allow_private: bool = False,
    ip: str | None = None,
) -> NewWebhook:
    """A new webhook with a fresh signing secret (in the answer, shown only there)."""
    require_role(actor, SETTINGS_ROLE)
    _checked_url(url, allow_private)
    if site_id is not None:
        try:
            access_site(unit.conn, actor, site_id, manage=True)
        except NotFound:
            raise ValidationFailed("There is no such site.", {"field": "site_id"}) from None
    webhook_id = new_id()
    secret = new_secret()
    unit.conn.execute(
        insert(webhooks).values(
            id=webhook_id,
            site_id=site_id,
            url=url,
            events=_event_types(events),
            secret=secret,
            active=active,
            include_private=include_private,
            after_event_id=head(unit.conn),
            created_at=unit.now,
            created_by=actor.operator_id,
            updated_at=unit.now,
        )
    )
    record(
        unit,
        "webhook.create",
        operator_id=actor.operator_id,
        target_type="webhook",
        target_id=webhook_id,
        ip=ip,
        details={"url": url, "events": _event_types(events), "site_id": site_id},
    )
    return {**_load(unit, webhook_id), "secret": secret}


def _load(unit: Unit, webhook_id: str) -> Webhook:
    return webhook_shape(
        unit.conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).one()
    )


def update_webhook(
    unit: Unit,
    actor: OperatorActor,
    webhook_id: str,
    fields: dict[str, Any],
    *,
    allow_private: bool = False,
    ip: str | None = None,
) -> Webhook:
    """Change ``url``, ``events``, ``active`` and/or ``include_private``. A webhook resumed
    (``active`` from false to true) gets only events committed from then on."""
    row = access_webhook(unit.conn, actor, webhook_id)
    values = {
        k: v for k, v in fields.items() if k in {"url", "events", "active", "include_private"}
    }
    if "url" in values:
        _checked_url(values["url"], allow_private)
    if "events" in values:
        values["events"] = _event_types(values["events"])
    if values.get("active") and not row.active:
        values["after_event_id"] = head(unit.conn)
    if values:
        values["updated_at"] = unit.now
        unit.conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(values))
        changed = {k: v for k, v in fields.items() if k in values}
        record(
            unit,
            "webhook.update",
            operator_id=actor.operator_id,
            target_type="webhook",
            target_id=webhook_id,
            ip=ip,
            details=changed,
        )
    return _load(unit, webhook_id)


def delete_webhook(
    unit: Unit, actor: OperatorActor, webhook_id: str, ip: str | None = None
) -> None:
    """Remove a webhook with its deliveries (pending ones are never sent)."""
    row = access_webhook(unit.conn, actor, webhook_id)
    unit.conn.execute(delete(outbox).where(outbox.c.webhook_id == webhook_id))
    unit.conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
    record(
        unit,
        "webhook.delete",
        operator_id=actor.operator_id,
        target_type="webhook",
        target_id=webhook_id,
        ip=ip,
        details={"url": row.url},
    )


def resend_delivery(
    unit: Unit,
    actor: OperatorActor,
    webhook_id: str,
    delivery_id: str,
    ip: str | None = None,
) -> WebhookDelivery:
    """Queue a delivery again, due now, with the same ``webhook-id`` (receivers that saw
    it already may drop it). It is retried within the limits counted from its first
    attempt: a delivery out of attempts or age gets this one attempt."""
    access_webhook_delivery(unit.conn, actor, webhook_id, delivery_id)
    unit.conn.execute(
        update(outbox)
        .where(outbox.c.id == delivery_id)
        .values(status="pending", next_attempt_at=unit.now, claimed_until=None, delivered_at=None)
    )
    record(
        unit,
        "webhook.resend",
        operator_id=actor.operator_id,
        target_type="webhook",
        target_id=webhook_id,
        ip=ip,
        details={"delivery_id": delivery_id},
    )
    row = unit.conn.execute(select(outbox).where(outbox.c.id == delivery_id)).one()
    return webhook_delivery_shape(row)
