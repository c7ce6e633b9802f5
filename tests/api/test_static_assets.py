"""Static asset URLs and their caching (ADR 0010): a content-hashed prefix cached for a
year, the unversioned path briefly, and the loader short-lived with an ETag."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from chatdesk.web.assets import STATIC_DIR, static_version
from chatdesk.web.bundle import BUNDLES, bundle, bundle_name
from tests.api.world import api_world

IMMUTABLE = "public, max-age=31536000, immutable"
JOINED = {bundle_name(entry): entry for entry in BUNDLES}
ASSET = re.compile(r'(?:src|href)="(/static/([0-9a-f]{12})/[^"]+)"')


def test_pages_name_hashed_assets_cached_for_a_year(client: TestClient) -> None:
    world = api_world(client)
    frame = client.get("/widget/frame", params={"site": world.site["site_key"]}).text
    login = client.get("/admin/login").text
    assets = ASSET.findall(frame) + ASSET.findall(login)
    # The frame's css and js; the sign-in page's css, its script and the passkey one's.
    assert len(assets) == 5
    assert {version for _url, version in assets} == {static_version()}
    for url, version in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == IMMUTABLE
        relative = url.removeprefix(f"/static/{version}/")
        if relative in JOINED:  # the frame's modules, joined by the server (ADR 0028)
            assert response.content == bundle(STATIC_DIR, JOINED[relative])
        else:
            assert response.content == (STATIC_DIR / relative).read_bytes()
    # A module imported relatively resolves under the same prefix.
    imported = client.get(f"/static/{static_version()}/widget/api.js")
    assert imported.status_code == 200 and imported.headers["cache-control"] == IMMUTABLE


def test_unversioned_and_stale_paths_still_work_briefly_cached(client: TestClient) -> None:
    for url in ("/static/widget/frame.js", "/static/0123456789ab/widget/frame.js"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.content == (STATIC_DIR / "widget" / "frame.js").read_bytes()
    assert client.get(f"/static/{static_version()}/widget/nope.js").status_code == 404
    escape = client.get(f"/static/{static_version()}/..%2F..%2Fsettings.py")
    assert escape.status_code == 404


def test_the_version_follows_every_file(tmp_path: Path) -> None:
    versions = []
    for n, content in enumerate((b"a", b"a", b"b")):
        tree = tmp_path / str(n)
        (tree / "sub").mkdir(parents=True)
        (tree / "top.css").write_bytes(b"body{}")
        (tree / "sub" / "deep.js").write_bytes(content)
        versions.append(static_version(tree))
    assert versions[0] == versions[1] != versions[2]


def test_loader_is_short_lived_with_an_etag(client: TestClient) -> None:
    first = client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=300"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag)
    again = client.get("/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = client.get("/widget.js", headers={"If-None-Match": '"0000"'})
    assert other.status_code == 200 and other.content == first.content


def test_static_scripts_carry_only_the_headers_a_subresource_needs(client: TestClient) -> None:
    """A script, style sheet or catalog is never a document: nosniff and its caching, but
    not a document's policies (ADR 0028). Anything else static keeps them all."""
    prefix = f"/static/{static_version()}"
    for path in ("widget/frame.bundle.js", "widget/frame.css", "widget/i18n/de.json"):
        response = client.get(f"{prefix}/{path}")
        assert response.status_code == 200, path
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == IMMUTABLE
        assert headers["content-type"].split(";")[0] in (
            "text/javascript",
            "text/css",
            "application/json",
        )
        for name in ("content-security-policy", "permissions-policy", "x-frame-options"):
            assert name not in headers, (path, name)
        # Never revalidated under the versioned prefix: no validators.
        assert "etag" not in headers and "last-modified" not in headers
    # The unversioned path is revalidated after its five minutes: it keeps its ETag.
    assert "etag" in client.get("/static/widget/frame.css").headers
    # A static file of another type (here a licence text) keeps every header.
    other = client.get(f"{prefix}/vendor/linkifyjs/LICENSE")
    assert other.status_code == 200
    assert "default-src 'none'" in other.headers["content-security-policy"]
    assert other.headers["x-frame-options"] == "DENY"
    # A missing file is an error page like any other.
    missing = client.get(f"{prefix}/widget/nope.js")
    assert missing.status_code == 404 and "content-security-policy" in missing.headers


def test_the_frame_bundle_joins_its_modules_once_each(client: TestClient) -> None:
    body = client.get(f"/static/{static_version()}/widget/frame.bundle.js").text
    # Every module the frame imports statically, once, before the frame's own code.
    for module in ("shared/days.js", "widget/api.js", "widget/view.js", "widget/i18n.js"):
        assert body.count(f"// {module}\n") == 1, module
    assert body.index("// widget/view.js") < body.index("// widget/frame.js\n")
    # No static import or export is left (the browser would refuse the file).
    assert not re.search(r"^\s*(import\s*\{|export\b)", body, re.M)
    # Modules loaded later stay separate files.
    assert "// widget/rating.js" not in body and 'import("./rating.js")' in body
