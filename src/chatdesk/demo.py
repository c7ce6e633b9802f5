"""``chatdesk demo``: a demo site, two operators and realistic conversations."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from chatdesk.actions.conversations import start_conversation, update_conversation
from chatdesk.actions.messages import send_message
from chatdesk.actions.operators import create_operator
from chatdesk.actions.sites import create_site
from chatdesk.actions.visitors import create_session
from chatdesk.db.runner import Database, Unit
from chatdesk.db.tables import operators, sites
from chatdesk.security.auth import visitor_from_token
from chatdesk.security.passwords import hash_password
from chatdesk.security.principals import OperatorActor

__all__ = ["DEMO_SITE_NAME", "seed_demo"]

DEMO_SITE_NAME = "Demo shop"

_Script = tuple[str | None, str | None, str, list[tuple[str, str]], dict[str, Any]]
_CONVERSATIONS: list[_Script] = [
    (
        "Maya Okafor",
        "maya@example.com",
        "/products/trail-runner-2",
        [
            ("visitor", "Hi! Do the Trail Runner 2 shoes run true to size?"),
            ("operator", "Hi Maya! They run about half a size small; most people size up."),
            ("visitor", "Great, thanks. And is shipping to Canada free?"),
        ],
        {"labels": ["sizing"]},
    ),
    (
        "Lucas Moreau",
        "lucas.moreau@example.org",
        "/checkout",
        [
            ("visitor", "My card keeps getting declined at checkout, order #4821."),
            ("note", "Payment provider had an outage 10:02-10:15 UTC; ask him to retry."),
            ("operator", "Sorry about that, Lucas. Could you try again now? It should go through."),
            ("visitor", "Worked this time, thank you!"),
        ],
        {"status": "resolved", "labels": ["billing"]},
    ),
    (
        "Priya Raman",
        None,
        "/returns",
        [("visitor", "How long do I have to return an item I bought last week?")],
        {},
    ),
    (
        None,
        None,
        "/",
        [("visitor", "Do you have a physical store in Lisbon?")],
        {"status": "pending"},
    ),
]


def _seed(unit: Unit, origin: str, hashes: dict[str, str]) -> str:
    """The demo site, its operators and conversations, in one unit of work."""
    site = create_site(unit, None, {"name": DEMO_SITE_NAME, "allowed_origins": [origin]})
    for op_email, op_name, role in (
        ("alice@demo.chatdesk.local", "Alice Martin", "admin"),
        ("bob@demo.chatdesk.local", "Bob Chen", "agent"),
    ):
        if unit.conn.execute(select(operators.c.id).where(operators.c.email == op_email)).first():
            continue
        create_operator(
            unit,
            None,
            email=op_email,
            name=op_name,
            role=role,
            password_hash=hashes[op_email],
        )
    alice = unit.conn.execute(
        select(operators).where(operators.c.email == "alice@demo.chatdesk.local")
    ).one()
    actor = OperatorActor(alice.id, alice.name, alice.email, alice.role, None)
    for index, (name, email, path, lines, after) in enumerate(_CONVERSATIONS):
        profile: dict[str, str | None] = {
            "name": name,
            "email": email,
            "page_url": origin + path,
            "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
        }
        token, _visitor = create_session(unit, site["site_key"], profile, None)
        visitor = visitor_from_token(unit.conn, token)
        assert visitor is not None
        conversation, _m, _c = start_conversation(unit, visitor, lines[0][1], f"demo-{index}-0")
        for position, (kind, body) in enumerate(lines[1:], start=1):
            author = visitor if kind == "visitor" else actor
            send_message(
                unit,
                author,
                conversation["id"],
                body,
                f"demo-{index}-{position}",
                private=kind == "note",
            )
        if after:
            update_conversation(
                unit,
                actor,
                conversation["id"],
                status=after.get("status"),
                labels_=after.get("labels"),
            )
    return str(site["site_key"])


def seed_demo(db: Database, origin: str) -> list[str]:
    """Create the demo data (skipped if the demo site exists); returns what to print."""
    exists = db.read_sync(
        lambda conn: conn.execute(select(sites.c.id).where(sites.c.name == DEMO_SITE_NAME)).first()
    )
    if exists is not None:
        return [f"The demo site already exists. Open {origin}/demo and {origin}/admin."]
    passwords = {"alice@demo.chatdesk.local": secrets.token_urlsafe(9)}
    passwords["bob@demo.chatdesk.local"] = secrets.token_urlsafe(9)
    hashes = {email: hash_password(pw) for email, pw in passwords.items()}
    site_key = db.write_sync(_seed, origin, hashes)
    return [
        f"Demo site created (site key {site_key}).",
        f"Visitor side: {origin}/demo",
        f"Console:      {origin}/admin",
        *(f"  {email}  password: {pw}" for email, pw in passwords.items()),
    ]
