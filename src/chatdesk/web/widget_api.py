"""The visitor (widget) API: ``Authorization: Bearer <visitor token>``."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from starlette.routing import Route

from chatdesk.access import access_conversation, public_site
from chatdesk.actions.blocks import check_not_blocked
from chatdesk.actions.conversations import start_conversation
from chatdesk.actions.email import request_transcript
from chatdesk.actions.messages import send_message
from chatdesk.actions.ratings import rate_conversation
from chatdesk.actions.receipts import mark_seen
from chatdesk.actions.sites import SITE_DEFAULTS
from chatdesk.actions.visitors import create_session, update_visitor
from chatdesk.business_hours import is_open
from chatdesk.queries.conversations import list_visitor_conversations
from chatdesk.queries.messages import history
from chatdesk.queries.operators import answering, online_faces
from chatdesk.queries.visitors import own_profile, visitor_name
from chatdesk.security.auth import visitor_state
from chatdesk.shape_types import (
    ConversationList,
    EventsPage,
    Face,
    Message,
    MessageList,
    NewConversation,
    Rating,
    VisitorProfile,
    VisitorSession,
    WidgetConfig,
)
from chatdesk.shapes import own_visitor_shape, widget_config_shape
from chatdesk.web.answers import SSE, answers
from chatdesk.web.attachments_api import signed_links
from chatdesk.web.deps import (
    ServicesDep,
    VisitorCall,
    bearer,
    get_services,
    limit_ip,
    request_ip,
    signed_in_visitor,
    visitor_call,
)
from chatdesk.web.events_api import After, Wait, events_response, publish_typing
from chatdesk.web.schemas import (
    NewConversationIn,
    RatingIn,
    ReadIn,
    VisitorMessageIn,
    VisitorPatch,
    WidgetSessionIn,
    json_body_openapi,
    query_openapi,
    read_json,
    read_query,
)

__all__ = ["fast_routes", "router"]

router = APIRouter(prefix="/api/v1/widget", tags=["widget"])
Limit = Annotated[int, Query(ge=1, le=200)]
Before = Annotated[str | None, Query(max_length=64)]
# Each visitor route has one dependency: the signed-in visitor, rate-limited by group.
Reading = Annotated[VisitorCall, visitor_call("visitor_read")]
Writing = Annotated[VisitorCall, visitor_call("visitor_message")]
Starting = Annotated[VisitorCall, visitor_call("visitor_message", ip_group="widget_conversation")]
Typing = Annotated[VisitorCall, visitor_call("typing")]
Transcript = Annotated[VisitorCall, visitor_call("transcript")]


MESSAGES_PATH = "/conversations/{conversation_id}/messages"


async def post_message(request: Request) -> JSONResponse:
    """Send a message (idempotent on ``client_msg_id``): the busiest route of all.

    Served on the app's direct lane, behind the app's middleware and ahead of FastAPI's routing
    (:func:`fast_routes`, ADR 0005): it reads its caller, path and body itself,
    because FastAPI's routing, dependency and body machinery cost more per request
    than everything else it does. The same function is registered on ``router``
    below, so OpenAPI documents it.
    """
    call = await signed_in_visitor(request, "visitor_message")
    conversation_id: str = request.path_params["conversation_id"]
    body = await read_json(request, VisitorMessageIn)
    actor = call.actor
    if body.attachment_ids:  # the usual message carries none, and no links to sign
        message, created = await call.services.db.write(
            send_message,
            actor,
            conversation_id,
            body.body,
            body.client_msg_id,
            attachment_ids=body.attachment_ids,
            links=signed_links(call.services),
        )
    else:
        message, created = await call.services.db.write(
            send_message, actor, conversation_id, body.body, body.client_msg_id
        )
    if created:
        call.services.metrics.visitor_messages.inc()
    return JSONResponse(message, status_code=201 if created else 200)


router.add_api_route(
    MESSAGES_PATH,
    post_message,
    methods=["POST"],
    status_code=201,
    summary="Send a message (idempotent on client_msg_id)",
    **answers(Message, 401, 404, 409, 422, status=201, also=200),
    description=(
        "Stores the message once per client_msg_id: 201 with the message when stored, "
        "200 with the stored message when that client_msg_id was already used."
    ),
    openapi_extra={
        "parameters": [
            {
                "name": "conversation_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        **json_body_openapi(VisitorMessageIn),
    },
)


EVENTS_PATH = "/events"
_EVENTS_QUERY: dict[str, TypeAdapter[Any]] = {
    "after": TypeAdapter(After),
    "wait": TypeAdapter(Wait),
}


async def _still_valid(request: Request) -> bool:
    """Whether a stream's visitor token still works: asked when an erasure (in any
    process) wakes the stream. Read from the database, not the cache: a request in
    flight during the erasure may have cached the token again."""
    token = bearer(request)
    if token is None:
        return False
    services = get_services(request)
    return await services.db.read(lambda conn: visitor_state(conn, token)) is not None


async def get_events(request: Request) -> Response:
    """This visitor's events: long-poll JSON, or SSE. On the direct lane like
    :func:`post_message`: every parked widget is one of these, so what FastAPI's
    layers hold per request is memory per parked listener."""
    call = await signed_in_visitor(request, "visitor_read")
    query = read_query(request, _EVENTS_QUERY)
    result = await events_response(
        request,
        call.services,
        call.actor,
        query["after"],
        query["wait"],
        partial(_still_valid, request),
    )
    return result if isinstance(result, Response) else JSONResponse(result)


router.add_api_route(
    EVENTS_PATH,
    get_events,
    methods=["GET"],
    summary="This visitor's events: long-poll JSON, or SSE",
    **answers(EventsPage, 401, 410, 422, 429, content=SSE),
    openapi_extra={"parameters": query_openapi(_EVENTS_QUERY)},
)


def fast_routes() -> list[Route]:
    """The routes the app serves on its direct lane, ahead of FastAPI (ADR 0005)."""
    return [
        Route(router.prefix + MESSAGES_PATH, post_message, methods=["POST"]),
        Route(router.prefix + EVENTS_PATH, get_events, methods=["GET"]),
    ]


@router.get(
    "/config", summary="Public widget configuration of a site", **answers(WidgetConfig, 404, 422)
)
async def get_config(
    services: ServicesDep, site_key: Annotated[str, Query(min_length=1, max_length=64)]
) -> WidgetConfig:
    now = services.clock()
    connected = services.operator_presence.connected()

    def read(conn: Any) -> tuple[Any, bool, list[Face]]:
        site = public_site(conn, site_key)
        online = is_open(site.business_hours, now)
        if online and site.require_agent_online:
            # Offline while nobody who answers this site is online (not away).
            online = answering(conn, site.id, connected)
        return site, online, online_faces(conn, site.id, connected) if online else []

    site, online, team = await services.db.read(read)
    return widget_config_shape(
        site,
        online=online,
        email=services.settings.email_enabled,
        stock=SITE_DEFAULTS,
        team=team,
    )


@router.post(
    "/sessions",
    status_code=201,
    summary="Start a visitor session",
    dependencies=[limit_ip("widget_session")],
    **answers(VisitorSession, 403, 404, 422, status=201),
)
async def post_session(
    services: ServicesDep, request: Request, body: WidgetSessionIn
) -> VisitorSession:
    profile = {
        "name": body.name,
        "email": body.email,
        "page_url": body.page_url,
        "timezone": body.timezone,
        "user_agent": (request.headers.get("user-agent") or "")[:500] or None,
    }
    ip = request_ip(request)
    token, visitor = await services.db.write(
        create_session, body.site_key, profile, body.identity_token, ip=ip
    )
    return {"visitor_token": token, "visitor": own_visitor_shape(visitor)}


@router.get("/visitor", summary="The visitor's own profile", **answers(VisitorProfile, 401))
async def get_visitor(call: Reading) -> VisitorProfile:
    visitor_id = call.actor.visitor_id
    return await call.services.db.read(lambda conn: own_profile(conn, visitor_id))


@router.patch(
    "/visitor",
    summary="Set the visitor's name, email, page or time zone",
    **answers(VisitorProfile, 401, 422),
)
async def patch_visitor(call: Writing, body: VisitorPatch) -> VisitorProfile:
    profile = body.model_dump(exclude_unset=True)
    actor = call.actor
    visitor = await call.services.db.write(update_visitor, actor, profile)
    return own_visitor_shape(visitor)


@router.get(
    "/conversations", summary="This visitor's conversations", **answers(ConversationList, 401)
)
async def get_conversations(call: Reading) -> ConversationList:
    actor = call.actor
    found = await call.services.db.read(lambda conn: list_visitor_conversations(conn, actor))
    return {"conversations": found}


@router.post(
    "/conversations",
    status_code=201,
    summary="Start a conversation with its first message (idempotent on client_msg_id)",
    **answers(NewConversation, 401, 422, status=201, also=200),
)
async def post_conversation(
    call: Starting, body: NewConversationIn
) -> NewConversation | JSONResponse:
    actor = call.actor
    email_away = call.services.settings.email_away
    online = call.services.operator_presence.connected()
    conversation, message, created = await call.services.db.write(
        start_conversation,
        actor,
        body.body,
        body.client_msg_id,
        email_away=email_away,
        online=online,
    )
    result: NewConversation = {"conversation": conversation, "message": message}
    if not created:
        return JSONResponse(result, status_code=200)
    call.services.metrics.visitor_messages.inc()
    return result


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="Message history",
    **answers(MessageList, 401, 404, 422),
)
async def get_messages(
    call: Reading, conversation_id: str, before: Before = None, limit: Limit = 50
) -> MessageList:
    actor = call.actor
    links = signed_links(call.services)

    def read(conn: Any) -> list[Message]:
        access_conversation(conn, actor, conversation_id)
        return history(
            conn,
            conversation_id,
            before=before,
            limit=limit,
            include_private=False,
            links=links,
        )

    return {"messages": await call.services.db.read(read)}


@router.post(
    "/conversations/{conversation_id}/transcript",
    status_code=202,
    response_class=Response,  # no body: nothing for /openapi.json to describe
    summary="Email me the transcript (to the visitor's email address)",
    **answers(None, 401, 404, 409, 422, 429, status=202),
)
async def post_transcript(call: Transcript, conversation_id: str) -> Response:
    """Queue the conversation's transcript for the visitor's email: 202; 422 when the
    visitor gave no email address, 409 when this chatdesk sends no email."""
    email_enabled = call.services.settings.email_enabled
    await call.services.db.write(
        request_transcript, call.actor, conversation_id, email_enabled=email_enabled
    )
    return Response(status_code=202)


@router.post(
    "/conversations/{conversation_id}/read",
    status_code=204,
    response_class=Response,
    summary="Read receipt: the visitor has seen up to message_id",
    **answers(None, 401, 404, 422, 429, status=204),
)
async def post_read(call: Reading, conversation_id: str, body: ReadIn) -> Response:
    """Move the visitor's read mark forward to ``message_id`` (a public message of this
    conversation): a ``conversation.read`` event when it moved; 204 either way."""
    await call.services.db.write(mark_seen, call.actor, conversation_id, body.message_id)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/rating",
    status_code=201,
    summary="Rate the resolved conversation (1 to 5, an optional comment), once",
    **answers(Rating, 401, 403, 404, 409, 422, 429, status=201),
)
async def post_rating(call: Writing, conversation_id: str, body: RatingIn) -> Rating:
    """201 with the rating; 409 while the conversation is not resolved
    (``details.reason: "not_resolved"``) or once it was rated (``"already_rated"``)."""
    return await call.services.db.write(
        rate_conversation, call.actor, conversation_id, body.score, body.comment
    )


@router.post(
    "/conversations/{conversation_id}/typing",
    status_code=204,
    summary="Visitor is typing",
    **answers(None, 401, 404, status=204),
)
async def post_typing(call: Typing, conversation_id: str) -> Response:
    actor = call.actor
    now = call.services.clock()

    def read(conn: Any) -> tuple[Any, str | None]:
        row = access_conversation(conn, actor, conversation_id)
        check_not_blocked(conn, actor.visitor_id, now)
        return row, visitor_name(conn, actor.visitor_id)

    conversation, name = await call.services.db.read(read)
    await publish_typing(call.services, actor, conversation, author_name=name)
    return Response(status_code=204)
