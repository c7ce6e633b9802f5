"""Attention with several operators at once: who is notified of a visitor's follow-up,
@mentions in private notes (autocomplete and notification), the "next unread" key,
pending conversations counted, and search across statuses."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from playwright.sync_api import Browser, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    OperatorApi,
    Visitor,
    direct_operator,
    new_page,
    row,
    sign_in_with,
)
from tests.browser.test_console_inbox import FAKE_NOTIFICATION
from tests.conftest import LiveServer

NOTES = "() => window.__notes"


def notes(page: Page) -> list[str]:
    found: list[str] = page.evaluate(NOTES)
    return found


def console(stack: ExitStack, browser: Browser, setup: OperatorApi) -> Page:
    """A console page of ``setup``'s operator that records its desktop notifications."""
    page = stack.enter_context(new_page(browser))
    page.add_init_script(FAKE_NOTIFICATION)
    sign_in_with(page, setup)
    return page


class Team:
    """An owner, a site, and two agents of that site, each signed in over HTTP."""

    def __init__(self, url: str, settings: Settings) -> None:
        owner = direct_operator(settings)
        self.owner = OperatorApi(url, owner)
        self.site: dict[str, Any] = self.owner.create_site()
        site_ids = [self.site["id"]]
        ada = self.owner.create_operator("agent", "Ada Agent", site_ids=site_ids)
        bo = self.owner.create_operator("agent", "Bo Builder", site_ids=site_ids)
        self.ada, self.bo = OperatorApi(url, ada), OperatorApi(url, bo)

    def close(self) -> None:
        for api in (self.owner, self.ada, self.bo):
            api.close()


