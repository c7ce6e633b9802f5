"""Widget loader (``/widget.js``), the widget frame, the launcher settings and ``/demo``.

The loader runs on customers' pages: it is public, cacheable and loadable
cross-origin. The frame runs on chatdesk's own origin inside an ``<iframe>``;
its ``Content-Security-Policy: frame-ancestors`` lists exactly the site's
allowed origins, so a page elsewhere cannot display it. An unknown and a
disabled site get the same response (``frame-ancestors 'none'``), so the frame
never reveals which site keys exist.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from chatdesk.access import public_site
from chatdesk.demo import DEMO_SITE_NAME
from chatdesk.errors import NotFound
from chatdesk.queries.sites import demo_site
from chatdesk.shapes import launcher_shape
from chatdesk.web.assets import STATIC_DIR, static_prefix
from chatdesk.web.deps import ServicesDep, own_origin

__all__ = ["FRAME_POLICY", "router"]

router = APIRouter()

LOADER_PATH = STATIC_DIR / "widget" / "loader.js"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# The frame's own policy; ``frame-ancestors`` is appended per site.
FRAME_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; media-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
_DEMO_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SiteKey = Annotated[str, Query(max_length=64)]
HostOrigin = Annotated[str, Query(max_length=300)]
Languages = Annotated[str, Query(max_length=2000)]


@cache
def _templates() -> jinja2.Environment:
    """Built on first use, never at import time."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(name: str, **context: Any) -> str:
    return _templates().get_template(name).render(static=static_prefix(), **context)


@cache
def _loader() -> tuple[bytes, str]:
    """The loader as sent: its lines without their indentation, and without the lines
    that are only a comment (it rides on every host page view: ADR 0024)."""
    lines = (line.strip() for line in LOADER_PATH.read_text("utf-8").split("\n"))
    body = "\n".join(line for line in lines if line and not line.startswith("//")).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


async def _site_by_key(services: Any, site_key: str) -> Any:
    """The enabled site with this public key, or None (unknown and disabled look alike)."""
    if not site_key:
        return None
    try:
        return await services.db.read(lambda conn: public_site(conn, site_key))
    except NotFound:
        return None


@router.get("/widget.js")
async def widget_loader(request: Request) -> Response:
    """The loader script: public, cacheable, loadable from any origin."""
    body, etag = _loader()
    headers = {
        "Cache-Control": "public, max-age=300",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Content-Security-Policy": "default-src 'none'",
        "ETag": etag,
    }
    # Weak (W/) when the edge compressed the body it validated.
    sent = request.headers.get("if-none-match", "").split(",")
    if etag in (tag.strip().removeprefix("W/") for tag in sent):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/widget/launcher")
async def widget_launcher(
    request: Request,
    services: ServicesDep,
    site: SiteKey = "",
    origin: HostOrigin = "",
    lang: Languages = "",
) -> Response:
    """What the loader needs before the frame exists: colour, side, and whether to show.

    Public data, so any origin may read it (CORS ``*``). ``allowed`` says whether the
    asking page's origin may frame the chat; the loader shows no launcher otherwise.
    Browsers send no ``Origin`` on a same-origin GET, so the loader also names it in
    the query (advice only: the frame's ``frame-ancestors`` is what enforces it).
    ``lang``: the browser's languages, comma-separated, for the loader's own words.
    """
    row = await _site_by_key(services, site)
    headers = {
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Cache-Control": "public, max-age=60",
        "Vary": "Origin",
    }
    if row is None:
        body = {"error": {"code": "not_found", "message": "Unknown site.", "details": None}}
        return JSONResponse(body, status_code=404, headers=headers)
    origin = (request.headers.get("origin") or origin).lower()
    languages = [tag for tag in lang.split(",")[:10] if tag]
    return JSONResponse(launcher_shape(row, origin, languages), headers=headers)


@router.get("/widget/frame")
async def widget_frame(
    services: ServicesDep, site: SiteKey = "", origin: HostOrigin = ""
) -> HTMLResponse:
    """The chat itself, framed by the host page; framing allowed only for the site's origins."""
    row = await _site_by_key(services, site)
    allowed = [str(o) for o in row.allowed_origins] if row is not None else []
    ancestors = " ".join(allowed) if allowed else "'none'"
    # The frame posts messages only to a host origin the site allows; never '*'.
    host_origin = origin.lower() if origin.lower() in [o.lower() for o in allowed] else ""
    html = _render("widget/frame.html", site_key=site, host_origin=host_origin)
    headers = {
        "Content-Security-Policy": f"{FRAME_POLICY}; frame-ancestors {ancestors}",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(html, headers=headers)


@router.get("/demo")
async def demo_page(request: Request, services: ServicesDep) -> HTMLResponse:
    """A pretend shop embedding the widget (off in production unless enabled)."""
    if not services.settings.demo_on:
        raise NotFound("Not found.")
    own = own_origin(request)
    site = await services.db.read(lambda conn: demo_site(conn, own, DEMO_SITE_NAME))
    html = _render(
        "widget/demo.html" if site is not None else "widget/demo_missing.html",
        site_key=site.site_key if site is not None else "",
        origin=own,
        origin_allowed=site is not None and own in [o.lower() for o in site.allowed_origins],
    )
    headers = {"Content-Security-Policy": _DEMO_POLICY, "Cache-Control": "no-store"}
    return HTMLResponse(html, headers=headers)
