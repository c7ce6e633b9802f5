"""Static asset URLs and their caching (ADR 0010): a content-hashed prefix cached for a
year, the unversioned path briefly, and the loader short-lived with an ETag."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from chatdesk.web.assets import STATIC_DIR, static_version
from tests.api.world import api_world

IMMUTABLE = "public, max-age=31536000, immutable"
ASSET = re.compile(r'(?:src|href)="(/static/([0-9a-f]{12})/[^"]+)"')


def test_pages_name_hashed_assets_cached_for_a_year(client: TestClient) -> None:
    world = api_world(client)
    frame = client.get("/widget/frame", params={"site": world.site["site_key"]}).text
    login = client.get("/admin/login").text
    assets = ASSET.findall(frame) + ASSET.findall(login)
    assert len(assets) == 4  # the frame's css and js, the console's css and js
    assert {version for _url, version in assets} == {static_version()}
    for url, version in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == IMMUTABLE
        relative = url.removeprefix(f"/static/{version}/")
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
