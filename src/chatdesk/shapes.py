"""Rows to the JSON shapes of API.md. The one place those shapes are built; their
types, in ``shape_types``, are what ``/openapi.json`` documents."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row

from chatdesk.avatars import avatar_url, first_name
from chatdesk.clock import aware, iso
from chatdesk.ids import NO_PASSWORD
from chatdesk.shape_types import (
    ApiToken,
    Attachment,
    AuditEntry,
    Author,
    Block,
    CannedResponse,
    Conversation,
    Event,
    Face,
    InboxSite,
    Launcher,
    Message,
    Operator,
    Presence,
    Rating,
    Site,
    TeamMember,
    Visitor,
    VisitorConversation,
    VisitorProfile,
    Webhook,
    WebhookDelivery,
    WidgetConfig,
)
from chatdesk.widget_locales import RTL, launcher_strings, resolve

__all__ = [
    "api_token_shape",
    "attachment_shape",
    "audit_entry_shape",
    "block_shape",
    "canned_response_shape",
    "conversation_shape",
    "face_shape",
    "for_visitor",
    "launcher_shape",
    "message_shape",
    "operator_shape",
    "own_visitor_shape",
    "rating_shape",
    "site_name_shape",
    "site_shape",
    "stored_presence",
    "team_member_shape",
    "typing_shape",
    "visitor_shape",
    "webhook_delivery_shape",
    "webhook_shape",
    "widget_config_shape",
]


def attachment_shape(row: Any, url: Callable[[str, str], str]) -> Attachment:
    """An attachment row; ``url(id, variant)`` signs its links (``SignedLinks.url``)."""
    return {
        "id": row.id,
        "name": row.name,
        "content_type": row.content_type,
        "size": row.size,
        "url": url(row.id, "file"),
        "thumbnail_url": url(row.id, "thumbnail") if row.thumbnail else None,
        "width": row.width,
        "height": row.height,
    }


def message_shape(row: Row[Any], attachments: list[Attachment] | None = None) -> Message:
    m = row._mapping
    shape: Message = {
        "id": m["id"],
        "conversation_id": m["conversation_id"],
        "author": {"type": m["author_type"], "id": m["author_id"], "name": m["author_name"]},
        "body": m["body"],
        "private": bool(m["private"]),
        "client_msg_id": m["client_msg_id"],
        "created_at": iso(m["created_at"]),
        "mentions": list(m["mentions"] or ()),
        "attachments": attachments or [],
    }
    if m["kind"] is not None:  # a timeline entry (ADR 0017)
        shape["kind"] = m["kind"]
        shape["data"] = m["data"] or {}
    return shape


def conversation_shape(
    row: Row[Any], labels: list[str], visitor: Visitor | None = None
) -> Conversation:
    m = row._mapping
    shape: Conversation = {
        "id": m["id"],
        "site_id": m["site_id"],
        "visitor_id": m["visitor_id"],
        "status": m["status"],
        "assignee_id": m["assignee_id"],
        "labels": labels,
        "created_at": iso(m["created_at"]),
        "updated_at": iso(m["updated_at"]),
        "last_message_at": iso(m["last_message_at"]),
        "last_message": {
            "preview": m["last_message_preview"],
            "author_type": m["last_message_author"],
        },
        "unread_count": m["unread_count"],
        "snoozed_until": iso(m["snoozed_until"]),
        "visitor_read_message_id": m["visitor_read_message_id"],
        "operator_read_message_id": m["operator_read_message_id"],
        "rating": rating_shape(row),
    }
    if visitor is not None:
        shape["visitor"] = visitor
    return shape


def rating_shape(row: Row[Any]) -> Rating | None:
    """A conversation row's rating, or None before the visitor gave one."""
    m = row._mapping
    if m["rating_score"] is None:
        return None
    return {
        "score": int(m["rating_score"]),
        "comment": m["rating_comment"],
        "created_at": iso(m["rated_at"]),
    }


def for_visitor(conversation: VisitorConversation) -> VisitorConversation:
    """The conversation as its visitor may see it: no internal labels or counts; a
    snoozed conversation looks open (the snooze is the team's to-do, not an answer)."""
    # A projection, not a construction: stored events hand over the conversation as
    # the version that appended them wrote it, and every key but these passes through.
    hidden = {"visitor", "unread_count", "snoozed_until"}
    shape = {k: v for k, v in conversation.items() if k not in hidden}
    shape["labels"] = []
    if shape.get("status") == "snoozed":
        shape["status"] = "open"
    return cast(VisitorConversation, shape)


