"""Emails in the console: failed emails listed with recipient, kind, reason, attempts and
time, one sent again to a real SMTP server (aiosmtpd on loopback), the other states, and
what the page says when no SMTP server is set; at desktop and phone widths."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from chatdesk.app import create_app
from chatdesk.db.runner import Database
from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    PHONE,
    DialogWatch,
    OperatorApi,
    Visitor,
    check_layout,
    direct_operator,
    new_page,
    screenshot,
    sign_in_with,
)
from tests.conftest import LiveServer
from tests.email.conftest import Sink, email_settings, failed_email, plain_sink

UNREACHABLE = "the SMTP server could not be reached (ConnectionRefusedError) (no attempts left)"


@pytest.fixture
def mail_sink() -> Iterator[Sink]:
    yield from plain_sink()


@pytest.fixture
def mail_server(settings: Settings, mail_sink: Sink) -> Iterator[LiveServer]:
    """A live server that sends email to ``mail_sink`` (its public URL its own: the
    console's requests come from there)."""
    server = LiveServer(lambda: None)
    configured = email_settings(settings, mail_sink.url, public_url=server.url)
    server.make_app = lambda: create_app(configured)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """The live server's database, for the failures only a mail server could cause."""
    database = Database(settings.database_url)
    database.start()
    yield database
    database.stop()


def _email_status(setup: OperatorApi, job_id: str, status: str) -> bool:
    emails = setup.call("GET", f"/api/v1/emails?status={status}")["emails"]
    return any(email["id"] == job_id for email in emails)


def test_failed_emails_are_listed_and_one_is_sent_again(
    browser: Browser,
    mail_server: LiveServer,
    settings: Settings,
    mail_sink: Sink,
    db: Database,
    screenshot_dir: Path,
) -> None:
    url = mail_server.url
    setup = OperatorApi(url, direct_operator(settings))
    site = setup.create_site("Northwind Shop")
    jane = setup.create_operator("agent", "Jane Doe")
    vera = Visitor(url, site["site_key"], {"name": "Vera Lind", "email": "vera@example.org"})
    vera.start("Do you ship to Norway?")
    sam = Visitor(url, site["site_key"], {"name": "Sam", "email": "sam.long-address@example.net"})
    sam.start("My parcel is late")
    assert vera.conversation_id and sam.conversation_id
    transcript = failed_email(
        db, {"template": "transcript", "conversation_id": vera.conversation_id}
    )
    failed_email(
        db,
        {"template": "replies", "conversation_id": sam.conversation_id},
        error=UNREACHABLE,
        status_code=None,
        attempts=16,
    )
    failed_email(
        db,
        {
            "template": "mention",
            "conversation_id": sam.conversation_id,
            "operator_id": jane.id,
            "message_id": "01jzzzzzzzzzzzzzzzzzzzzzzz",
        },
        error="the SMTP server answered 554",
        status_code=554,
        attempts=1,
    )
    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, "/admin/settings/emails")
        expect(page.get_by_role("heading", name="Emails", level=2)).to_be_visible()
        nav = page.get_by_role("navigation", name="Settings")
        expect(nav.get_by_role("link", name="Emails")).to_have_attribute("aria-current", "page")
        failed = page.get_by_role("table", name="Failed emails")
        vera_row = failed.get_by_role("row").filter(has_text="vera@example.org")
        expect(vera_row).to_contain_text("Transcript")
        expect(vera_row).to_contain_text("Your conversation with Northwind Shop")
        expect(vera_row).to_contain_text("the recipient was refused (550)")
        expect(failed).to_contain_text("Reply notification")
        expect(failed).to_contain_text(UNREACHABLE)
        expect(failed).to_contain_text("Mention notification")
        expect(failed).to_contain_text(jane.email)
        expect(failed.get_by_role("row")).to_have_count(4)  # the head and three emails
        check_layout(page)
        screenshot(page, screenshot_dir, "console-emails-desktop", full_page=True)

        assert mail_sink.received == []
        page.get_by_role("button", name="Send again: Transcript to vera@example.org").click()
        expect(page.locator("#settings-status")).to_have_text(
            "The transcript to vera@example.org is being sent again."
        )
        expect(failed).not_to_contain_text("vera@example.org")
        expect(failed.get_by_role("row")).to_have_count(3)
        [mail] = mail_sink.handler.wait_for(1)
        assert mail.rcpt_tos == ["vera@example.org"]
        assert "Do you ship to Norway?" in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while not _email_status(setup, transcript, "delivered") and time.monotonic() < deadline:
            time.sleep(0.05)
        page.get_by_label("Show").select_option(label="Sent")
        sent = page.get_by_role("table", name="Sent emails")
        expect(sent).to_contain_text("vera@example.org")
        expect(sent).to_contain_text("Transcript")
        expect(sent.get_by_role("button")).to_have_count(0)
        screenshot(page, screenshot_dir, "console-emails-sent", full_page=True)
        page.reload()  # the choice is in the address
        expect(page.get_by_label("Show")).to_have_value("delivered")
        expect(page.get_by_role("table", name="Sent emails")).to_contain_text("vera@example.org")
        assert watch.errors == [] and watch.seen == []

    with new_page(browser, PHONE) as page:
        sign_in_with(page, setup, "/admin/settings/emails")
        failed = page.get_by_role("table", name="Failed emails")
        expect(failed).to_contain_text(UNREACHABLE)
        expect(
            page.get_by_role("button", name=f"Send again: Mention notification to {jane.email}")
        ).to_be_visible()
        check_layout(page)
        screenshot(page, screenshot_dir, "console-emails-phone", full_page=True)
    vera.close()
    sam.close()
    setup.close()


def test_the_page_says_when_email_is_not_configured(
    browser: Browser,
    live_server: LiveServer,
    settings: Settings,
    db: Database,
    screenshot_dir: Path,
) -> None:
    setup = OperatorApi(live_server.url, direct_operator(settings))
    site = setup.create_site("Shop")
    visitor = Visitor(live_server.url, site["site_key"], {"email": "ann@example.org"})
    visitor.start("Hello")
    failed_email(db, {"template": "transcript", "conversation_id": visitor.conversation_id})
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings/emails")
        note = page.get_by_role("note")
        expect(note).to_contain_text("Email is not configured")
        expect(note).to_contain_text("CHATDESK_SMTP_URL")
        again = page.get_by_role("button", name="Send again: Transcript to ann@example.org")
        expect(again).to_be_disabled()
        check_layout(page)
        screenshot(page, screenshot_dir, "console-emails-not-configured", full_page=True)
    # Agents have no settings, and so no emails page.
    agent = OperatorApi(live_server.url, setup.create_operator("agent", "Al Agent"))
    with new_page(browser) as page:
        sign_in_with(page, agent, "/admin")
        expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Settings")
        page.goto(live_server.url + "/admin/settings/emails")
        expect(page.get_by_role("heading", name="Settings are for admins")).to_be_visible()
    visitor.close()
    agent.close()
    setup.close()
