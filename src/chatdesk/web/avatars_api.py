"""Operators' faces: uploading and removing one's own picture, and serving every
operator's face (the picture, or initials) at a public, cacheable URL.

An upload goes through the attachments' checks (multipart read with a size limit, the
type sniffed from the bytes, the image decoded within its pixel cap and written again,
storage/inspect.py), becomes a small square WebP and is stored as ``avatars/<id>``.
``/avatars/<id>`` is, like ``/files``, never a page: ``nosniff`` and a ``sandbox``
Content-Security-Policy; with the current ``?v=`` it may be cached for good."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from chatdesk.access import require_person
from chatdesk.actions.operators import set_own_avatar
from chatdesk.avatars import AVATAR_MAX_BYTES, AVATAR_PATH, avatar_url, initials_svg, store_key
from chatdesk.errors import NotFound, ValidationFailed
from chatdesk.queries.operators import avatar_of, operator_profile
from chatdesk.runtime import Services
from chatdesk.shape_types import SignedIn
from chatdesk.storage.base import StoredFileMissing
from chatdesk.storage.inspect import Refused, avatar_image
from chatdesk.web.answers import answers
from chatdesk.web.attachments_api import UPLOAD_DOC, read_file
from chatdesk.web.deps import OPERATOR_LIMITS, CurrentOperator, ServicesDep

__all__ = ["router"]

router = APIRouter()
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_FACES: dict[str, Any] = {"image/webp": _BINARY, "image/svg+xml": _BINARY}
_HEADERS = {
    "content-security-policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
    "cross-origin-resource-policy": "same-origin",
}


async def _signed_in(services: Services, actor: Any) -> SignedIn:
    operator = await services.db.read(lambda conn: operator_profile(conn, actor.operator_id))
    services.operator_presence.stamp([operator])
    return {"operator": operator, "csrf_token": actor.csrf_token}


@router.put(
    AVATAR_PATH,
    tags=["auth"],
    summary="Upload your avatar (a PNG, JPEG, GIF or WebP image, at most 2 MiB; "
    "stored cropped to a square)",
    dependencies=OPERATOR_LIMITS,
    openapi_extra=UPLOAD_DOC,
    **answers(SignedIn, 400, 401, 403, 413, 422, 429),
)
async def put_avatar(services: ServicesDep, actor: CurrentOperator, request: Request) -> SignedIn:
    require_person(actor, "Change your avatar")
    data, _, claimed = await read_file(request, AVATAR_MAX_BYTES)
    try:
        picture = await asyncio.to_thread(
            avatar_image, data, claimed, services.settings.attachment_max_pixels
        )
    except Refused as exc:
        raise ValidationFailed(str(exc), {"field": "file"}) from exc
    version = hashlib.sha256(picture).hexdigest()[:16]
    key = store_key(actor.operator_id)
    await services.files.put(key, picture, "image/webp")
    try:
        await services.db.write(set_own_avatar, actor, version)
    except BaseException:
        with contextlib.suppress(Exception):
            await services.files.delete([key])
        raise
    return await _signed_in(services, actor)


@router.delete(
    AVATAR_PATH,
    tags=["auth"],
    summary="Remove your avatar: your initials stand in again",
    dependencies=OPERATOR_LIMITS,
    **answers(SignedIn, 401, 403, 429),
)
async def delete_avatar(services: ServicesDep, actor: CurrentOperator) -> SignedIn:
    require_person(actor, "Change your avatar")
    before = await services.db.write(set_own_avatar, actor, None)
    if before is not None:
        await services.files.delete([store_key(actor.operator_id)])
    return await _signed_in(services, actor)


@router.get(
    "/avatars/{operator_id}",
    tags=["files"],
    summary="An operator's face: their picture (WebP) or their initials (SVG)",
    response_class=Response,
    **answers(None, 404, 422, content=_FACES),
)
async def get_avatar(
    services: ServicesDep,
    operator_id: Annotated[str, Path(max_length=64)],
    v: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    row = await services.db.read(lambda conn: avatar_of(conn, operator_id))
    if row is None:
        raise NotFound("No such operator.")
    current = avatar_url(row.id, row.name, row.avatar).rsplit("=", 1)[1]
    # The URL with the current version never changes: cache it for good; others briefly.
    cache = "public, max-age=31536000, immutable" if v == current else "public, max-age=300"
    headers = {**_HEADERS, "cache-control": cache}
    if row.avatar is not None:
        with contextlib.suppress(StoredFileMissing):
            data = await services.files.get(store_key(row.id))
            return Response(data, media_type="image/webp", headers=headers)
    return Response(initials_svg(row.id, row.name), media_type="image/svg+xml", headers=headers)
