"""The operator API for conversations, messages and events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from chatdesk.access import access_conversation, access_site
from chatdesk.actions.conversations import mark_read, update_conversation
from chatdesk.actions.messages import send_message
from chatdesk.actions.receipts import mark_seen
from chatdesk.queries.conversations import (
    ConversationFilter,
    conversation_for,
    label_names,
    list_conversations,
)
from chatdesk.queries.messages import history
from chatdesk.queries.operators import team
from chatdesk.queries.sites import inbox_sites
from chatdesk.shape_types import (
    Conversation,
    ConversationPage,
    EventsPage,
    InboxSiteList,
    LabelList,
    Message,
    MessageList,
    TeamList,
    TeamMember,
)
from chatdesk.web.answers import SSE, answers
from chatdesk.web.attachments_api import signed_links
from chatdesk.web.deps import (
    OPERATOR_LIMITS,
    CurrentOperator,
    ServicesDep,
    request_ip,
    still_signed_in,
)
from chatdesk.web.events_api import After, Wait, events_response, publish_typing
from chatdesk.web.schemas import ConversationPatch, OperatorMessageIn, ReadIn, TypingIn

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["operator"], dependencies=OPERATOR_LIMITS)
# One status or several, comma-separated: the console's default list is "open,pending".
_STATUS = "(open|pending|resolved|snoozed)"
_STATUSES = rf"^{_STATUS}(,{_STATUS}){{0,3}}$"
Short = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]


@router.get(
    "/conversations",
    summary="Conversations, newest activity first",
    **answers(ConversationPage, 401, 422),
)
async def get_conversations(
    services: ServicesDep,
    actor: CurrentOperator,
    status: Annotated[str | None, Query(pattern=_STATUSES)] = None,
    assignee: Short = None,
    site_id: Short = None,
    label: Short = None,
    visitor_id: Short = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> ConversationPage:
    flt = ConversationFilter(
        status=status,
        assignee=assignee,
        site_id=site_id,
        label=label,
        q=q or None,
        visitor_id=visitor_id,
        cursor=cursor,
        limit=limit,
    )
    found, next_cursor = await services.db.read(lambda conn: list_conversations(conn, actor, flt))
    return {"conversations": found, "next_cursor": next_cursor}


@router.get(
    "/conversations/{conversation_id}",
    summary="One conversation with its visitor",
    **answers(Conversation, 401, 404),
)
async def get_conversation(
    services: ServicesDep, actor: CurrentOperator, conversation_id: str
) -> Conversation:
    def read(conn: Any) -> Conversation:
        return conversation_for(conn, access_conversation(conn, actor, conversation_id), actor)

    return await services.db.read(read)


@router.patch(
    "/conversations/{conversation_id}",
    summary="Change status, assignee or labels",
    **answers(Conversation, 401, 403, 404, 422),
)
async def patch_conversation(
    services: ServicesDep,
    request: Request,
    actor: CurrentOperator,
    conversation_id: str,
    body: ConversationPatch,
) -> Conversation:
    changes: dict[str, Any] = {
        "status": body.status,
        "snoozed_until": body.snoozed_until,
        "labels_": body.labels,
    }
    if "assignee_id" in body.model_fields_set:
        changes["assignee_id"] = body.assignee_id
    ip = request_ip(request)
    online = services.operator_presence.connected()
    updated = await services.db.write(
        update_conversation, actor, conversation_id, ip=ip, online=online, **changes
    )
    if body.snoozed_until is not None and services.worker.scheduler is not None:
        services.worker.scheduler.wake()  # it wakes at its time if this process holds the lease
    return updated


_READ_ANSWERS = answers(Conversation, 401, 403, 404, 422)
_READ_ANSWERS["responses"][204] = {"description": "No Content"}


@router.post(
    "/conversations/{conversation_id}/read",
    summary="Read receipt: the team has seen up to message_id",
    **_READ_ANSWERS,
    description=(
        "With {message_id}: 204; the team's read mark moves forward to that message (a "
        "conversation.read event both sides see), and the unread count becomes the "
        "visitor's messages after it. Without a body (older clients): the unread count is "
        "cleared and the conversation returned (200)."
    ),
)
async def post_read(
    services: ServicesDep,
    actor: CurrentOperator,
    conversation_id: str,
    body: ReadIn | None = None,
) -> Conversation | Response:
    if body is None:
        return await services.db.write(mark_read, actor, conversation_id)
    await services.db.write(mark_seen, actor, conversation_id, body.message_id)
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="History incl. private notes",
    **answers(MessageList, 401, 404, 422),
)
async def get_messages(
    services: ServicesDep,
    actor: CurrentOperator,
    conversation_id: str,
    before: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessageList:
    links = signed_links(services)

    def read(conn: Any) -> list[Message]:
        access_conversation(conn, actor, conversation_id)
        return history(
            conn,
            conversation_id,
            before=before,
            limit=limit,
            include_private=True,
            links=links,
        )

    return {"messages": await services.db.read(read)}


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    summary="Reply or add a private note (idempotent on client_msg_id)",
    **answers(Message, 401, 403, 404, 409, 422, status=201, also=200),
)
async def post_message(
    services: ServicesDep, actor: CurrentOperator, conversation_id: str, body: OperatorMessageIn
) -> Message | JSONResponse:
    message, created = await services.db.write(
        send_message,
        actor,
        conversation_id,
        body.body,
        body.client_msg_id,
        private=body.private,
        email_away=services.settings.email_away,
        attachment_ids=body.attachment_ids,
        links=signed_links(services) if body.attachment_ids else None,
    )
    if not created:
        return JSONResponse(message, status_code=200)
    services.metrics.messages.labels("note" if body.private else "operator").inc()
    return message


@router.post(
    "/conversations/{conversation_id}/typing",
    status_code=204,
    summary="Operator is typing",
    **answers(None, 401, 403, 404, 422, status=204),
)
async def post_typing(
    services: ServicesDep,
    actor: CurrentOperator,
    conversation_id: str,
    body: TypingIn | None = None,
) -> Response:
    conversation = await services.db.read(
        lambda conn: access_conversation(conn, actor, conversation_id)
    )
    private = body.private if body is not None else False
    await publish_typing(services, actor, conversation, private=private)
    return Response(status_code=204)


@router.get(
    "/events",
    summary="Events of the operator's sites: long-poll JSON, or SSE",
    **answers(EventsPage, 401, 410, 422, 429, content=SSE),
)
async def get_events(
    request: Request,
    services: ServicesDep,
    actor: CurrentOperator,
    after: After = None,
    wait: Wait = None,
) -> Response | EventsPage:
    async def still_allowed() -> bool:
        # Streams re-check their credential at every heartbeat, so a revoked session's or
        # token's stream ends within one heartbeat (at once when revoked in this process).
        return await still_signed_in(request, actor)

    return await events_response(request, services, actor, after, wait, still_allowed)


@router.get(
    "/labels",
    summary="Labels for suggestions (an agent: those on its sites)",
    **answers(LabelList, 401),
)
async def get_labels(services: ServicesDep, actor: CurrentOperator) -> LabelList:
    return {"labels": await services.db.read(lambda conn: label_names(conn, actor))}


@router.get(
    "/team",
    summary="Active operators with their presence, for assignment (any operator)",
    **answers(TeamList, 401, 404, 422),
)
async def get_team(
    services: ServicesDep, actor: CurrentOperator, site_id: Short = None
) -> TeamList:
    """With ``site_id``, only those who answer that site (for @mentions); a site the
    operator does not see → 404, as one that does not exist."""

    def read(conn: Any) -> list[TeamMember]:
        if site_id is not None:
            access_site(conn, actor, site_id)
        return team(conn, site_id)

    operators = await services.db.read(read)
    services.operator_presence.stamp(operators)
    return {"operators": operators}


@router.get(
    "/inbox/sites",
    summary="Sites whose conversations the operator sees (id and name)",
    **answers(InboxSiteList, 401),
)
async def get_inbox_sites(services: ServicesDep, actor: CurrentOperator) -> InboxSiteList:
    # The console's site filter needs names for agents too; GET /sites is admin-only.
    return {"sites": await services.db.read(lambda conn: inbox_sites(conn, actor))}
