"""An image in a conversation, clicked: shown whole in a dialog above the chat, with a
named close button; Escape closes it (and only it), focus goes back to the thumbnail.
In the widget (Chromium) and in the console."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, BrowserContext, FrameLocator, Locator, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import new_page, row, sign_in_with
from tests.browser.widget_helpers import OperatorApi, make_site, open_widget, png
from tests.conftest import LiveServer


def _whole_image(scope: Page | FrameLocator, name: str) -> Locator:
    dialog = scope.get_by_role("dialog", name=name)
    expect(dialog).to_be_visible()
    image = dialog.get_by_role("img", name=name)
    expect(image).to_have_js_property("complete", True)
    # The whole image (320 px wide), not the thumbnail.
    assert image.evaluate("(img) => img.naturalWidth") == 320
    return dialog


def _open_close(
    scope: Page | FrameLocator, name: str, close_label: str, within: Locator | None = None
) -> None:
    link = (within or scope).get_by_role("link", name=f"Open {name}")
    link.click()
    dialog = _whole_image(scope, name)
    expect(dialog.get_by_role("button", name=close_label)).to_be_focused()
    dialog.press("Escape")
    expect(dialog).to_have_count(0)
    expect(link).to_be_focused()
    # Again, closed by its button this time.
    link.click()
    dialog = _whole_image(scope, name)
    dialog.get_by_role("button", name=close_label).click()
    expect(dialog).to_have_count(0)
    expect(link).to_be_focused()


def test_an_image_opens_whole_and_closes_in_the_widget_and_the_console(
    browser: Browser,
    visitor: BrowserContext,
    operator: OperatorApi,
    live_server: LiveServer,
    settings: Settings,
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    box = frame.get_by_role("textbox", name="Message")
    box.fill("Which label do I print?")
    box.press("Enter")
    expect(frame.locator(".confirmed .msg.me")).to_have_count(1)
    (conversation,) = operator.conversations()
    label = png((20, 160, 20))
    operator.send_file(conversation["id"], "label.png", label, "image/png", "Print this label")

    _open_close(frame, "label.png", "Close image")
    # Escape closed the image, not the chat.
    expect(box).to_be_visible()
    expect(page.get_by_role("button", name="Close chat").first).to_be_visible()
    assert problems == []

    # The console: the same in the conversation.
    console_setup: Any = _ConsoleSetup(operator)
    with new_page(browser) as console:
        sign_in_with(console, console_setup)
        row(console, "Print this label").get_by_role("link").click()
        messages = console.get_by_role("list", name="Messages")
        _open_close(console, "label.png", "Close image", within=messages)
        # And in the visitor panel's history.
        panel = console.get_by_role("complementary", name="Visitor details")
        _open_close(console, "label.png", "Close image", within=panel)


class _ConsoleSetup:
    """What sign_in_with needs of the widget suites' operator: its HTTP session."""

    def __init__(self, operator: OperatorApi) -> None:
        self.http = operator.http
