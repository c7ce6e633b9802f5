"""The widget's HTTP surface: loader, frame, launcher settings and the demo page (over ASGI)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from chatdesk.web.assets import static_prefix
from tests.factories import add_operator, create_site, csrf, login, services_db

STATIC = Path(__file__).resolve().parents[2] / "src" / "chatdesk" / "static"
# Everything the frame loads on its first open (the pre-chat form), under /static: its
# style sheet and its modules, joined by the server into frame.bundle.js (ADR 0028).
# Loaded later, when needed: shared/message-text.js with the chat view, the address
# finder (vendor/linkifyjs) for a message that may hold an address, widget/uploads.js and
# shared/attachments.js for the first file, widget/rating.js once a chat is resolved.
FRAME_ASSETS = ["widget/frame.css", "widget/frame.bundle.js"]
FRAME_MODULES = [
    "widget/frame.js",
    "widget/api.js",
    "widget/dom.js",
    "widget/focus.js",
    "widget/host.js",
    "widget/outbox.js",
    "widget/store.js",
    "widget/stream.js",
    "widget/view.js",
    "widget/i18n.js",
    "shared/days.js",
]
SHOP = "https://shop.example.com"


def owner_site(client: TestClient, **fields: Any) -> dict[str, Any]:
    owner = login(client, add_operator(services_db(client), "owner"))
    body = {"name": "Shop", "allowed_origins": [SHOP, "https://www.shop.example.com"], **fields}
    site = create_site(client, owner, **body)
    site["owner"] = owner
    return site


def test_loader_is_public_cacheable_and_loadable_cross_origin(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert "x-frame-options" not in response.headers
    assert "window.chatdesk" in response.text
    again = client.get("/widget.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_frame_may_be_framed_only_by_the_sites_exact_origins(client: TestClient) -> None:
    site = owner_site(client)
    response = client.get("/widget/frame", params={"site": site["site_key"], "origin": SHOP})
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert policy.endswith(
        "; frame-ancestors https://shop.example.com https://www.shop.example.com"
    )
    for part in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'self'",
    ):
        assert part in policy
    assert "x-frame-options" not in response.headers
    assert f'data-host-origin="{SHOP}"' in response.text
    assert f'<script type="module" src="{static_prefix()}/widget/frame.bundle.js">' in response.text
    # An origin the site does not allow is never a postMessage target.
    elsewhere = client.get(
        "/widget/frame", params={"site": site["site_key"], "origin": "https://evil.example"}
    )
    assert 'data-host-origin=""' in elsewhere.text


def test_unknown_and_disabled_sites_get_the_same_unframeable_frame(client: TestClient) -> None:
    site = owner_site(client)
    response = client.patch(
        f"/api/v1/sites/{site['id']}", json={"enabled": False}, headers=csrf(site["owner"])
    )
    assert response.status_code == 200, response.text
    key = site["site_key"]
    unknown_key = "pk_" + "x" * (len(key) - 3)
    # Uncompressed, so that the two bodies compare byte for byte: compressed, their
    # lengths differ with the echoed key's own compressibility (checked below).
    plain = {"Accept-Encoding": "identity"}
    disabled = client.get("/widget/frame", params={"site": key, "origin": SHOP}, headers=plain)
    unknown = client.get(
        "/widget/frame", params={"site": unknown_key, "origin": SHOP}, headers=plain
    )

    def shape(
        response: Any, site_key: str, skip: frozenset[str] = frozenset()
    ) -> tuple[int, dict[str, str], str]:
        left_out = {"x-request-id", "date", *skip}
        headers = {k: v for k, v in response.headers.items() if k not in left_out}
        return response.status_code, headers, response.text.replace(site_key, "KEY")

    assert shape(disabled, key) == shape(unknown, unknown_key)
    packed = [
        client.get(
            "/widget/frame", params={"site": k, "origin": SHOP}, headers={"Accept-Encoding": "br"}
        )
        for k in (key, unknown_key)
    ]
    length = frozenset({"content-length"})
    assert shape(packed[0], key, length) == shape(packed[1], unknown_key, length)
    assert disabled.headers["content-security-policy"].endswith("frame-ancestors 'none'")
    assert "x-frame-options" not in disabled.headers


def test_frame_escapes_what_it_echoes(client: TestClient) -> None:
    response = client.get("/widget/frame", params={"site": '"><script>alert(1)</script>'})
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text
    assert "&#34;&gt;&lt;script&gt;" in response.text


def test_launcher_settings_say_whether_this_origin_may_show_the_chat(client: TestClient) -> None:
    site = owner_site(client, accent_color="#0f766e", position="left")
    response = client.get(
        "/widget/launcher", params={"site": site["site_key"]}, headers={"Origin": SHOP}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    launcher = response.json()
    assert {k: launcher[k] for k in ("accent_color", "position", "allowed", "locale", "dir")} == {
        "accent_color": "#0f766e",
        "position": "left",
        "allowed": True,
        "locale": "en",
        "dir": "ltr",
    }
    assert launcher["strings"]["open"] == "Open chat"
    other = client.get(
        "/widget/launcher",
        params={"site": site["site_key"]},
        headers={"Origin": "https://evil.example"},
    )
    assert other.json()["allowed"] is False
    missing = client.get("/widget/launcher", params={"site": "pk_nope"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_demo_page_embeds_the_demo_site(client: TestClient) -> None:
    empty = client.get("/demo")
    assert empty.status_code == 200
    assert "chatdesk demo" in empty.text
    assert "/widget.js" not in empty.text
    site = owner_site(client, name="Demo shop", allowed_origins=["http://testserver"])
    page = client.get("/demo")
    assert page.status_code == 200
    assert f'<script src="/widget.js" data-site="{site["site_key"]}" async></script>' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-src 'self'" in policy
    assert "not in the demo site's allowed origins" not in page.text


def test_demo_page_is_off_in_production_unless_enabled(settings: Settings) -> None:
    off = settings.model_copy(update={"demo_enabled": False})
    with TestClient(create_app(off)) as client:
        assert client.get("/demo").status_code == 404


@pytest.mark.parametrize("name", ["widget/loader.js", "widget/frame.css", *FRAME_MODULES])
def test_widget_assets_exist(name: str) -> None:
    assert (STATIC / name).is_file()


def test_widget_assets_fit_their_gzipped_budgets(client: TestClient) -> None:
    """The loader rides on every host page view: <= 4 KB gzipped. The frame: <= 25 KB."""

    def gzipped(body: bytes) -> int:
        return len(gzip.compress(body, compresslevel=9))

    loader = gzipped(client.get("/widget.js").content)
    site = owner_site(client)
    frame_html = gzipped(client.get("/widget/frame", params={"site": site["site_key"]}).content)
    assets = {name: gzipped(client.get(f"/static/{name}").content) for name in FRAME_ASSETS}
    # One catalog is fetched, the visitor's: count the largest.
    catalogs = {
        path.name: gzipped(client.get(f"/static/widget/i18n/{path.name}").content)
        for path in (STATIC / "widget" / "i18n").glob("*.json")
    }
    largest = max(catalogs, key=catalogs.__getitem__)
    assets[f"widget/i18n/{largest}"] = catalogs[largest]
    frame_total = frame_html + sum(assets.values())
    print(f"\nwidget.js: {loader} B gzipped (budget 4096)")
    print(f"frame html {frame_html} B + " + ", ".join(f"{k} {v} B" for k, v in assets.items()))
    print(f"frame total: {frame_total} B gzipped (budget 25600)")
    assert loader <= 4096
    assert frame_total <= 25 * 1024
