"""One-click unsubscribe (RFC 8058): ``/email/unsubscribe/{token}``.

Every email chatdesk sends names this page in ``List-Unsubscribe`` with
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``: a mailbox provider's
"unsubscribe" button POSTs to it (no cookie, no Origin: the signed token is the
only credential), and so does the button on the page a person reaches with GET.
GET never changes anything (link scanners and prefetchers follow links). The
token (``security/signing.py``) names a visitor (no more email they did not ask
for) or an operator and one notification; a token that is not genuine gets the
same 404 page whatever is wrong with it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from chatdesk.actions.email import unsubscribe_operator, unsubscribe_visitor
from chatdesk.security.signing import UnsubscribeTokens
from chatdesk.web.console_pages import render_page
from chatdesk.web.deps import ServicesDep

__all__ = ["UNSUBSCRIBE_PATH", "router"]

router = APIRouter()
UNSUBSCRIBE_PATH = "/email/unsubscribe/{token}"
_WHAT = {
    "v": ("emails about your conversations", "Unsubscribe"),
    "u": ("emails about conversations nobody answered", "Turn these emails off"),
    "m": ("emails when a teammate mentions you", "Turn these emails off"),
}


def _read(services: Any, token: str) -> tuple[str, str] | None:
    secret = services.settings.secret_key.get_secret_value()
    return UnsubscribeTokens(secret).read(token) if len(token) <= 100 else None


def _not_found() -> HTMLResponse:
    return render_page(
        "email_pages/unsubscribe.html",
        404,
        brand="chatdesk",
        title="Link not valid",
        message="This unsubscribe link is not valid. Use the link in the email as it came.",
        ask=False,
    )


@router.get(UNSUBSCRIBE_PATH)
async def unsubscribe_page(services: ServicesDep, token: str) -> HTMLResponse:
    """What the link does, with a button that does it (GET changes nothing)."""
    found = _read(services, token)
    if found is None:
        return _not_found()
    what, button = _WHAT[found[0]]
    return render_page(
        "email_pages/unsubscribe.html",
        brand="chatdesk",
        title="Unsubscribe",
        message=f"Stop {what}?",
        ask=True,
        action=f"/email/unsubscribe/{token}",
        button=button,
    )


@router.post(UNSUBSCRIBE_PATH)
async def unsubscribe(services: ServicesDep, token: str) -> HTMLResponse:
    """Unsubscribe (the one-click POST, or the page's button); the same answer again."""
    found = _read(services, token)
    if found is None:
        return _not_found()
    kind, subject_id = found
    if kind == "v":
        done = await services.db.write(unsubscribe_visitor, subject_id)
    else:
        notification = "unanswered" if kind == "u" else "mention"
        done = await services.db.write(unsubscribe_operator, subject_id, notification)
    if not done:  # the visitor or operator was deleted since: nothing left to stop
        return _not_found()
    what, _button = _WHAT[kind]
    return render_page(
        "email_pages/unsubscribe.html",
        brand="chatdesk",
        title="Unsubscribed",
        message=f"Done: no more {what}.",
        ask=False,
    )