def visitor_shape(row: Row[Any], prefix: str = "") -> Visitor:
    """A visitor's profile; ``prefix`` reads columns labelled e.g. ``v_name`` in a join."""
    m = row._mapping
    return {
        "id": m[prefix + "id"],
        "site_id": m[prefix + "site_id"],
        "external_id": m[prefix + "external_id"],
        "name": m[prefix + "name"],
        "email": m[prefix + "email"],
        "page_url": m[prefix + "page_url"],
        "user_agent": m[prefix + "user_agent"],
        "timezone": m[prefix + "timezone"],
        "created_at": iso(m[prefix + "created_at"]),
        "last_seen_at": iso(m[prefix + "last_seen_at"]),
    }


def stored_presence(row: Row[Any]) -> Presence:
    """What the database tells of an operator's presence: ``away`` (their choice) or
    ``offline``; whether they are online only the process's memory knows, and the web
    layer fills it in (``OperatorPresence.stamp``)."""
    m = row._mapping
    return "away" if m["away"] and m["active"] else "offline"


def operator_shape(row: Row[Any], site_ids: list[str] | None = None) -> Operator:
    m = row._mapping
    shape: Operator = {
        "id": m["id"],
        "email": m["email"],
        "name": m["name"],
        "role": m["role"],
        "active": bool(m["active"]),
        "created_at": iso(m["created_at"]),
        "presence": stored_presence(row),
        "max_open": m["max_open"],
        "must_change_password": bool(m["must_change_password"]),
        "avatar_url": avatar_url(m["id"], m["name"], m["avatar"]),
        "avatar_uploaded": m["avatar"] is not None,
    }
    if m.get("password_hash") == NO_PASSWORD:
        shape["invited"] = True
    if site_ids is not None:
        shape["site_ids"] = site_ids
    return shape


def site_shape(row: Row[Any], *, with_secret: bool = True) -> Site:
    m = row._mapping
    shape: Site = {
        "id": m["id"],
        "name": m["name"],
        "site_key": m["site_key"],
        "allowed_origins": list(m["allowed_origins"]),
        "greeting": m["greeting"],
        "accent_color": m["accent_color"],
        "position": m["position"],
        "prechat": {"name": m["prechat_name"], "email": m["prechat_email"]},
        "offline_message": m["offline_message"],
        "business_hours": m["business_hours"],
        "enabled": bool(m["enabled"]),
        "identity_required": bool(m["identity_required"]),
        "identity_replay_protection": bool(m["identity_replay_protection"]),
        "identity_secret_set": m["identity_secret"] is not None,
        "require_agent_online": bool(m["require_agent_online"]),
        "reply_time": m["reply_time"],
        "assignment": m["assignment"],
        "assign_on_reply": bool(m["assign_on_reply"]),
        "locale": m["locale"],
        "strings": m["strings"] or {},
        "theme": m["theme"],
        "created_at": iso(m["created_at"]),
        "updated_at": iso(m["updated_at"]),
    }
    if with_secret:
        shape["identity_secret"] = m["identity_secret"]
    return shape


def api_token_shape(row: Row[Any]) -> ApiToken:
    m = row._mapping
    return {
        "id": m["id"],
        "name": m["name"],
        "prefix": m["prefix"],
        "role": m["role"],
        "operator_id": m["operator_id"],
        "site_id": m["site_id"],
        "created_at": iso(m["created_at"]),
        "last_used_at": iso(m["last_used_at"]),
    }


def webhook_shape(row: Row[Any]) -> Webhook:
    """A webhook as settings show it: never its secret, which is shown once."""
    m = row._mapping
    return {
        "id": m["id"],
        "url": m["url"],
        "events": list(m["events"]),
        "site_id": m["site_id"],
        "active": bool(m["active"]),
        "include_private": bool(m["include_private"]),
        "created_at": iso(m["created_at"]),
        "created_by": m["created_by"],
    }


def webhook_delivery_shape(row: Row[Any]) -> WebhookDelivery:
    m = row._mapping
    pending = m["status"] == "pending"
    return {
        "id": m["id"],
        "event_type": m["event_type"],
        "status": m["status"],
        "attempts": m["attempts"],
        "last_status_code": m["last_status_code"],
        "last_error": m["last_error"],
        "created_at": iso(m["created_at"]),
        "next_attempt_at": iso(m["next_attempt_at"]) if pending else None,
        "delivered_at": iso(m["delivered_at"]),
    }


def canned_response_shape(row: Row[Any]) -> CannedResponse:
    m = row._mapping
    return {
        "id": m["id"],
        "shortcut": m["shortcut"],
        "body": m["body"],
        "site_id": m["site_id"],
        "created_at": iso(m["created_at"]),
        "updated_at": iso(m["updated_at"]),
    }


