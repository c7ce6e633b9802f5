"""The console's live stream: server restarts, retries that never duplicate."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Request, Route, expect

from chatdesk.actions.messages import send_message
from chatdesk.db.runner import Database
from chatdesk.security.auth import visitor_from_token
from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DialogWatch,
    OperatorApi,
    Visitor,
    direct_operator,
    new_page,
    row,
    sign_in_with,
)
from tests.conftest import LiveServer


def _write_while_down(settings: Settings, visitor: Visitor, bodies: list[str]) -> None:
    """Visitor messages stored by the real action while no server is running."""
    db = Database(settings.database_url)
    db.start()
    try:
        actor = db.read_sync(lambda conn: visitor_from_token(conn, visitor.token))
        assert actor is not None and visitor.conversation_id is not None
        conversation_id = visitor.conversation_id
        for index, body in enumerate(bodies):
            db.write_sync(send_message, actor, conversation_id, body, f"down-{index}")
    finally:
        db.stop()


def test_stream_survives_server_restart(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    setup.close()
    visitor = Visitor(url, site["site_key"], {"name": "Rita Restart"})
    visitor.start("First, before the restart")
    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, f"/admin/conversations/{visitor.conversation_id}")
        visitor_messages = page.get_by_role("list", name="Messages").locator(".msg-visitor")
        expect(visitor_messages).to_have_count(1)

        live_server.stop()
        expect(page.locator("#conn-status")).to_have_text("Reconnecting…")
        _write_while_down(settings, visitor, ["Sent while you were down", "Still down here"])
        live_server.start()

        expect(visitor_messages).to_have_count(3, timeout=15000)
        expect(page.locator("#conn-status")).to_have_text("")
        visitor.say("And after it came back")
        expect(visitor_messages).to_have_count(4)
        expect(visitor_messages.locator(".msg-body")).to_have_text(
            [
                "First, before the restart",
                "Sent while you were down",
                "Still down here",
                "And after it came back",
            ]
        )
        expect(row(page, "Rita Restart")).to_contain_text("And after it came back")
        # A page reload shows the same transcript: nothing was invented or doubled.
        page.reload()
        expect(visitor_messages).to_have_count(4)
        assert watch.errors == []
    visitor.close()


def test_failed_send_retries_without_duplicates(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    visitor = Visitor(url, site["site_key"], {"name": "Ian Idempotent"})
    visitor.start("Hello?")
    path = re.compile(rf".*/api/v1/conversations/{visitor.conversation_id}/messages$")
    sent_ids: list[str] = []

    # Offline first (the console retries by itself), then a refusal it does not retry
    # (so the Retry button stays put for the click), then through.
    network = {"state": "offline"}

    def flaky(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        sent_ids.append(route.request.post_data_json["client_msg_id"])
        if network["state"] == "offline":
            route.abort("internetdisconnected")
        elif network["state"] == "refused":
            route.fulfill(
                status=422,
                json={"error": {"code": "refused", "message": "Refused for the test."}},
            )
        else:
            route.continue_()

    def lose_the_answer(route: Route) -> None:
        # The server stores the message, but the browser never hears back.
        if route.request.method != "POST":
            route.continue_()
            return
        sent_ids.append(route.request.post_data_json["client_msg_id"])
        route.fetch()
        route.abort("connectionreset")

    with new_page(browser) as page:
        sign_in_with(page, setup, f"/admin/conversations/{visitor.conversation_id}")
        composer = page.get_by_label("Reply")
        outbox = page.get_by_role("list", name="Unsent messages")
        operator_messages = page.get_by_role("list", name="Messages").locator(".msg-operator")

        # 1. Offline: the message stays with a Retry button; the retry reuses its id.
        page.route(path, flaky)
        composer.fill("We are looking into it.")
        composer.press("Enter")
        expect(outbox).to_contain_text("Not sent")
        expect(outbox).to_contain_text("We are looking into it.")
        expect(operator_messages).to_have_count(0)
        for _ in range(100):  # the first automatic retry comes after a second
            if len(sent_ids) >= 2:
                break
            page.wait_for_timeout(50)
        network["state"] = "refused"
        expect(outbox).to_contain_text("Refused for the test.", timeout=10_000)
        network["state"] = "through"
        outbox.get_by_role("button", name="Retry").click()
        expect(outbox).to_be_hidden()
        expect(operator_messages).to_have_count(1)
        # Every attempt (automatic retries while offline, the refused one, the click) reused one id.
        attempts = len(sent_ids)
        assert attempts >= 3 and set(sent_ids) == {sent_ids[0]}
        # Clicking Send twice on an empty box sends nothing more.
        page.get_by_role("button", name="Send").dblclick()
        page.wait_for_timeout(300)
        assert len(sent_ids) == attempts

        # 2. Stored, but the answer was lost: the stream shows it once, nothing to retry.
        page.unroute(path)
        page.route(path, lose_the_answer)
        composer.fill("Found it: a typo in your address.")
        composer.press("Enter")
        expect(operator_messages).to_have_count(2)
        expect(operator_messages.nth(1)).to_contain_text("Found it: a typo in your address.")
        expect(outbox).to_be_hidden()
    bodies = [m["body"] for m in visitor.messages()]
    assert bodies == ["Hello?", "We are looking into it.", "Found it: a typo in your address."]
    setup.close()
    visitor.close()


def test_failed_send_goes_out_by_itself_once_the_server_answers(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    """The server really stops (its port refuses connections) and starts again on the
    same port; nobody clicks Retry."""
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    visitor = Visitor(url, site["site_key"], {"name": "Una Unattended"})
    visitor.start("Anyone there?")
    path = f"/api/v1/conversations/{visitor.conversation_id}/messages"
    sent_ids: list[str] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith(path):
            sent_ids.append(request.post_data_json["client_msg_id"])

    with new_page(browser) as page:
        sign_in_with(page, setup, f"/admin/conversations/{visitor.conversation_id}")
        composer = page.get_by_label("Reply")
        outbox = page.get_by_role("list", name="Unsent messages")
        operator_messages = page.get_by_role("list", name="Messages").locator(".msg-operator")
        page.on("request", record)
        live_server.stop()
        expect(page.locator("#conn-status")).to_have_text("Reconnecting…")
        composer.fill("Yes, one moment.")
        composer.press("Enter")
        expect(outbox).to_contain_text("Not sent")
        live_server.start()
        expect(outbox).to_be_hidden(timeout=20_000)
        expect(operator_messages).to_have_count(1)
        expect(page.locator("#conn-status")).to_have_text("")
    assert len(sent_ids) >= 2 and len(set(sent_ids)) == 1  # retried, with one id
    assert [m["body"] for m in visitor.messages()] == ["Anyone there?", "Yes, one moment."]
    setup.close()
    visitor.close()
