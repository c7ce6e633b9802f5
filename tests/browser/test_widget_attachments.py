"""Files in the widget (Chromium): the visitor attaches by the paperclip, by a drop and
by pasting a screenshot; the team's file shows up live; another visitor's link is
refused."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, FrameLocator, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import OperatorApi, make_site, open_widget, png
from tests.conftest import LiveServer
from tests.factories import PDF


def _hand_over(frame: FrameLocator, how: str, name: str, data: bytes, mime: str) -> None:
    """A drop on the chat or a paste in the message box, as Chromium fires them, with a
    real ``File`` in their DataTransfer."""
    frame.locator("body").evaluate(
        """(body, [how, name, data, mime]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            if (how === "paste") {
                body.querySelector("#composer-input").dispatchEvent(new ClipboardEvent("paste", {
                    clipboardData: transfer, bubbles: true, cancelable: true }));
                return;
            }
            const zone = body.querySelector(".chat-view");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {
                    dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }""",
        [how, name, base64.b64encode(data).decode(), mime],
    )


def _loaded(frame: FrameLocator, alt: str) -> Any:
    image = frame.get_by_role("img", name=alt)
    expect(image).to_be_visible()
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("(img) => img.naturalWidth") > 0
    return image


def test_a_visitor_sends_files_three_ways_and_sees_the_teams(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext, operator: OperatorApi
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    box = frame.get_by_role("textbox", name="Message")
    box.fill("My parcel is damaged")
    box.press("Enter")
    expect(frame.locator(".confirmed .msg.me")).to_have_count(1)
    (conversation,) = operator.conversations()

    # The paperclip.
    with page.expect_file_chooser() as chooser:
        frame.get_by_role("button", name="Attach a file").click()
    chooser.value.set_files(
        files=[{"name": "parcel.png", "mimeType": "image/png", "buffer": png((200, 120, 40))}]
    )
    files = frame.get_by_role("list", name="Files to send")
    expect(files).to_contain_text("parcel.png")
    expect(files).to_contain_text("Ready")
    box.fill("Here is a photo")
    box.press("Enter")
    expect(files).to_be_hidden()
    _loaded(frame, "parcel.png")

    # A drop and a pasted screenshot, sent together without text.
    _hand_over(frame, "drop", "receipt.pdf", PDF, "application/pdf")
    _hand_over(frame, "paste", "screenshot.png", png((40, 40, 200)), "image/png")
    expect(files.get_by_text("Ready")).to_have_count(2)
    frame.get_by_role("button", name="Send").click()
    expect(frame.get_by_role("link", name="Download receipt.pdf")).to_be_visible()
    _loaded(frame, "screenshot.png")

    stored = [m for m in operator.messages(conversation["id"]) if m["attachments"]]
    assert [[a["name"] for a in m["attachments"]] for m in stored] == [
        ["parcel.png"],
        ["receipt.pdf", "screenshot.png"],
    ]
    assert [m["body"] for m in stored] == ["Here is a photo", ""]

    # The team's file shows up live.
    label = png((20, 160, 20))
    reply = operator.send_file(
        conversation["id"], "label.png", label, "image/png", "Print this label"
    )
    _loaded(frame, "label.png")
    assert problems == []

    # Another visitor holds no key to these files: a link is its token, and a token is
    # good for its own file only.
    own = reply["attachments"][0]
    token = own["url"].split("token=")[1]
    other_file = stored[0]["attachments"][0]["id"]
    with httpx.Client(base_url=live_server.url) as stranger:
        assert stranger.get(f"/files/{other_file}?token={token}").status_code == 403
        assert stranger.get(own["url"]).status_code == 200


def test_a_file_picked_before_the_first_message_follows_it(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext, operator: OperatorApi
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    # No conversation yet: the file waits, nothing is uploaded.
    with page.expect_file_chooser() as chooser:
        frame.get_by_role("button", name="Attach a file").click()
    chooser.value.set_files(
        files=[{"name": "broken.png", "mimeType": "image/png", "buffer": png((90, 20, 20))}]
    )
    files = frame.get_by_role("list", name="Files to send")
    expect(files).to_contain_text("broken.png")
    expect(files).to_contain_text("Sent after your first message")
    # A file alone cannot start the conversation: the visitor is asked for words.
    frame.get_by_role("button", name="Send").click()
    expect(frame.get_by_role("alert")).to_have_text("Write your first message, then attach files.")
    assert operator.conversations() == []
    # The first message starts it; the file is uploaded then and follows as the next one.
    box = frame.get_by_role("textbox", name="Message")
    box.fill("The lid arrived broken")
    box.press("Enter")
    _loaded(frame, "broken.png")
    expect(files).to_be_hidden()
    (conversation,) = operator.conversations()
    stored = operator.messages(conversation["id"])
    assert [(m["body"], [a["name"] for a in m["attachments"]]) for m in stored] == [
        ("The lid arrived broken", []),
        ("", ["broken.png"]),
    ]
    assert problems == []
