"""Attachments: uploading a file into a conversation (visitors and operators), and the
signed links that serve it.

An upload is checked before anything is stored: the caller may see the conversation,
the body is within ``CHATDESK_ATTACHMENT_MAX_BYTES`` (the edge refuses more with 413
before reading it), the type sniffed from the bytes is allowed and agrees with what the
browser said, an image decodes within its pixel cap (storage/inspect.py). Then the
file (re-encoded, for an image, with its thumbnail) goes to the file store, and its row
is written; a row that cannot be written takes its files with it.

Files are served from ``/files/…``, a path that is never a page: ``nosniff``, a
``sandbox`` Content-Security-Policy, and ``Content-Disposition: attachment`` for
anything but a raster image, so no uploaded byte runs as script on chatdesk's origin.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from chatdesk import shapes
from chatdesk.access import access_conversation, access_visitor
from chatdesk.actions.attachments import record_attachment, storage_keys
from chatdesk.actions.blocks import check_not_blocked
from chatdesk.clock import iso
from chatdesk.errors import (
    BadRequest,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from chatdesk.ids import new_id
from chatdesk.queries.attachments import attachment_by_id, sent_in_conversations_of
from chatdesk.runtime import Services
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.security.signing import SignedLinks
from chatdesk.settings import KNOWN_ATTACHMENT_TYPES
from chatdesk.shape_types import Attachment, SentAttachment, VisitorFiles
from chatdesk.storage.base import StoredFileMissing
from chatdesk.storage.inspect import IMAGE_TYPES, Refused, clean_name, inspect
from chatdesk.web.answers import answers
from chatdesk.web.deps import (
    OPERATOR_LIMITS,
    CurrentOperator,
    ServicesDep,
    VisitorCall,
    visitor_call,
)

__all__ = ["UPLOAD_DOC", "UPLOAD_SUFFIX", "attachment_shape", "read_file", "router", "signed_links"]

router = APIRouter()
UPLOAD_SUFFIX = "/attachments"
Uploading = Annotated[VisitorCall, visitor_call("visitor_upload")]
ConversationId = Annotated[str, Path(max_length=64)]
UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def signed_links(services: Services) -> SignedLinks:
    """Attachment links signed now, for the settings' lifetime (ADR 0019)."""
    hours = services.settings.attachment_link_hours
    return services.file_links.until(services.clock() + timedelta(hours=hours))


def attachment_shape(services: Services, row: Any) -> Attachment:
    """An attachment row as the API shows it, with links signed for now."""
    return shapes.attachment_shape(row, signed_links(services).url)


async def read_file(request: Request, limit: int) -> tuple[bytes, str | None, str | None]:
    """The one ``file`` part of a multipart body: (bytes, its file name, its type),
    read into memory as it streams in, never more than ``limit`` bytes of it."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadRequest("Send the file as multipart/form-data, in a part named 'file'.")
    upload = _Upload(limit)
    callbacks: Any = upload.callbacks()  # python-multipart's TypedDict of the same
    parser = MultipartParser(boundary, callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest("The multipart body could not be read.") from exc
    if not upload.ended:
        raise BadRequest("The multipart body ended before its closing boundary.")
    if upload.found is None:
        raise ValidationFailed("Send the file in a part named 'file'.", {"field": "file"})
    return upload.found


class _Upload:
    """Collects the part named ``file`` (with a file name) of a multipart body."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.found: tuple[bytes, str | None, str | None] | None = None
        self.ended = False
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._data: bytearray | None = None
        self._parts = 0

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > 4:
            raise BadRequest("Send one file, in a part named 'file'.")
        self._headers, self._data = {}, None

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file" and b"filename" in options and self.found is None:
            self._data = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._data is None:
            return  # another field: not kept
        self._data.extend(data[start:end])
        if len(self._data) > self.limit:
            raise PayloadTooLarge("The file is larger than this server accepts.")

    def _part_end(self) -> None:
        if self._data is None:
            return
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"filename", b"").decode("utf-8", "replace")
        kind = self._headers.get(b"content-type", b"").decode("latin-1") or None
        self.found = (bytes(self._data), name, kind)
        self._data = None

    def _end(self) -> None:
        self.ended = True


