"""A visitor token unused for longer than CHATDESK_VISITOR_TOKEN_IDLE_DAYS is refused
(401); the widget then starts over as a new visitor, and the next message goes through."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.browser.test_widget_chat import mine, open_widget, say
from tests.browser.widget_helpers import OperatorApi, make_operator, make_site
from tests.conftest import LiveServer
from tests.factories import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def server(settings: Settings, clock: FakeClock) -> Iterator[LiveServer]:
    configured = settings.model_copy(update={"visitor_token_idle_days": 1})
    live = LiveServer(lambda: create_app(configured, clock=clock))
    live.start()
    yield live
    live.stop()


def test_an_expired_visitor_token_starts_a_new_session(
    settings: Settings, server: LiveServer, browser: Browser, clock: FakeClock
) -> None:
    make_site(settings, "Demo shop", [server.url], prechat_name="off", prechat_email="off")
    staff = make_operator(settings)
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(server.url + "/demo")
        frame = open_widget(page)
        say(frame, "First visit")
        expect(mine(frame)).to_have_text(["First visit"])

        clock.now += timedelta(days=1, minutes=1)  # a day without the widget
        page.reload()
        frame = open_widget(page)
        say(frame, "Back again")
        expect(mine(frame)).to_have_text(["Back again"])  # a new visitor: no old history
        operator = OperatorApi(server, staff)
        conversations = operator.conversations()
        assert len(conversations) == 2
        assert len({c["visitor_id"] for c in conversations}) == 2
        bodies = [[m["body"] for m in operator.messages(c["id"])] for c in conversations]
        assert sorted(bodies) == [["Back again"], ["First visit"]]
        operator.close()
    finally:
        context.close()
