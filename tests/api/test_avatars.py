"""Operators' avatars over HTTP: uploading one's own picture (checked like an attachment,
stored as a small square WebP), removing it, the initials that stand in, the public
cacheable URL that serves either, and the faces the widget config shows."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from chatdesk.avatars import AVATAR_MAX_BYTES, AVATAR_PATH
from tests.api.expect import assert_error, signed_in_as
from tests.api.world import api_world, quick_operator
from tests.factories import Operator, csrf, login


def picture(size: tuple[int, int] = (400, 300), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(out, fmt)
    return out.getvalue()


def put(client: TestClient, operator: Operator | None, data: bytes, kind: str = "image/png") -> Any:
    headers = csrf(operator) if operator else {}
    return client.put(AVATAR_PATH, files={"file": ("me.png", data, kind)}, headers=headers)


def me(client: TestClient) -> dict[str, Any]:
    shape: dict[str, Any] = client.get("/api/v1/auth/me").json()["operator"]
    return shape


def test_an_operator_uploads_a_picture_and_everyone_may_fetch_it(client: TestClient) -> None:
    olga = signed_in_as(client, "agent", name="Olga Orlova")
    before = me(client)
    assert before["avatar_uploaded"] is False
    assert before["avatar_url"].startswith(f"/avatars/{olga.id}?v=i")
    response = put(client, olga, picture((400, 300), "JPEG"), "image/jpeg")
    assert response.status_code == 200, response.text
    after = response.json()["operator"]
    assert after["avatar_uploaded"] is True and after["avatar_url"] != before["avatar_url"]
    assert me(client)["avatar_url"] == after["avatar_url"]
    client.cookies.clear()  # public: a visitor's browser fetches it without a session
    served = client.get(after["avatar_url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert "immutable" in served.headers["cache-control"]
    assert "public" in served.headers["cache-control"]
    image = Image.open(io.BytesIO(served.content))
    assert image.format == "WEBP" and image.size == (256, 256)  # cropped to a square
    # Without the current version: the picture still, cached briefly.
    stale = client.get(f"/avatars/{olga.id}?v=old")
    assert stale.content == served.content and "immutable" not in stale.headers["cache-control"]


def test_without_a_picture_the_initials_stand_in(client: TestClient) -> None:
    olga = signed_in_as(client, "agent", name="Olga van Orlova")
    served = client.get(me(client)["avatar_url"])
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert b">OO</text>" in served.content and b"<script" not in served.content
    assert "sandbox" in served.headers["content-security-policy"]
    other = quick_operator(client, "agent", name="<b>&amp</b>")
    odd = client.get(f"/avatars/{other.id}").content
    assert b"<b>" not in odd and b">?</text>" in odd  # only letters and digits are drawn
    assert client.get("/avatars/nobody").status_code == 404
    assert olga.id


def test_removing_the_picture_brings_the_initials_back(client: TestClient) -> None:
    olga = signed_in_as(client, "agent", name="Olga Orlova")
    uploaded = put(client, olga, picture()).json()["operator"]
    response = client.delete(AVATAR_PATH, headers=csrf(olga))
    assert response.status_code == 200, response.text
    removed = response.json()["operator"]
    assert removed["avatar_uploaded"] is False and removed["avatar_url"] != uploaded["avatar_url"]
    assert client.get(uploaded["avatar_url"]).headers["content-type"].startswith("image/svg")
    # Removing none is no error.
    assert client.delete(AVATAR_PATH, headers=csrf(olga)).status_code == 200


@pytest.mark.parametrize(
    ("data", "kind", "words"),
    [
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/svg+xml",
            "PNG, JPEG, GIF or WebP",
        ),
        (b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n", "application/pdf", "PNG, JPEG, GIF or WebP"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png", "cannot be read"),
        (b"", "image/png", "empty"),
    ],
)
def test_what_is_no_picture_is_refused_in_words(
    client: TestClient, data: bytes, kind: str, words: str
) -> None:
    olga = signed_in_as(client, "agent")
    error = assert_error(put(client, olga, data, kind), 422, "validation_error")
    assert words in error["message"], error
    assert me(client)["avatar_uploaded"] is False


def test_a_picture_too_large_is_413(client: TestClient) -> None:
    olga = signed_in_as(client, "agent")
    big = picture((16, 16)) + b"\0" * AVATAR_MAX_BYTES
    assert_error(put(client, olga, big), 413, "payload_too_large")
    assert me(client)["avatar_uploaded"] is False


def test_signing_in_is_needed_and_the_csrf_token(client: TestClient) -> None:
    assert_error(put(client, None, picture()), 401, "unauthorized")
    assert_error(client.delete(AVATAR_PATH), 401, "unauthorized")
    signed_in_as(client, "agent")
    assert_error(put(client, None, picture()), 403, "forbidden")


def test_another_operator_cannot_remove_mine(client: TestClient) -> None:
    olga = signed_in_as(client, "agent", name="Olga")
    mine = put(client, olga, picture()).json()["operator"]["avatar_url"]
    pavel = signed_in_as(client, "agent", name="Pavel")
    assert client.delete(AVATAR_PATH, headers=csrf(pavel)).status_code == 200  # his own
    assert client.get(mine).headers["content-type"] == "image/webp"
    login(client, olga)
    assert me(client)["avatar_url"] == mine


def test_the_widget_config_shows_up_to_three_online_faces_without_emails(
    client: TestClient,
) -> None:
    world = api_world(client)
    key = world.site["site_key"]

    def team() -> list[dict[str, Any]]:
        site = client.get("/api/v1/widget/config", params={"site_key": key}).json()["site"]
        found: list[dict[str, Any]] = site["team"]
        return found

    assert team() == []
    presence = client.app.state.services.operator_presence  # type: ignore[attr-defined]
    names = ["Ann Archer", "Bea Bell", "Cy Cole", "Dot Dunn"]
    made = [quick_operator(client, "admin", name=name) for name in names]
    outsider = quick_operator(client, "agent", name="Al Outside", site_ids=[])
    for operator in [*made, outsider]:
        presence.opened(operator.id)
    try:
        faces = team()
        assert [face["name"] for face in faces] == ["Ann", "Bea", "Cy"]
        assert set(faces[0]) == {"name", "avatar_url"}
        assert faces[0]["avatar_url"].startswith(f"/avatars/{made[0].id}?v=")
        assert "@" not in str(faces)
    finally:
        for operator in [*made, outsider]:
            presence.closed(operator.id)
