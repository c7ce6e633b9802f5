"""``/api/docs``: Swagger UI on ``/openapi.json``, from chatdesk's own files.

Swagger UI is vendored under ``static/vendor/swagger-ui`` and started by a script
file, so the page works offline and carries the console's CSP: scripts and styles
from this origin only, nothing inline. Off in production unless
``CHATDESK_API_DOCS_ENABLED`` turns it on (``/openapi.json`` is always served).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from chatdesk import __version__
from chatdesk.web.console_pages import CONSOLE_HEADERS

__all__ = ["DOCS_PATH", "page"]

DOCS_PATH = "/api/docs"
_VENDOR = "/static/vendor/swagger-ui"
_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chatdesk {__version__} API</title>
<link rel="icon" type="image/png" href="{_VENDOR}/favicon-32x32.png">
<link rel="stylesheet" href="{_VENDOR}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="/openapi.json"></div>
<script src="{_VENDOR}/swagger-ui-bundle.js"></script>
<script src="/static/api-docs/start.js"></script>
</body>
</html>
"""


async def page(_request: Request) -> HTMLResponse:
    """The API reference page: a plain Starlette endpoint, outside the API (as FastAPI's
    own docs page is), so route tables of the API leave it out."""
    return HTMLResponse(_PAGE, headers=CONSOLE_HEADERS)
