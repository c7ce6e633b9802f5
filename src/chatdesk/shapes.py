"""Rows to the JSON shapes of API.md. The one place those shapes are built; their
types, in ``shape_types``, are what ``/openapi.json`` documents."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row

from chatdesk.clock import iso
from chatdesk.shape_types import (
    ApiToken,
    CannedResponse,
    Conversation,
    Message,
    Operator,
    Site,
    Visitor,
    VisitorConversation,
)

__all__ = [
    "api_token_shape",
    "canned_response_shape",
    "conversation_shape",
    "for_visitor",
    "message_shape",
    "operator_shape",
    "site_shape",
    "visitor_shape",
]


def message_shape(row: Row[Any]) -> Message:
    m = row._mapping
    return {
        "id": m["id"],
        "conversation_id": m["conversation_id"],
        "author": {"type": m["author_type"], "id": m["author_id"], "name": m["author_name"]},
        "body": m["body"],
        "private": bool(m["private"]),
        "client_msg_id": m["client_msg_id"],
        "created_at": iso(m["created_at"]),
    }


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
    }
    if visitor is not None:
        shape["visitor"] = visitor
    return shape


def for_visitor(conversation: VisitorConversation) -> VisitorConversation:
    """The conversation as its visitor may see it: no internal labels or counts."""
    # A projection, not a construction: stored events hand over the conversation as
    # the version that appended them wrote it, and every key but these passes through.
    shape = {k: v for k, v in conversation.items() if k not in {"visitor", "unread_count"}}
    shape["labels"] = []
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


def operator_shape(row: Row[Any], site_ids: list[str] | None = None) -> Operator:
    m = row._mapping
    shape: Operator = {
        "id": m["id"],
        "email": m["email"],
        "name": m["name"],
        "role": m["role"],
        "active": bool(m["active"]),
        "created_at": iso(m["created_at"]),
    }
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
        "identity_secret_set": m["identity_secret"] is not None,
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
        "created_at": iso(m["created_at"]),
        "last_used_at": iso(m["last_used_at"]),
    }


def canned_response_shape(row: Row[Any]) -> CannedResponse:
    m = row._mapping
    return {
        "id": m["id"],
        "shortcut": m["shortcut"],
        "body": m["body"],
        "created_at": iso(m["created_at"]),
    }
