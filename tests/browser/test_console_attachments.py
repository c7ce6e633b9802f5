"""Files in the console (Chromium): a visitor's photo shows up live; the operator sends
files by the paperclip, by dropping them and by pasting a screenshot; a file that could
run script is only ever downloaded."""

from __future__ import annotations

import base64
from typing import Any

from playwright.sync_api import Browser, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DialogWatch,
    OperatorApi,
    Visitor,
    direct_operator,
    new_page,
    sign_in_with,
)
from tests.browser.widget_helpers import png
from tests.conftest import LiveServer
from tests.factories import PDF

SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(document.cookie)</script></svg>"
)


def _put_files(page: Page, how: str, name: str, data: bytes, mime: str) -> None:
    """Hand the page a file as a drop on the conversation or as a paste in the reply box,
    the events Chromium fires for them, with a real ``File`` in their DataTransfer."""
    page.evaluate(
        """([how, name, data, mime]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            if (how === "paste") {
                const box = document.getElementById("composer-input");
                box.dispatchEvent(new ClipboardEvent("paste", {
                    clipboardData: transfer, bubbles: true, cancelable: true }));
                return;
            }
            const zone = document.getElementById("transcript-wrap");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {
                    dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }""",
        [how, name, base64.b64encode(data).decode(), mime],
    )


def _image_loaded(page: Page, alt: str) -> Any:
    image = page.get_by_role("list", name="Messages").get_by_role("img", name=alt)
    expect(image).to_be_visible()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    return image


def test_files_both_ways_live(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    owner = direct_operator(settings)
    setup = OperatorApi(live_server.url, owner)
    site = setup.create_site()
    visitor = Visitor(live_server.url, site["site_key"], {"name": "Pia Photo"})
    visitor.start("My order arrived broken")
    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, f"/admin/conversations/{visitor.conversation_id}")
        transcript = page.get_by_role("list", name="Messages")
        expect(transcript).to_contain_text("My order arrived broken")

        # The visitor's photo arrives live, as a thumbnail that opens the whole image.
        photo = visitor.upload(png((200, 30, 30)), "broken-box.png", "image/png")
        visitor.send_files([photo["id"]])
        image = _image_loaded(page, "broken-box.png")
        link = transcript.get_by_role("link", name="Open broken-box.png")
        assert link.get_attribute("href", timeout=0).startswith(f"/files/{photo['id']}?token=")
        assert image.get_attribute("src", timeout=0).startswith(
            f"/files/{photo['id']}/thumbnail?token="
        )
        # The visitor panel lists the visitor's files too.
        panel_files = page.locator("#visitor-files")
        expect(panel_files.get_by_role("img", name="broken-box.png")).to_be_visible()
        row = page.locator("#conversation-list li.row").filter(has_text="Pia Photo")
        expect(row).to_contain_text("📎 broken-box.png")

        # The paperclip: a PDF, with progress, then sent with a line of text.
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Attach files").click()
        chooser.value.set_files(
            files=[{"name": "label.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        files = page.get_by_role("list", name="Files to send")
        expect(files).to_contain_text("label.pdf")
        expect(files).to_contain_text("Ready")
        composer = page.get_by_label("Reply")
        composer.fill("Here is a return label.")
        composer.press("Enter")
        expect(files).to_be_hidden()
        expect(transcript.get_by_role("link", name="Download label.pdf")).to_be_visible()
        sent = visitor.messages()[-1]
        assert sent["body"] == "Here is a return label."
        assert [a["name"] for a in sent["attachments"]] == ["label.pdf"]

        # Dropped on the conversation, and pasted: sent together, without text.
        _put_files(page, "drop", "dropped.png", png((30, 160, 30)), "image/png")
        _put_files(page, "paste", "screenshot.png", png((30, 30, 160)), "image/png")
        expect(files.get_by_role("listitem")).to_have_count(2)
        expect(files.get_by_text("Ready")).to_have_count(2)
        page.get_by_role("button", name="Send").click()
        _image_loaded(page, "dropped.png")
        _image_loaded(page, "screenshot.png")
        last = visitor.messages()[-1]
        assert last["body"] == ""
        assert sorted(a["name"] for a in last["attachments"]) == ["dropped.png", "screenshot.png"]
        assert watch.errors == [] and watch.seen == []
    setup.close()
    visitor.close()


def test_a_file_that_could_run_script_is_downloaded_never_shown(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    owner = direct_operator(settings)
    setup = OperatorApi(live_server.url, owner)
    site = setup.create_site()
    visitor = Visitor(live_server.url, site["site_key"], {"name": "Sam Script"})
    visitor.start("Look at this")
    svg = visitor.upload(SVG, "cat.svg", "application/octet-stream")
    visitor.send_files([svg["id"]])
    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, f"/admin/conversations/{visitor.conversation_id}")
        transcript = page.get_by_role("list", name="Messages")
        card = transcript.get_by_role("link", name="Download cat.svg")
        expect(card).to_be_visible()
        expect(transcript.get_by_role("img", name="cat.svg")).to_have_count(0)
        with page.expect_download() as download:
            card.click()
        assert download.value.suggested_filename == "cat.svg"
        # Opened by its address in the browser, it is a download too: nothing runs.
        url = live_server.url + svg["url"]
        with page.expect_download() as again:
            page.evaluate(
                "(url) => { const a = document.createElement('a'); a.href = url;"
                " document.body.append(a); a.click(); }",
                url,
            )
        assert again.value.suggested_filename == "cat.svg"
        # A forged token is refused, in words.
        forged = page.request.get(url[:-4] + ("aaaa" if not url.endswith("aaaa") else "bbbb"))
        assert forged.status == 403 and forged.json()["error"]["code"] == "forbidden"
        assert watch.seen == []
    setup.close()
    visitor.close()
