"""Password links in the browser (ADR 0023): "Forgot your password?" end to end, and an
admin's invitation, each link read from a real SMTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    OperatorApi,
    direct_operator,
    new_page,
    sign_in_with,
    wait_ready,
)
from tests.conftest import LiveServer
from tests.email.conftest import Received, Sink, email_settings, plain_sink

NEW_PASSWORD = "my-own-new-password"


@pytest.fixture
def sink() -> Iterator[Sink]:
    yield from plain_sink()


@pytest.fixture
def mailing_server(settings: Settings, sink: Sink) -> Iterator[tuple[LiveServer, Settings]]:
    """A live server with email on; its emails' links point at itself."""
    holder: dict[str, Settings] = {}

    def make() -> object:
        holder["settings"] = email_settings(
            settings, sink.url, public_url=server.url, job_poll_seconds=0.2
        )
        return create_app(holder["settings"])

    server = LiveServer(make)
    server.start()
    yield server, holder["settings"]
    server.stop()


def _link(mail: Received) -> str:
    part = mail.message.get_body(preferencelist=("plain",))
    assert part is not None
    links = re.findall(r"http://127\.0\.0\.1:\d+/admin/reset\?token=[\w%-]+", part.get_content())
    assert len(links) == 1
    return str(links[0])


def _choose_password(page: Page, link: str, password: str) -> None:
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/admin/reset$"))  # the token left the address bar
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password, again").fill(password)
    page.get_by_role("button", name="Save the password").click()


def _sign_in(page: Page, email: str, password: str) -> None:
    expect(page).to_have_url(re.compile(r"/admin/login"), timeout=10000)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    wait_ready(page)


def test_forgot_password_end_to_end(
    browser: Browser, mailing_server: tuple[LiveServer, Settings], sink: Sink
) -> None:
    server, on = mailing_server
    agent = direct_operator(on, "agent", name="Ann Agent")
    with new_page(browser) as page:
        page.goto(server.url + "/admin/login")
        page.get_by_role("link", name="Forgot your password?").click()
        expect(page).to_have_url(re.compile(r"/admin/forgot$"))
        page.get_by_role("button", name="Send the link").click()
        expect(page.get_by_role("alert")).to_have_text("Enter your email.")
        page.get_by_label("Email").fill(agent.email)
        page.get_by_role("button", name="Send the link").click()
        expect(page.get_by_role("status")).to_contain_text(
            f"If an account exists for {agent.email}, we sent a link"
        )
        link = _link(sink.handler.wait_for(1)[0])

        page.goto(link)
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password, again").fill(NEW_PASSWORD + "x")
        page.get_by_role("button", name="Save the password").click()
        expect(page.get_by_role("alert")).to_have_text("The two passwords are not the same.")
        # The page kept the token after it left the address bar.
        page.get_by_label("New password, again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Save the password").click()
        expect(page.get_by_role("status")).to_contain_text("Your password is saved")
        _sign_in(page, agent.email, NEW_PASSWORD)
        expect(page).to_have_url(re.compile(r"/admin$"))

    with new_page(browser) as page:
        _choose_password(page, link, "yet-another-password")
        expect(page.get_by_role("status")).to_contain_text("This link is no longer valid")
        page.get_by_role("link", name="Ask for a new link").click()
        expect(page).to_have_url(re.compile(r"/admin/forgot$"))


def test_an_unknown_address_reads_the_same(
    browser: Browser, mailing_server: tuple[LiveServer, Settings], sink: Sink
) -> None:
    server, _on = mailing_server
    with new_page(browser) as page:
        page.goto(server.url + "/admin/forgot")
        page.get_by_label("Email").fill("nobody@example.com")
        page.get_by_role("button", name="Send the link").click()
        expect(page.get_by_role("status")).to_contain_text(
            "If an account exists for nobody@example.com, we sent a link"
        )
    assert sink.received == []


def test_an_admin_invites_an_operator_who_chooses_a_password(
    browser: Browser, mailing_server: tuple[LiveServer, Settings], sink: Sink
) -> None:
    server, on = mailing_server
    owner = direct_operator(on)
    setup = OperatorApi(server.url, owner)
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings/operators")
        page.get_by_label("Name", exact=True).fill("Ivy Invited")
        page.get_by_label("Email", exact=True).fill("ivy@example.com")
        page.get_by_label("Send an invitation by email instead").check()
        expect(page.get_by_label("Password", exact=True)).to_be_hidden()
        page.get_by_role("button", name="Add operator").click()
        expect(page.get_by_role("status")).to_contain_text("Invitation sent to ivy@example.com")
        expect(page.get_by_role("row").filter(has_text="Ivy Invited")).to_contain_text("Invited")
    [mail] = sink.handler.wait_for(1)
    assert mail.rcpt_tos == ["ivy@example.com"]
    with new_page(browser) as page:
        _choose_password(page, _link(mail), NEW_PASSWORD)
        expect(page.get_by_role("status")).to_contain_text("Your password is saved")
        _sign_in(page, "ivy@example.com", NEW_PASSWORD)
    setup.http.close()
