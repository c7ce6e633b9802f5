"""``chatdesk demo``: a demo site, its owner and two operators, realistic conversations."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from chatdesk.actions.conversations import start_conversation, update_conversation
from chatdesk.actions.messages import send_message
from chatdesk.actions.operators import change_own_password, create_operator, update_operator
from chatdesk.actions.sites import create_site, update_site
from chatdesk.actions.visitors import create_session
from chatdesk.db.runner import Database, Unit
from chatdesk.db.tables import operators, sites
from chatdesk.security.auth import visitor_from_token
from chatdesk.security.passwords import hash_password
from chatdesk.security.principals import OperatorActor

__all__ = ["DEMO_OWNER_EMAIL", "DEMO_SITE_NAME", "seed_demo", "site_origin"]

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


_OPERATORS = (
    ("olivia@demo.chatdesk.local", "Olivia Park", "owner"),
    ("alice@demo.chatdesk.local", "Alice Martin", "admin"),
    ("bob@demo.chatdesk.local", "Bob Chen", "agent"),
)
DEMO_OWNER_EMAIL = _OPERATORS[0][0]


def _actor(unit: Unit, email: str) -> OperatorActor:
    row = unit.conn.execute(select(operators).where(operators.c.email == email)).one()
    return OperatorActor(row.id, row.name, row.email, row.role, None)


def _operators(unit: Unit, hashes: dict[str, str]) -> OperatorActor:
    """Create the demo operators, or give the existing ones the new passwords (a second
    ``chatdesk demo`` prints working credentials again); returns the demo owner."""
    existing = {
        row.email: row.id
        for row in unit.conn.execute(
            select(operators.c.email, operators.c.id).where(operators.c.email.in_(hashes))
        )
    }
    for email, name, role in _OPERATORS:
        if email not in existing:
            create_operator(
                unit, None, email=email, name=name, role=role, password_hash=hashes[email]
            )
    owner = _actor(unit, DEMO_OWNER_EMAIL)
    if DEMO_OWNER_EMAIL in existing:
        change_own_password(unit, owner, hashes[DEMO_OWNER_EMAIL])
    for email, operator_id in existing.items():
        if email != DEMO_OWNER_EMAIL:
            # Printed to whoever ran the demo for them to use: not a temporary password.
            update_operator(
                unit, owner, operator_id, {"password_hash": hashes[email]}, temporary=False
            )
    return owner


def _conversations(unit: Unit, site_key: str, origin: str, actor: OperatorActor) -> None:
    for index, (name, email, path, lines, after) in enumerate(_CONVERSATIONS):
        profile: dict[str, str | None] = {
            "name": name,
            "email": email,
            "page_url": origin + path,
            "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
        }
        token, _visitor = create_session(unit, site_key, profile, None)
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


def _seed(unit: Unit, origin: str, hashes: dict[str, str]) -> tuple[bool, str]:
    """The demo site, its operators and conversations, in one unit of work; on a second
    run, new passwords and the current origin allowed. Returns (created, site key)."""
    site = unit.conn.execute(select(sites).where(sites.c.name == DEMO_SITE_NAME)).first()
    if site is None:
        created = create_site(unit, None, {"name": DEMO_SITE_NAME, "allowed_origins": [origin]})
        _operators(unit, hashes)
        _conversations(unit, created["site_key"], origin, _actor(unit, "alice@demo.chatdesk.local"))
        return True, created["site_key"]
    owner = _operators(unit, hashes)
    # The demo page is served by chatdesk itself: it must be allowed where chatdesk runs now.
    if origin not in [allowed.lower() for allowed in site.allowed_origins]:
        update_site(unit, owner, site.id, {"allowed_origins": [*site.allowed_origins, origin]})
    return False, str(site.site_key)


def site_origin(url: str) -> str:
    """The origin (scheme://host[:port]) of chatdesk's base URL, as browsers send it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def seed_demo(db: Database, base_url: str) -> list[str]:
    """Create the demo data, or reset the demo operators' passwords; returns what to print."""
    passwords = {email: secrets.token_urlsafe(9) for email, _name, _role in _OPERATORS}
    hashes = {email: hash_password(pw) for email, pw in passwords.items()}
    created, site_key = db.write_sync(_seed, site_origin(base_url), hashes)
    first = (
        f"Demo site created (site key {site_key})."
        if created
        else f"The demo site already exists (site key {site_key}); new passwords are set."
    )
    return [
        first,
        f"Visitor side: {base_url}/demo",
        f"Console:      {base_url}/admin  sign in as",
        *(
            f"  {role:<5}  {email}  password: {passwords[email]}"
            for email, _name, role in _OPERATORS
        ),
    ]