def audit_entry_shape(row: Row[Any]) -> AuditEntry:
    m = row._mapping
    return {
        "id": m["id"],
        "operator_id": m["operator_id"],
        "action": m["action"],
        "target_type": m["target_type"],
        "target_id": m["target_id"],
        "ip": m["ip"],
        "created_at": iso(m["created_at"]),
        "details": m["details"],
    }


def team_member_shape(row: Row[Any]) -> TeamMember:
    """An operator as a teammate sees them (for assignment): no email, no sites."""
    m = row._mapping
    return {
        "id": m["id"],
        "name": m["name"],
        "role": m["role"],
        "presence": stored_presence(row),
        "avatar_url": avatar_url(m["id"], m["name"], m["avatar"]),
    }


def site_name_shape(row: Row[Any]) -> InboxSite:
    """A site as the inbox's filter names it, for any operator who sees it."""
    m = row._mapping
    return {"id": m["id"], "name": m["name"]}


def own_visitor_shape(visitor: Visitor) -> VisitorProfile:
    """What the widget shows a visitor of themselves (from :func:`visitor_shape`)."""
    return {"id": visitor["id"], "name": visitor["name"], "email": visitor["email"]}


def face_shape(row: Row[Any]) -> Face:
    """An operator as a visitor sees them beside the chat: first name and face, no more."""
    m = row._mapping
    return {
        "name": first_name(m["name"]),
        "avatar_url": avatar_url(m["id"], m["name"], m["avatar"]),
    }


def widget_config_shape(
    site: Row[Any],
    *,
    online: bool,
    email: bool,
    stock: dict[str, Any],
    team: list[Face] | None = None,
) -> WidgetConfig:
    """A site's public widget configuration: nothing a visitor may not read. ``email``:
    whether chatdesk sends email, so the widget may promise replies by email. ``stock``:
    chatdesk's own greeting, offline message and reply time; a site that kept one gets
    it in the visitor's language (``default_texts``, ADR 0021)."""
    m = site._mapping
    return {
        "site": {
            "name": m["name"],
            "greeting": m["greeting"],
            "accent_color": m["accent_color"],
            "position": m["position"],
            "prechat": {"name": m["prechat_name"], "email": m["prechat_email"]},
            "online": online,
            "offline_message": m["offline_message"],
            "reply_time": m["reply_time"],
            "identity_required": bool(m["identity_required"]),
            "email_enabled": email,
            "locale": m["locale"],
            "strings": m["strings"] or {},
            "theme": m["theme"],
            "team": team or [],
            "default_texts": [
                key for key in ("greeting", "offline_message", "reply_time") if m[key] == stock[key]
            ],
        }
    }


def launcher_shape(site: Row[Any], origin: str, languages: list[str]) -> Launcher:
    """What the widget loader needs before the frame exists; ``allowed`` says whether
    the page at ``origin`` (lower-cased) may frame the chat. The loader's own words come
    in the visitor's language (the site's, or the first of ``languages`` we have)."""
    m = site._mapping
    locale = resolve(m["locale"], languages)
    return {
        "accent_color": m["accent_color"],
        "position": m["position"],
        "allowed": origin in [o.lower() for o in m["allowed_origins"]],
        "locale": locale,
        "dir": "rtl" if locale in RTL else "ltr",
        "strings": launcher_strings(locale, m["strings"] or {}),
    }


def typing_shape(
    conversation_id: str, author: Author, *, private: bool, created_at: datetime
) -> Event:
    """The ephemeral ``typing`` event: never stored, so it has no id."""
    return {
        "id": None,
        "type": "typing",
        "conversation_id": conversation_id,
        "created_at": iso(created_at),
        "data": {"author": author, "private": private},
    }


def block_shape(row: Row[Any], now: datetime) -> Block:
    """A block, with its visitor's name; ``active`` while not lifted and not run out."""
    m = row._mapping
    active = m["lifted_at"] is None and aware(m["expires_at"]) > now
    return {
        "id": m["id"],
        "site_id": m["site_id"],
        "visitor_id": m["visitor_id"],
        "visitor_name": m["visitor_name"],
        "external_id": m["external_id"],
        "ip": m["ip"],
        "reason": m["reason"],
        "created_by": m["created_by"],
        "created_at": iso(m["created_at"]),
        "expires_at": iso(m["expires_at"]),
        "lifted_at": iso(m["lifted_at"]),
        "lifted_by": m["lifted_by"],
        "active": active,
    }
