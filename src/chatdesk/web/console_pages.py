"""Operator console pages: server-rendered shells; everything they show comes from the JSON API.

Each page resolves the session cookie itself (as ``deps.current_operator`` does
for the API) so a visit without a live session is redirected to the sign-in
page instead of getting a JSON 401. Pages carry a strict CSP (no inline script
or style anywhere), are never cached, and may not be framed.

Decisions (the front end lives in ``static/console/``, one ES module per job):

- One shell serves ``/admin`` and ``/admin/conversations/{id}``; ``app.js`` routes
  with the History API, so deep links, back and forward work and the list,
  conversation and visitor panel are panes of one page (one pane at a time
  below 760 px wide, the visitor panel becomes a drawer below 1180 px).
- Live updates come from ``EventSource('/api/v1/events')``. On any stream error
  the client closes it and asks the long-poll endpoint why: 410 resyncs over
  REST from a fresh head, 401 goes to sign-in, anything else reconnects with
  backoff from the client's own cursor. Events at or below the cursor and
  messages already shown (by id) are dropped, so nothing appears twice.
- The title badge counts unread visitor messages in conversations that are not
  resolved (the API's shared, team-wide ``unread_count``).
- Sound and desktop notifications (new conversation; a visitor message in a
  conversation assigned to me that is not on screen) are on by default and
  switchable from the account menu; the choice is kept in ``localStorage``.
- A message's ``client_msg_id`` is made once when it is written; a failed send
  stays above the composer with Retry (same id) and Discard, and is cleared as
  soon as the stream shows the message was stored after all.
- Destructive settings actions ask for a second click instead of ``confirm()``.
- Agents get a 403 page for settings (no link is shown); the sign-in page
  sends an agent whose ``next`` is a settings page to the inbox instead.
- Every operator has an account page (``/admin/account``): who they are and a
  password change form. An operator signed in with a temporary password (an admin
  reset it) is sent there from every other page and sees only that form until they
  chose their own (ADR 0018). Signed in as the first-start owner
  (``owner@chatdesk.local``), it asks them to replace the generated password.
- The audit log is a settings section for owners only (``/admin/settings/audit``):
  admins see no tab and get a 403 page, as agents do for all of settings.
- "Forgot your password?" on the sign-in page leads to ``/admin/forgot`` (an email,
  then "if an account exists, we sent a link"); the emailed link, and an invitation's,
  opens ``/admin/reset?token=…``: a new password twice, then the sign-in page (ADR 0023).
- Reports (``/admin/reports``, in the top bar for every operator): charts drawn by the
  vendored uPlot, each with a table of its numbers, a date range, a site picker, the
  browser's time zone and CSV downloads (ADR 0026).
- Emails (``/admin/settings/emails``, beside Webhooks) lists the outbox's email jobs,
  failed ones first, with a "Send again" button each; ``?status=pending|delivered``
  shows the others. Without ``CHATDESK_SMTP_URL`` the page says email is not
  configured and the buttons are disabled (the API would answer 409).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from chatdesk.access import AUDIT_LOG_ROLE, SETTINGS_ROLE, has_role
from chatdesk.bootstrap import FIRST_OWNER_EMAIL
from chatdesk.security.principals import OperatorActor
from chatdesk.web.assets import static_prefix
from chatdesk.web.deps import get_services, session_state
from chatdesk.web.oidc_api import sign_in_page_context

__all__ = ["CONSOLE_HEADERS", "render_page", "router"]

router = APIRouter()

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
CONSOLE_HEADERS = {
    "Content-Security-Policy": CONSOLE_CSP,
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
SETTINGS_SECTIONS = {
    "sites": "Sites",
    "operators": "Operators",
    "canned": "Canned responses",
    "tokens": "API tokens",
    "webhooks": "Webhooks",
    "emails": "Emails",
    "blocks": "Blocks",
    "audit": "Audit log",
}
# The role each section needs (the API's own rule, from access.py); a section is
# hidden from everyone below its role.
SECTION_ROLES = {"audit": AUDIT_LOG_ROLE}
# Where the sign-in page may send the operator afterwards: console paths only.
_NEXT = re.compile(r"^/admin(/[A-Za-z0-9_-]+)*/?$")


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False)


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates().get_template(name).render(static=static_prefix(), **context)
    return HTMLResponse(html, status_code=status, headers=CONSOLE_HEADERS)


def render_page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the console's look and headers, for pages outside the console
    (``web/email_pages.py``)."""
    return _render(name, status, **context)


async def _signed_in(request: Request) -> OperatorActor | None:
    state = await session_state(request)
    return state.actor if state is not None else None


