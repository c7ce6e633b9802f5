"""/api/docs: chatdesk's own page and files, a CSP without inline or foreign script,
and off in production unless turned on. The browser side is tests/browser/test_api_docs.py."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings

ASSET = re.compile(r'(?:src|href)="([^"]+)"')
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def _production(settings: Settings, **extra: Any) -> Settings:
    return Settings.model_validate(
        {
            **settings.model_dump(),
            "env": "production",
            "secret_key": "k" * 48,
            "rate_limits": "on",
            **extra,
        }
    )


def test_the_page_uses_only_its_own_files(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = ASSET.findall(page.text)
    assert len(assets) == 4  # icon, stylesheet, Swagger UI, the start-up script
    assert "<script>" not in page.text  # no inline script
    assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handler
    for asset in assets:
        assert asset.startswith("/static/") and not asset.startswith("//"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        suffix = asset[asset.rindex(".") :]
        assert CONTENT_TYPES[suffix] in served.headers["content-type"], asset
        assert len(served.content) > 100, asset
    bundle = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle
    start = client.get("/static/api-docs/start.js").text
    assert "SwaggerUIBundle" in start and "dataset.openapi" in start
    assert 'data-openapi="/openapi.json"' in page.text
    assert client.get("/openapi.json").status_code == 200


def test_the_page_allows_no_inline_or_foreign_script(client: TestClient) -> None:
    csp = client.get("/api/docs").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "http" not in csp  # no other host, CDN or otherwise


def test_the_vendored_copy_names_its_version_and_license(client: TestClient) -> None:
    from chatdesk.web.assets import STATIC_DIR

    vendor = STATIC_DIR / "vendor" / "swagger-ui"
    assert re.search(r"swagger-ui-dist` \*\*\d+\.\d+\.\d+\*\*", (vendor / "README.md").read_text())
    assert "Apache License" in (vendor / "LICENSE").read_text()


def test_off_in_production_unless_turned_on(settings: Settings) -> None:
    with TestClient(create_app(_production(settings))) as client:
        assert client.get("/api/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 200
    enabled = _production(settings, api_docs_enabled=True)
    with TestClient(create_app(enabled), base_url="https://testserver") as client:
        page = client.get("/api/docs")
        assert page.status_code == 200
        assert "unsafe-inline" not in page.headers["content-security-policy"]
    disabled = Settings.model_validate({**settings.model_dump(), "api_docs_enabled": False})
    with TestClient(create_app(disabled)) as client:
        assert client.get("/api/docs").status_code == 404
