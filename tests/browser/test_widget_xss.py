"""Hostile text from the site's settings, the operator and the visitor renders as text."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import OperatorApi, database, make_site
from tests.conftest import LiveServer
from tests.factories import add_operator

PAYLOADS = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "{{7*7}}"]
HOSTILE = " ".join(PAYLOADS)


def test_hostile_strings_show_as_text_in_the_widget(
    browser: Browser, settings: Settings, live_server: LiveServer
) -> None:
    make_site(
        settings,
        f"Shop {HOSTILE}",
        [live_server.url],
        greeting=f"Hello {HOSTILE}",
        prechat_name="off",
        prechat_email="off",
    )
    with database(settings) as db:
        operator = add_operator(db, "admin", name=f"Olivia {PAYLOADS[0]}")
    api = OperatorApi(live_server, operator)
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(live_server.url + "/demo")
        page.get_by_role("button", name="Open chat").click()
        frame = page.frame_locator("iframe[title=Chat]")
        expect(frame.get_by_text(f"Hello {HOSTILE}")).to_be_visible()
        box = frame.get_by_role("textbox", name="Message")
        box.fill(f"visitor says {HOSTILE}")
        box.press("Enter")
        expect(frame.get_by_text(f"visitor says {HOSTILE}", exact=True)).to_be_visible()
        expect(frame.locator(".confirmed .msg.me .bubble")).to_have_count(1)
        conversation = api.conversations()[0]
        api.reply(conversation["id"], f"operator says {HOSTILE}")
        expect(frame.get_by_text(f"operator says {HOSTILE}", exact=True)).to_be_visible()
        # The screen-reader announcement carries the hostile operator name as text too.
        expect(frame.locator("[aria-live]").filter(has_text=f"Olivia {PAYLOADS[0]}")).to_have_count(
            1
        )
        for locator in (page, frame):
            expect(locator.locator("img[src=x]")).to_have_count(0)
        expect(frame.locator("script:not([src])")).to_have_count(0)
        expect(frame.get_by_text("49", exact=True)).to_have_count(0)
        assert dialogs == []
    finally:
        context.close()
        api.close()
