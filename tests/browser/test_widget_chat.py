"""The widget end to end: a visitor on the demo page and an operator on the HTTP API."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Route, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import (
    OperatorApi,
    make_site,
    open_widget,
)
from tests.conftest import LiveServer


def composer(frame: FrameLocator) -> Any:
    return frame.get_by_role("textbox", name="Message")


def say(frame: FrameLocator, text: str) -> None:
    composer(frame).fill(text)
    composer(frame).press("Enter")


def mine(frame: FrameLocator) -> Any:
    return frame.locator(".confirmed .msg.me .bubble")


def theirs(frame: FrameLocator) -> Any:
    return frame.locator(".confirmed .msg.them .bubble")


def test_visitor_and_operator_chat_live_and_history_survives_reload(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext, operator: OperatorApi
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_email="required")
    page = visitor.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.goto(live_server.url + "/demo")
    expect(page.get_by_role("button", name="Open chat")).to_be_visible()
    # Nothing is framed before the visitor asks for the chat.
    expect(page.locator("iframe")).to_have_count(0)

    frame = open_widget(page)
    expect(frame.get_by_text("Hi there! How can we help?")).to_be_visible()
    frame.get_by_label("Name").fill("Vera Visitor")
    frame.get_by_role("button", name="Start chat").click()
    expect(frame.get_by_role("alert").filter(has_text="email")).to_be_visible()  # required
    frame.get_by_label("Email").fill("vera@example.com")
    frame.get_by_role("button", name="Start chat").click()
    say(frame, "Do you ship to Canada?")
    expect(mine(frame)).to_have_text(["Do you ship to Canada?"])

    (conversation,) = operator.conversations()
    (first,) = operator.messages(conversation["id"])
    assert first["body"] == "Do you ship to Canada?"
    assert first["author"] == {
        "type": "visitor",
        "id": conversation["visitor_id"],
        "name": "Vera Visitor",
    }

    # Typing, both ways: the operator's stream hears the visitor type...
    with operator.http.stream(
        "GET", "/api/v1/events", headers={"Accept": "text/event-stream"}
    ) as stream:
        composer(frame).press_sequentially("Also")
        lines = stream.iter_lines()
        typing = next(line for line in lines if line == "event: typing")
        data = json.loads(next(lines).removeprefix("data: "))
    assert typing and data["data"]["author"]["type"] == "visitor"
    assert data["conversation_id"] == conversation["id"]
    # ...and the visitor sees the operator type.
    operator.typing(conversation["id"])
    expect(frame.get_by_text("Olivia Operator is typing…")).to_be_visible()
    composer(frame).fill("")
    operator.reply(conversation["id"], "Yes, shipping to Canada is free over €50.")
    expect(theirs(frame)).to_have_text(["Yes, shipping to Canada is free over €50."])
    expect(frame.get_by_text("Olivia Operator is typing…")).to_be_hidden()
    expect(frame.locator("[aria-live=polite]")).to_have_text(
        "Olivia Operator says: Yes, shipping to Canada is free over €50."
    )

    # Closed, a reply raises the unread badge on the launcher.
    frame.get_by_role("button", name="Close chat").click()
    expect(page.locator("iframe[title=Chat]")).to_be_hidden()
    operator.reply(conversation["id"], "Anything else?")
    expect(page.get_by_role("button", name="Open chat, 1 unread")).to_be_visible()
    expect(page.locator("chatdesk-widget .b")).to_have_text("1")

    page.reload()
    expect(page.get_by_role("button", name="Open chat, 1 unread")).to_be_visible()
    frame = open_widget(page)
    expect(mine(frame)).to_have_text(["Do you ship to Canada?"])
    expect(theirs(frame)).to_have_text(
        ["Yes, shipping to Canada is free over €50.", "Anything else?"]
    )
    expect(frame.get_by_label("Email")).to_have_count(0)  # no second pre-chat form
    expect(page.locator("chatdesk-widget .b")).to_be_hidden()

    # A new tab of the same site continues the same conversation.
    other = visitor.new_page()
    other.goto(live_server.url + "/demo")
    other_frame = open_widget(other)
    expect(theirs(other_frame)).to_have_count(2)
    say(other_frame, "No, thanks!")
    expect(mine(frame)).to_have_text(["Do you ship to Canada?", "No, thanks!"])
    assert [m["body"] for m in written(operator.messages(conversation["id"]))] == [
        "Do you ship to Canada?",
        "Yes, shipping to Canada is free over €50.",
        "Anything else?",
        "No, thanks!",
    ]
    assert problems == [], problems


def written(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages people wrote, without the timeline's lines (a reply assigns)."""
    return [m for m in messages if m["author"]["type"] != "system"]