def _to_login(request: Request) -> RedirectResponse:
    path = request.url.path
    target = "/admin/login"
    if _NEXT.match(path) and path not in ("/admin", "/admin/"):
        target += "?next=" + quote(path, safe="/")
    return RedirectResponse(target, status_code=303, headers=CONSOLE_HEADERS)


def _to_account() -> RedirectResponse:
    """Where a session signed in with a temporary password goes, whatever it asked for:
    the account page, to choose its own password (the API refuses it everything else)."""
    return RedirectResponse("/admin/account", status_code=303, headers=CONSOLE_HEADERS)


def _shell(actor: OperatorActor, page: str, **context: Any) -> dict[str, Any]:
    return {
        "operator": actor,
        "is_admin": has_role(actor, SETTINGS_ROLE),
        "page": page,
        "csrf_token": actor.csrf_token or "",
        **context,
    }


@router.get("/admin/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    if await _signed_in(request) is not None:
        target = next if next and _NEXT.match(next) else "/admin"
        return RedirectResponse(target, status_code=303, headers=CONSOLE_HEADERS)
    safe_next = next if next and _NEXT.match(next) else "/admin"
    settings = get_services(request).settings
    sso = sign_in_page_context(settings, request.query_params.get("sso"), safe_next)
    return _render("console/login.html", next_url=safe_next, **sso)


@router.get("/admin/forgot")
async def forgot_page() -> Response:
    """Ask for a password reset link by email (ADR 0023)."""
    return _render("console/forgot.html")


@router.get("/admin/reset")
async def reset_page() -> Response:
    """Choose a password with the token of a reset or invitation link; the page's script
    reads it from the address and drops it from there. No Referer carries it on."""
    page = _render("console/reset.html")
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


@router.get("/admin")
async def inbox_page(request: Request) -> Response:
    actor = await _signed_in(request)
    if actor is None:
        return _to_login(request)
    if actor.must_change_password or actor.totp_setup_required:
        return _to_account()
    return _render("console/inbox.html", **_shell(actor, "inbox"))


@router.get("/admin/conversations/{conversation_id}")
async def conversation_page(request: Request, conversation_id: str) -> Response:
    # The same shell as the inbox; app.js opens the conversation named in the path.
    return await inbox_page(request)


@router.get("/admin/settings")
async def settings_index(request: Request) -> Response:
    return await settings_page(request, "sites")


@router.get("/admin/settings/{section}")
async def settings_page(request: Request, section: str) -> Response:
    actor = await _signed_in(request)
    if actor is None:
        return _to_login(request)
    if actor.must_change_password or actor.totp_setup_required:
        return _to_account()
    if section not in SETTINGS_SECTIONS:
        return _render("console/error.html", 404, **_shell(actor, "error"), title="Not found")
    if not has_role(actor, SETTINGS_ROLE):
        return _render(
            "console/error.html",
            403,
            **_shell(actor, "error"),
            title="Settings are for admins",
            message="Ask an admin or the owner of this chatdesk to change settings.",
        )
    if not has_role(actor, SECTION_ROLES.get(section, SETTINGS_ROLE)):
        return _render(
            "console/error.html",
            403,
            **_shell(actor, "error"),
            title="The audit log is for owners",
            message="Only an owner of this chatdesk can read the audit log.",
        )
    sections = {
        key: label
        for key, label in SETTINGS_SECTIONS.items()
        if has_role(actor, SECTION_ROLES.get(key, SETTINGS_ROLE))
    }
    return _render(
        "console/settings.html",
        **_shell(actor, "settings"),
        section=section,
        sections=sections,
    )


@router.get("/admin/reports")
async def reports_page(request: Request) -> Response:
    """Reports (ADR 0026): every operator, on the sites they see; the page's script
    draws the charts, with uPlot loaded only here."""
    actor = await _signed_in(request)
    if actor is None:
        return _to_login(request)
    if actor.must_change_password:
        return _to_account()
    return _render("console/reports.html", **_shell(actor, "reports"))


@router.get("/admin/account")
async def account_page(request: Request) -> Response:
    actor = await _signed_in(request)
    if actor is None:
        return _to_login(request)
    return _render(
        "console/account.html",
        **_shell(actor, "account"),
        first_owner=actor.email.lower() == FIRST_OWNER_EMAIL,
        must_change=actor.must_change_password,
        totp_required=actor.totp_setup_required and not actor.must_change_password,
        email_enabled=get_services(request).settings.email_enabled,
    )


@router.get("/admin/{rest:path}")
async def other_console_path(request: Request, rest: str) -> Response:
    actor = await _signed_in(request)
    if actor is None:
        return _to_login(request)
    if rest == "":
        return await inbox_page(request)
    if actor.must_change_password or actor.totp_setup_required:
        return _to_account()
    return _render("console/error.html", 404, **_shell(actor, "error"), title="Not found")