async def _upload(
    services: Services, request: Request, actor: OperatorActor | VisitorActor, cid: str
) -> Attachment:
    settings = services.settings
    now = services.clock()

    def allowed(conn: Any) -> Any:
        row = access_conversation(conn, actor, cid)
        if isinstance(actor, VisitorActor):  # a blocked visitor uploads nothing (ADR 0018)
            check_not_blocked(conn, actor.visitor_id, now)
        return row

    conversation = await services.db.read(allowed)
    data, filename, claimed = await read_file(request, settings.attachment_max_bytes)
    try:
        found = await asyncio.to_thread(
            inspect,
            data,
            claimed,
            set(settings.attachment_types),
            settings.attachment_max_pixels,
        )
    except Refused as exc:
        raise ValidationFailed(str(exc), {"field": "file"}) from exc
    del data
    store = services.files
    attachment_id = new_id()
    key = f"{conversation.site_id}/{conversation.id}/{attachment_id}"
    keys = [key]
    try:
        await store.put(key, found.data, found.content_type)
        if found.thumbnail is not None:
            keys.append(key + ".thumb")
            await store.put(key + ".thumb", found.thumbnail, "image/webp")
        row = await services.db.write(
            record_attachment,
            actor,
            cid,
            attachment_id,
            name=clean_name(filename, found.content_type),
            content_type=found.content_type,
            size=len(found.data),
            width=found.width,
            height=found.height,
            thumbnail=found.thumbnail is not None,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await store.delete(keys)
        raise
    return attachment_shape(services, row)


@router.post(
    "/api/v1/widget/conversations/{conversation_id}" + UPLOAD_SUFFIX,
    status_code=201,
    tags=["widget"],
    summary="Upload a file into this visitor's conversation",
    openapi_extra=UPLOAD_DOC,
    **answers(Attachment, 400, 401, 404, 413, 422, 429, status=201),
)
async def post_visitor_attachment(
    call: Uploading, request: Request, conversation_id: ConversationId
) -> Attachment:
    return await _upload(call.services, request, call.actor, conversation_id)


@router.post(
    "/api/v1/conversations/{conversation_id}" + UPLOAD_SUFFIX,
    status_code=201,
    tags=["operator"],
    summary="Upload a file into a conversation",
    dependencies=OPERATOR_LIMITS,
    openapi_extra=UPLOAD_DOC,
    **answers(Attachment, 400, 401, 403, 404, 413, 422, 429, status=201),
)
async def post_operator_attachment(
    services: ServicesDep,
    actor: CurrentOperator,
    request: Request,
    conversation_id: ConversationId,
) -> Attachment:
    return await _upload(services, request, actor, conversation_id)


@router.get(
    "/api/v1/visitors/{visitor_id}/attachments",
    tags=["operator"],
    summary="The files sent in a visitor's conversations, newest first",
    **answers(VisitorFiles, 401, 404, 422),
)
async def get_visitor_attachments(
    services: ServicesDep,
    actor: CurrentOperator,
    visitor_id: Annotated[str, Path(max_length=64)],
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
) -> VisitorFiles:
    links = signed_links(services)

    def read(conn: Any) -> list[SentAttachment]:
        access_visitor(conn, actor, visitor_id)
        return [
            {
                **shapes.attachment_shape(row, links.url),
                "conversation_id": row.conversation_id,
                "message_id": row.message_id,
                "created_at": iso(row.created_at),
            }
            for row in sent_in_conversations_of(conn, visitor_id, limit)
        ]

    return {"attachments": await services.db.read(read)}


Token = Annotated[str, Query(min_length=1, max_length=64)]
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SERVED = {kind: _BINARY for kind in sorted(KNOWN_ATTACHMENT_TYPES | {"image/webp"})}
AttachmentId = Annotated[str, Path(max_length=64)]


async def _serve(services: Services, attachment_id: str, variant: str, token: str) -> Response:
    why = services.file_links.check(token, attachment_id, variant, services.clock())
    if why == "expired":
        raise Gone("This link has expired; open the conversation again for a fresh one.")
    if why is not None:
        raise Forbidden("This link is not valid.")
    row = await services.db.read(lambda conn: attachment_by_id(conn, attachment_id))
    if row is None or (variant == "thumbnail" and not row.thumbnail):
        raise NotFound("File not found.")
    key = storage_keys(row)[0 if variant == "file" else 1]
    try:
        data = await services.files.get(key)
    except StoredFileMissing as exc:
        raise NotFound("File not found.") from exc
    inline = variant == "thumbnail" or row.content_type in IMAGE_TYPES
    content_type = "image/webp" if variant == "thumbnail" else row.content_type
    if content_type == "text/plain":
        content_type = "text/plain; charset=utf-8"
    name = row.name if variant == "file" else f"{row.name}.webp"
    fallback = name.encode("ascii", "replace").decode().replace('"', "'")
    disposition = "inline" if inline else "attachment"
    disposition += f"; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        data,
        media_type=content_type,
        headers={
            "content-disposition": disposition,
            "content-security-policy": "sandbox; default-src 'none'; img-src 'self'",
            "cross-origin-resource-policy": "same-origin",
            "cache-control": "private, max-age=3600",
        },
    )


@router.get(
    "/files/{attachment_id}",
    tags=["files"],
    summary="An attachment, by its signed link",
    response_class=Response,
    **answers(None, 403, 404, 410, 422, content=_SERVED),
)
async def get_file(services: ServicesDep, attachment_id: AttachmentId, token: Token) -> Response:
    return await _serve(services, attachment_id, "file", token)


@router.get(
    "/files/{attachment_id}/thumbnail",
    tags=["files"],
    summary="An image attachment's thumbnail, by its signed link",
    response_class=Response,
    **answers(None, 403, 404, 410, 422, content={"image/webp": _BINARY}),
)
async def get_thumbnail(
    services: ServicesDep, attachment_id: AttachmentId, token: Token
) -> Response:
    return await _serve(services, attachment_id, "thumbnail", token)