def test_network_drop_loses_nothing_and_duplicates_nothing(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext, operator: OperatorApi
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    say(frame, "Hello?")
    expect(mine(frame)).to_have_text(["Hello?"])
    (conversation,) = operator.conversations()

    visitor.set_offline(True)
    expect(frame.get_by_text("Connection lost · reconnecting…")).to_be_visible()
    operator.reply(conversation["id"], "First reply")
    operator.reply(conversation["id"], "Second reply")
    say(frame, "Are you there?")
    expect(frame.locator(".pending .msg.failed")).to_contain_text("Not sent.")
    expect(frame.get_by_role("alert")).to_contain_text("You seem to be offline")

    visitor.set_offline(False)
    expect(theirs(frame)).to_have_text(["First reply", "Second reply"])
    expect(mine(frame)).to_have_text(["Hello?", "Are you there?"])
    expect(frame.locator(".pending .msg")).to_have_count(0)
    assert [m["body"] for m in written(operator.messages(conversation["id"]))] == [
        "Hello?",
        "First reply",
        "Second reply",
        "Are you there?",
    ]


def test_a_send_whose_answer_was_lost_is_retried_without_a_duplicate(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext, operator: OperatorApi
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    say(frame, "One")
    expect(mine(frame)).to_have_text(["One"])
    (conversation,) = operator.conversations()
    sent: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(json.loads(route.request.post_data or "{}")["client_msg_id"])
        if len(sent) > 1:
            route.continue_()
            return
        route.fetch()  # the server stores the message...
        route.abort("connectionreset")  # ...and the answer never arrives

    page.route("**/api/v1/widget/conversations/*/messages", lose_the_first_answer)
    say(frame, "Two")
    # Retried on its own with the same client_msg_id; the server answers with the stored one.
    expect(mine(frame)).to_have_text(["One", "Two"])
    for _ in range(200):
        if len(sent) >= 2:
            break
        page.wait_for_timeout(50)
    assert len(sent) == 2 and sent[0] == sent[1]
    expect(frame.locator(".pending .msg")).to_have_count(0)
    stored = operator.messages(conversation["id"])
    assert [m["body"] for m in stored] == ["One", "Two"]
    assert stored[1]["client_msg_id"] == sent[0]


def test_rate_limit_is_explained_in_words_and_the_message_kept(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext, operator: OperatorApi
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    say(frame, "Hi")
    expect(mine(frame)).to_have_text(["Hi"])
    limited = {"error": {"code": "rate_limited", "message": "Too many requests.", "details": None}}

    def too_many(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        route.fulfill(status=429, headers={"Retry-After": "30"}, json=limited)

    page.route("**/api/v1/widget/conversations/*/messages", too_many)
    say(frame, "Again")
    expect(frame.get_by_role("alert")).to_have_text(
        "You're sending messages too quickly. Please wait 30 seconds; we'll try again for you."
    )
    expect(frame.locator(".pending .msg.failed")).to_contain_text("Again")
    page.unroute("**/api/v1/widget/conversations/*/messages")
    frame.get_by_role("button", name="Retry").click()
    expect(mine(frame)).to_have_text(["Hi", "Again"])
    expect(frame.get_by_role("alert")).to_be_hidden()
    (conversation,) = operator.conversations()
    assert [m["body"] for m in written(operator.messages(conversation["id"]))] == ["Hi", "Again"]


def test_keyboard_escape_closes_and_focus_stays_inside_while_open(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    page.goto(live_server.url + "/demo")
    launcher = page.get_by_role("button", name="Open chat")
    launcher.focus()
    page.keyboard.press("Enter")
    frame = page.frame_locator("iframe[title=Chat]")
    expect(composer(frame)).to_be_focused()
    for _ in range(6):  # Tab cycles inside the chat, never back to the host page
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") == "CHATDESK-WIDGET"
    sound = frame.get_by_role("button", name="Sound notifications")
    expect(sound).to_have_attribute("aria-pressed", "false")  # off until the visitor asks
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")
    composer(frame).focus()
    page.keyboard.press("Escape")
    expect(page.locator("iframe[title=Chat]")).to_be_hidden()
    expect(page.get_by_role("button", name="Open chat")).to_be_focused()
    page.reload()
    frame = open_widget(page)
    expect(frame.get_by_role("button", name="Sound notifications")).to_have_attribute(
        "aria-pressed", "true"
    )


def test_identified_visitor_gets_the_same_conversation_on_another_device(
    settings: Settings, live_server: LiveServer, browser: Browser, operator: OperatorApi
) -> None:
    site = make_site(
        settings, "Demo shop", [live_server.url], prechat_name="required", identity_required=True
    )

    def identity_token() -> str:
        claims = {
            "sub": "user-42",
            "name": "Ida Identified",
            "email": "ida@example.com",
            "exp": int(time.time()) + 600,
        }
        return jwt.encode(claims, site["identity_secret"], algorithm="HS256")

    bodies: list[list[str]] = []
    for text in ("From my laptop", "From my phone"):
        device = browser.new_context()
        device.set_default_timeout(10_000)
        page = device.new_page()
        page.goto(live_server.url + "/demo")
        frame = open_widget(page)
        expect(frame.get_by_text("Please sign in on this site to chat with us.")).to_be_visible()
        page.evaluate("token => window.chatdesk.identify(token)", identity_token())
        # Name and email come from the signed token: no pre-chat form.
        say(frame, text)
        expect(mine(frame)).to_have_count(len(bodies) + 1)
        bodies.append(mine(frame).all_inner_texts())
        device.close()
    assert bodies == [["From my laptop"], ["From my laptop", "From my phone"]]
    (conversation,) = operator.conversations()
    visitor = operator.http.get(f"/api/v1/conversations/{conversation['id']}").json()["visitor"]
    assert (visitor["name"], visitor["email"], visitor["external_id"]) == (
        "Ida Identified",
        "ida@example.com",
        "user-42",
    )


def test_expired_cursor_refetches_history_and_continues_live(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext, operator: OperatorApi
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    say(frame, "Hello")
    expect(mine(frame)).to_have_text(["Hello"])
    (conversation,) = operator.conversations()
    expired: list[str] = []

    def expire_once(route: Route) -> None:
        if route.request.headers.get("accept") != "text/event-stream" or expired:
            route.continue_()
            return
        expired.append(route.request.headers.get("last-event-id", ""))
        body = {"error": {"code": "cursor_expired", "message": "Too old.", "details": None}}
        route.fulfill(status=410, json=body)

    visitor.set_offline(True)
    expect(frame.get_by_text("Connection lost · reconnecting…")).to_be_visible()
    operator.reply(conversation["id"], "Missed while away")
    page.route("**/api/v1/widget/events*", expire_once)
    visitor.set_offline(False)
    expect(theirs(frame)).to_have_text(["Missed while away"])  # from the refetched history
    assert expired and expired[0].isdigit()
    operator.reply(conversation["id"], "And live again")
    expect(theirs(frame)).to_have_text(["Missed while away", "And live again"])
    expect(frame.get_by_text("We usually reply in a few minutes")).to_be_visible()