def test_follow_ups_reach_every_online_agent_when_unassigned_and_only_the_assignee_after(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    team = Team(url, settings)
    # The owner chose Away: not "online", so unassigned work does not call them.
    team.owner.call("PATCH", "/api/v1/auth/me", {"presence": "away"})
    with ExitStack() as stack:
        ada, bo, owner = (console(stack, browser, api) for api in (team.ada, team.bo, team.owner))
        vera = Visitor(url, team.site["site_key"], {"name": "Vera Visitor"})
        stack.callback(vera.close)
        vera.start("Anyone there?")
        for page in (ada, bo):
            page.wait_for_function("() => window.__notes.length === 1")
            assert notes(page) == ["New conversation from Vera Visitor | Anyone there?"]
        vera.say("Hello again")
        for page in (ada, bo):
            page.wait_for_function("() => window.__notes.length === 2")
            assert notes(page)[1] == "New message from Vera Visitor | Hello again"
            expect(page).to_have_title("(2) chatdesk")

        team.owner.call(
            "PATCH",
            f"/api/v1/conversations/{vera.conversation_id}",
            {"assignee_id": team.ada.operator.id},
        )
        expect(row(bo, "Vera Visitor")).to_contain_text("Ada Agent")
        vera.say("Ada, are you there?")
        ada.wait_for_function("() => window.__notes.length === 3")
        assert notes(ada)[2] == "New message from Vera Visitor | Ada, are you there?"
        expect(bo).to_have_title("(3) chatdesk")  # Bo's list follows; no call for him
        expect(row(bo, "Vera Visitor")).to_contain_text("Ada, are you there?")
        assert len(notes(bo)) == 2
        expect(owner).to_have_title("(3) chatdesk")
        assert notes(owner) == []

        # "n" opens the next conversation with unread messages.
        ada.keyboard.press("n")
        expect(ada).to_have_url(f"{url}/admin/conversations/{vera.conversation_id}")
        expect(ada).to_have_title("chatdesk")  # read once it is open
        ada.keyboard.press("n")
        expect(ada.locator("#inbox-announce")).to_have_text("No unread conversations.")
        ada.keyboard.press("?")
        dialog = ada.get_by_role("dialog", name="Keyboard shortcuts")
        expect(dialog).to_contain_text("Next conversation with unread messages")
    team.close()


def test_mentions_autocomplete_the_sites_operators_and_notify_the_mentioned(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    team = Team(url, settings)
    other_site = team.owner.create_site("Elsewhere")
    team.owner.create_operator("agent", "Bea Elsewhere", site_ids=[other_site["id"]])
    vera = Visitor(url, team.site["site_key"], {"name": "Vera Visitor"})
    vera.start("I need help with billing")
    with ExitStack() as stack:
        ada = console(stack, browser, team.ada)
        bo = console(stack, browser, team.bo)
        ada.goto(f"{url}/admin/conversations/{vera.conversation_id}")
        composer = ada.get_by_label("Reply")
        composer.fill("@B")  # a reply: no mention list
        expect(ada.get_by_role("listbox", name="Mention a teammate")).to_be_hidden()
        ada.get_by_label("Private note").check()
        composer = ada.get_by_label("Note for your team")
        composer.fill("")
        composer.press_sequentially("Billing question, @B")
        listbox = ada.get_by_role("listbox", name="Mention a teammate")
        expect(listbox).to_be_visible()
        # Only the site's operators (not Bea of the other site), never yourself.
        expect(listbox.get_by_role("option")).to_have_count(1)
        expect(listbox.get_by_role("option")).to_contain_text("@Bo Builder")
        expect(listbox.get_by_role("option").first).to_have_attribute("aria-selected", "true")
        composer.press("Enter")
        expect(composer).to_have_value("Billing question, @Bo Builder ")
        expect(listbox).to_be_hidden()
        composer.press_sequentially("can you look?")
        expect(listbox).to_be_hidden()
        composer.press("Enter")
        transcript = ada.get_by_role("list", name="Messages", exact=True)
        expect(transcript).to_contain_text("Billing question, @Bo Builder can you look?")
        bo.wait_for_function(
            "() => window.__notes.some(n => n.startsWith('Ada Agent mentioned you'))"
        )
        mention = [n for n in notes(bo) if "mentioned" in n]
        assert mention == [
            "Ada Agent mentioned you (Vera Visitor) | Billing question, @Bo Builder can you look?"
        ]
        stored = team.bo.call("GET", f"/api/v1/conversations/{vera.conversation_id}/messages")
        note = stored["messages"][-1]
        assert note["private"] is True and note["mentions"] == [team.bo.operator.id]
        assert all("mentioned" not in n for n in notes(ada))
    vera.close()
    team.close()


def test_pending_conversations_are_counted_and_search_looks_across_statuses(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    team = Team(url, settings)
    waiting = Visitor(url, team.site["site_key"], {"name": "Pat Pending"})
    waiting.start("Any news on my order?")
    done = Visitor(url, team.site["site_key"], {"name": "Rex Resolved"})
    done.start("Thanks, the parcel arrived <img src=x onerror=alert(1)>")
    for visitor, status in ((waiting, "pending"), (done, "resolved")):
        team.owner.call(
            "PATCH", f"/api/v1/conversations/{visitor.conversation_id}", {"status": status}
        )
    with ExitStack() as stack:
        page = console(stack, browser, team.ada)
        # The default list shows open and pending conversations, and counts their unread.
        expect(page.get_by_label("Filter by status")).to_have_value("open,pending")
        expect(row(page, "Pat Pending")).to_be_visible()
        expect(row(page, "Rex Resolved")).to_have_count(0)
        expect(page).to_have_title("(1) chatdesk")
        waiting.say("Hello?")
        expect(page).to_have_title("(2) chatdesk")
        # A search finds the resolved one too, and says where it looked.
        page.get_by_label("Search conversations").fill("parcel")
        expect(row(page, "Rex Resolved")).to_be_visible()
        scope = page.locator("#search-scope")
        expect(scope).to_have_text("Searching all conversations.")
        expect(page.locator("#conversation-list li.row")).to_have_count(1)
        # The matched words are marked in the row; the visitor's markup stays text.
        expect(row(page, "Rex Resolved").locator("mark")).to_have_text("parcel")
        # (PostgreSQL's snippet ends at a word boundary inside the markup.)
        expect(row(page, "Rex Resolved").locator(".row-preview")).to_contain_text(
            "<img src=x onerror=alert"
        )
        expect(page.locator("#conversation-list img")).to_have_count(0)
        # A status picked in the filter narrows the search, and the label says so.
        page.get_by_label("Filter by status").select_option("resolved")
        expect(scope).to_have_text("Searching resolved conversations only.")
        expect(row(page, "Rex Resolved")).to_be_visible()
        page.get_by_label("Filter by status").select_option("pending")
        expect(scope).to_have_text("Searching pending conversations only.")
        expect(page.locator("#conversation-list li.row")).to_have_count(0)
        page.get_by_label("Filter by status").select_option("")
        expect(scope).to_have_text("Searching all conversations.")
        expect(row(page, "Rex Resolved")).to_be_visible()
    waiting.close()
    done.close()
    team.close()
