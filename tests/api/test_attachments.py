"""Attachments over HTTP: uploads by visitors and operators, what is refused, what is
stored of an image, and the signed links that serve the files. Every test runs twice:
on a local directory, and on S3-compatible storage (a real server on loopback)."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from chatdesk.security.signing import FileLinks
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.api.world import ApiWorld, api_world
from tests.factories import PDF, bearer, start_conversation, visitor_token

GPS = 0x8825


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The suite's settings, with the files in a directory or in a bucket of their own."""
    if request.param == "local":
        return settings
    url: str = request.getfixturevalue("s3_server")
    request.getfixturevalue("s3_credentials")
    bucket = f"chatdesk-test-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket=bucket)
    return settings.model_copy(update={"s3_bucket": bucket, "s3_endpoint_url": url})


def stored_files(settings: Settings) -> list[str]:
    """Every file the store holds, wherever it is."""
    if settings.s3_bucket:
        listed = boto3.client("s3", endpoint_url=settings.s3_endpoint_url).list_objects_v2(
            Bucket=settings.s3_bucket
        )
        return [item["Key"] for item in listed.get("Contents", [])]
    files = Path(str(settings.files_dir))
    return [str(p) for p in files.rglob("*") if p.is_file()] if files.exists() else []


@pytest.fixture
def world(client: TestClient) -> ApiWorld:
    return api_world(client)


