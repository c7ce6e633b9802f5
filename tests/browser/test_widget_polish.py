"""The widget's finish: light or dark by the visitor's setting or the site's, the team's
faces in the header and the author's on each reply, and a reply's preview above the
launcher while the chat is closed."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Locator, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import OperatorApi, direct_operator, new_page, sign_in
from tests.browser.widget_helpers import make_site, open_widget, png
from tests.conftest import LiveServer


def rgb(frame: FrameLocator, selector: str, prop: str) -> tuple[int, ...]:
    value: str = frame.locator(selector).first.evaluate(f"(node) => getComputedStyle(node).{prop}")
    return tuple(int(part) for part in value[value.index("(") + 1 : -1].split(",")[:3])


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    def luminance(colour: tuple[int, ...]) -> float:
        c = [x / 255 for x in colour]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_frame_follows_a_visitor_who_prefers_dark(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext
) -> None:
    make_site(settings, "Demo shop", [live_server.url], accent_color="#0f766e")
    page = visitor.new_page()
    page.emulate_media(color_scheme="dark")
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    background = rgb(frame, "body", "backgroundColor")
    text = rgb(frame, "body", "color")
    assert sum(background) < 3 * 60, background  # dark
    assert contrast(text, background) >= 4.5
    assert (
        contrast(rgb(frame, ".greeting", "color"), rgb(frame, ".greeting", "backgroundColor"))
        >= 4.5
    )
    # The launcher on the host page keeps the site's colour.
    launcher = page.locator("chatdesk-widget")
    assert "15, 118, 110" in launcher.evaluate(
        "(host) => getComputedStyle(host.shadowRoot.querySelector('button.l')).backgroundColor"
    )
    # A change of the visitor's setting is followed while the frame is open.
    page.emulate_media(color_scheme="light")
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    assert sum(rgb(frame, "body", "backgroundColor")) == 3 * 255


def test_a_site_that_fixes_light_stays_light_for_a_dark_visitor(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext
) -> None:
    make_site(settings, "Demo shop", [live_server.url], theme="light")
    page = visitor.new_page()
    page.emulate_media(color_scheme="dark")
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    expect(frame.get_by_text("Hi there! How can we help?")).to_be_visible()
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    assert sum(rgb(frame, "body", "backgroundColor")) == 3 * 255


def test_a_site_that_fixes_dark_is_dark_for_a_light_visitor(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext
) -> None:
    make_site(settings, "Demo shop", [live_server.url], theme="dark")
    page = visitor.new_page()
    page.emulate_media(color_scheme="light")
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    assert sum(rgb(frame, "body", "backgroundColor")) < 3 * 60


def loaded(image: Locator) -> int:
    expect(image).to_be_visible()
    image.evaluate("(img) => img.decode()")
    width: int = image.evaluate("(img) => img.naturalWidth")
    return width


def test_the_team_shows_its_faces_uploaded_or_initials(
    settings: Settings, live_server: LiveServer, browser: Browser, visitor: BrowserContext
) -> None:
    url = live_server.url
    make_site(settings, "Demo shop", [url])
    ann = direct_operator(settings, "owner", "Ann Archer")
    bob = direct_operator(settings, "admin", "Bob Brown")
    with new_page(browser) as account, new_page(browser) as console:
        # Ann puts up her picture on her Account screen; the preview shows it.
        sign_in(account, url, ann, "/admin/account")
        preview = account.get_by_role("img", name="Your avatar")
        expect(preview).to_have_attribute("src", re.compile(r"\?v=i"))  # initials first
        expect(account.get_by_role("button", name="Remove picture")).to_be_hidden()
        picture = png((230, 120, 20), (120, 90))
        account.get_by_label("Your picture").set_input_files(
            files=[{"name": "ann.png", "mimeType": "image/png", "buffer": picture}]
        )
        expect(account.get_by_role("status").filter(has_text="Picture saved.")).to_be_visible()
        expect(preview).not_to_have_attribute("src", re.compile(r"\?v=i"))
        assert loaded(preview) == 90  # cropped square, at most 256 px
        expect(account.get_by_role("button", name="Remove picture")).to_be_visible()
        # An SVG is refused in words, and the picture stays.
        account.get_by_label("Your picture").set_input_files(
            files=[{"name": "x.svg", "mimeType": "image/svg+xml", "buffer": b"<svg/>"}]
        )
        expect(
            account.get_by_role("alert").filter(has_text="PNG, JPEG, GIF or WebP")
        ).to_be_visible()
        sign_in(console, url, bob)  # Bob is at the console, with no picture

        page = visitor.new_page()
        page.goto(url + "/demo")
        frame = open_widget(page)
        faces = frame.locator("#faces img")
        expect(faces).to_have_count(2)
        annie, bobby = frame.get_by_role("img", name="Ann"), frame.get_by_role("img", name="Bob")
        assert loaded(annie) == 90
        assert loaded(bobby) > 0
        initials = httpx.get(url + str(bobby.get_attribute("src")))
        assert initials.headers["content-type"].startswith("image/svg+xml")
        assert b">BB</text>" in initials.content
        assert "Brown" not in str(frame.locator("#faces").inner_html())  # first names only

        # A reply carries its author's face.
        frame.get_by_role("button", name="Start chat").click()
        composer = frame.get_by_role("textbox", name="Message")
        composer.fill("Hello?")
        composer.press("Enter")
        expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(["Hello?"])
        helper = OperatorApi(url, ann)
        try:
            (conversation,) = helper.call("GET", "/api/v1/conversations")["conversations"]
            helper.call(
                "POST",
                f"/api/v1/conversations/{conversation['id']}/messages",
                {"body": "Hi, Ann here.", "client_msg_id": "face-1"},
                201,
            )
        finally:
            helper.close()
        face = frame.locator(".confirmed .msg.them img.face")
        expect(face).to_have_count(1)
        assert loaded(face) == 90


def test_a_reply_while_closed_shows_its_first_words_above_the_launcher(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext
) -> None:
    url = live_server.url
    make_site(settings, "Demo shop", [url])
    olivia = OperatorApi(url, direct_operator(settings, "admin", "Olivia Operator"))
    page = visitor.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: problems.append(dialog.message))
    page.goto(url + "/demo")
    frame = open_widget(page)
    frame.get_by_role("button", name="Start chat").click()
    composer = frame.get_by_role("textbox", name="Message")
    composer.fill("Is the blue one in stock?")
    composer.press("Enter")
    expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(["Is the blue one in stock?"])
    frame.get_by_role("button", name="Close chat").click()
    expect(page.locator("iframe[title=Chat]")).to_be_hidden()
    card = page.locator("chatdesk-widget .v")
    expect(card).to_be_hidden()
    (conversation,) = olivia.call("GET", "/api/v1/conversations")["conversations"]

    def reply(body: str, key: str) -> None:
        path = f"/api/v1/conversations/{conversation['id']}/messages"
        olivia.call("POST", path, {"body": body, "client_msg_id": key}, 201)

    reply("<img src=x onerror=alert(1)> Yes! " + "It is. " * 30, "preview-1")
    preview = page.get_by_role("button", name=re.compile(r"^Olivia Operator"))
    expect(preview).to_be_visible()
    expect(card.locator("b")).to_have_text("Olivia Operator")
    shown = card.locator("span").text_content() or ""
    assert shown.startswith("<img src=x onerror=alert(1)> Yes!")  # text, never markup
    assert len(shown) == 100 and shown.endswith("…")
    assert card.locator("img").count() == 0
    expect(page.get_by_role("button", name="Open chat, 1 unread")).to_be_visible()
    # Dismissed, it goes; the unread count stays.
    card.get_by_role("button", name="Close").click()
    expect(card).to_be_hidden()
    expect(page.get_by_role("button", name="Open chat, 1 unread")).to_be_visible()
    # The next reply brings it back; a click on it opens the chat at the replies.
    reply("Shall I put one aside?", "preview-2")
    expect(card.locator("span")).to_have_text("Shall I put one aside?")
    preview.click()
    expect(page.locator("iframe[title=Chat]")).to_be_visible()
    expect(card).to_be_hidden()
    expect(frame.locator(".confirmed .msg.them .bubble")).to_have_count(2)
    olivia.close()
    assert problems == []