def photo(size: tuple[int, int] = (640, 480), *, fmt: str = "JPEG") -> bytes:
    """An image carrying what must not leave the uploader's device: a GPS position and
    the camera's make in EXIF, and a comment."""
    image = Image.new("RGB", size, (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = 6  # Orientation: rotated 90°, to be turned upright
    exif.get_ifd(GPS)[2] = (48.0, 51.0, 29.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, fmt, exif=exif, comment=b"home address")
    return out.getvalue()


def upload(
    client: TestClient,
    path: str,
    headers: dict[str, str],
    data: bytes,
    name: str = "file.bin",
    content_type: str = "application/octet-stream",
) -> Any:
    return client.post(path, files={"file": (name, data, content_type)}, headers=headers)


def widget_path(world: ApiWorld) -> str:
    return f"/api/v1/widget/conversations/{world.conversation['id']}/attachments"


def console_path(world: ApiWorld) -> str:
    return f"/api/v1/conversations/{world.conversation['id']}/attachments"


def test_a_visitors_photo_is_stored_upright_without_its_metadata_with_a_thumbnail(
    client: TestClient, world: ApiWorld
) -> None:
    original = photo()
    assert b"SecretCam" in original
    response = upload(
        client, widget_path(world), world.visitor, original, "IMG_1.jpg", "image/jpeg"
    )
    assert response.status_code == 201, response.text
    shape = response.json()
    assert set(shape) == {
        "id",
        "name",
        "content_type",
        "size",
        "url",
        "thumbnail_url",
        "width",
        "height",
    }
    assert shape["name"] == "IMG_1.jpg" and shape["content_type"] == "image/jpeg"
    assert (shape["width"], shape["height"]) == (480, 640)  # the orientation applied
    served = client.get(shape["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"].startswith("sandbox")
    assert served.headers["content-disposition"].startswith("inline;")
    assert len(served.content) == shape["size"]
    stored = Image.open(io.BytesIO(served.content))
    assert stored.size == (480, 640)
    assert not stored.getexif()  # no EXIF at all: no GPS, no camera, no orientation
    assert b"SecretCam" not in served.content and b"home address" not in served.content
    thumb = client.get(shape["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    small = Image.open(io.BytesIO(thumb.content))
    assert max(small.size) == 320 and small.size[1] > small.size[0]


def test_an_operator_uploads_a_pdf_served_as_a_download(
    client: TestClient, world: ApiWorld
) -> None:
    response = upload(
        client, console_path(world), world.op, PDF, "Invoice 4/2026 ü.pdf", "application/pdf"
    )
    assert response.status_code == 201, response.text
    shape = response.json()
    assert shape["thumbnail_url"] is None and shape["width"] is None
    assert shape["name"] == "2026 ü.pdf"  # what follows the last slash
    served = client.get(shape["url"])
    assert served.status_code == 200 and served.content == PDF
    assert served.headers["content-type"] == "application/pdf"
    disposition = served.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''2026%20%C3%BC.pdf" in disposition


def test_a_name_keeps_no_directories_nor_control_characters(
    client: TestClient, world: ApiWorld
) -> None:
    body = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="..\\..\\etc/pa\x07sswd.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"plain words\n\r\n"
        b"--b0undary--\r\n"
    )
    response = client.post(
        widget_path(world),
        content=body,
        headers={**world.visitor, "content-type": "multipart/form-data; boundary=b0undary"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "passwd.txt"
    served = client.get(response.json()["url"])
    assert served.content == b"plain words\n"
    assert served.headers["content-type"] == "text/plain; charset=utf-8"
    assert served.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("data", "name", "content_type", "why"),
    [
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "a.svg",
            "image/svg+xml",
            "does not match",
        ),
        (b"<html><script>alert(1)</script></html>", "a.png", "image/png", "does not match"),
        (PDF, "a.png", "image/png", "does not match"),
        (
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64,
            "a.exe",
            "application/octet-stream",
            "cannot be attached",
        ),
        (b"\x00\x01\x02binary", "a.bin", "application/octet-stream", "cannot be attached"),
        (b"", "empty.txt", "text/plain", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "broken.png", "image/png", "cannot be read"),
    ],
)
def test_what_is_refused_is_refused_with_422_and_nothing_is_stored(
    client: TestClient,
    world: ApiWorld,
    settings: Any,
    data: bytes,
    name: str,
    content_type: str,
    why: str,
) -> None:
    response = upload(client, widget_path(world), world.visitor, data, name, content_type)
    error = assert_error(response, 422, "validation_error")
    assert why in error["message"], error
    assert stored_files(settings) == []


def test_an_svg_declared_as_text_is_kept_as_text_and_never_served_inline(
    client: TestClient, world: ApiWorld
) -> None:
    svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"
    response = upload(
        client, widget_path(world), world.visitor, svg, "logo.svg", "application/octet-stream"
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "text/plain"
    served = client.get(response.json()["url"])
    assert served.headers["content-type"] == "text/plain; charset=utf-8"
    assert served.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in served.headers["content-security-policy"]


def test_a_decompression_bomb_is_refused_before_it_is_decoded(
    client: TestClient, world: ApiWorld
) -> None:
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")  # 400 megapixels in a small file
    assert len(out.getvalue()) < 1_000_000
    response = upload(
        client, widget_path(world), world.visitor, out.getvalue(), "bomb.png", "image/png"
    )
    error = assert_error(response, 422, "validation_error")
    assert "too large" in error["message"]


def test_a_file_over_the_limit_gets_413(client: TestClient, world: ApiWorld) -> None:
    big = b"a" * (10 * 1024 * 1024 + 1)
    assert_error(
        upload(client, widget_path(world), world.visitor, big, "big.txt", "text/plain"),
        413,
        "payload_too_large",
    )
    # Just under the limit is fine (an upload may be larger than any JSON body).
    fine = upload(
        client, widget_path(world), world.visitor, b"a" * (1024 * 1024), "ok.txt", "text/plain"
    )
    assert fine.status_code == 201, fine.text


def test_the_body_must_be_multipart_with_a_file_part(client: TestClient, world: ApiWorld) -> None:
    path = widget_path(world)
    assert_error(client.post(path, json={"file": "x"}, headers=world.visitor), 400, "bad_request")
    wrong_part = client.post(
        path, files={"other": ("a.txt", b"x", "text/plain")}, headers=world.visitor
    )
    assert_error(wrong_part, 422, "validation_error")
    not_a_file = client.post(
        path,
        data={"file": "just text"},
        files={"x": ("a", b"", "text/plain")},
        headers=world.visitor,
    )
    assert_error(not_a_file, 422, "validation_error")
    broken = client.post(
        path,
        content=(
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
            b"unterminated"
        ),
        headers={**world.visitor, "content-type": "multipart/form-data; boundary=xyz"},
    )
    assert_error(broken, 400, "bad_request")  # no closing boundary: not a whole body


def test_nobody_uploads_into_a_conversation_they_cannot_see(
    client: TestClient, world: ApiWorld, settings: Any
) -> None:
    other = visitor_token(client, world.site["site_key"], name="Mallory")
    start_conversation(client, other)
    response = upload(client, widget_path(world), bearer(other), b"hello", "a.txt", "text/plain")
    assert_error(response, 404, "not_found")
    stranger_site = api_world(client)
    response = upload(
        client,
        console_path(world).replace(world.conversation["id"], stranger_site.conversation["id"]),
        bearer(other),
        b"x",
        "a.txt",
        "text/plain",
    )
    assert response.status_code == 401  # a visitor token is no operator credential
    assert stored_files(settings) == []


def test_a_link_works_only_as_signed_for_its_file_and_until_it_expires(
    client: TestClient, world: ApiWorld, settings: Any
) -> None:
    one = upload(client, widget_path(world), world.visitor, b"one", "one.txt", "text/plain").json()
    two = upload(client, widget_path(world), world.visitor, b"two", "two.txt", "text/plain").json()
    token_one = one["url"].split("token=")[1]
    # Another file's token, a changed character, a thumbnail the file does not have.
    assert_error(client.get(f"/files/{two['id']}?token={token_one}"), 403, "forbidden")
    flipped = token_one[:-1] + ("a" if token_one[-1] != "a" else "b")
    assert_error(client.get(f"/files/{one['id']}?token={flipped}"), 403, "forbidden")
    assert_error(client.get(f"/files/{one['id']}/thumbnail?token={token_one}"), 403, "forbidden")
    assert_error(client.get(f"/files/{one['id']}?token=not-a-token"), 403, "forbidden")
    assert_error(client.get(f"/files/{one['id']}"), 422, "validation_error")
    links = FileLinks(settings.secret_key.get_secret_value())
    past = datetime.now(UTC) - timedelta(hours=2)
    expired = links.make(one["id"], "file", past)
    assert_error(client.get(f"/files/{one['id']}?token={expired}"), 410, "gone")
    thumb_token = links.make(one["id"], "thumbnail", datetime.now(UTC) + timedelta(hours=1))
    assert_error(client.get(f"/files/{one['id']}/thumbnail?token={thumb_token}"), 404, "not_found")
    assert client.get(one["url"]).content == b"one"
    assert re.fullmatch(r"/files/[0-9a-z]{26}\?token=[0-9a-z]{26}", one["url"])


@pytest.mark.parametrize(
    "token",
    ["%00", "a%00b", "x" * 65, "%F0%9F%92%A9" * 4, "%ud800", "' OR 1=1 --", "0" * 26, "Z" * 26],
)
def test_a_nasty_token_is_a_clear_4xx(client: TestClient, world: ApiWorld, token: str) -> None:
    one = upload(client, widget_path(world), world.visitor, b"one", "one.txt", "text/plain").json()
    for path in (f"/files/{one['id']}", f"/files/{one['id']}/thumbnail", "/files/%00"):
        response = client.get(f"{path}?token={token}")
        assert 400 <= response.status_code < 500, (path, token, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}
