"""Webhooks in the console: add one (the secret shown once), watch its deliveries fail and
resend one, pause and resume, delete; at desktop and phone widths, every control named."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from chatdesk.app import create_app
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
from tests.jobs.receiver import Answer, Receiver, verified


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_allow_private": True,
            "job_poll_seconds": 0.2,
            "job_retry_base_seconds": 0.05,
            "job_retry_max_seconds": 0.2,
            "job_max_attempts": 2,
        }
    )


@pytest.fixture
def hook_server(hook_settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(lambda: create_app(hook_settings))
    server.start()
    yield server
    server.stop()


def test_add_watch_resend_pause_and_delete_a_webhook(
    browser: Browser,
    hook_server: LiveServer,
    hook_settings: Settings,
    receiver: Receiver,
    screenshot_dir: Path,
) -> None:
    url = hook_server.url
    setup = OperatorApi(url, direct_operator(hook_settings))
    site = setup.create_site("Shop")
    receiver.default = Answer(500)
    endpoint = f"{receiver.url}/chatdesk"
    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, "/admin/settings/webhooks")
        expect(page.get_by_role("heading", name="Webhooks", level=2)).to_be_visible()
        page.get_by_label("Endpoint URL").fill(endpoint)
        page.get_by_label("A conversation is resolved").check()
        page.get_by_label("Site").select_option(label="Shop")
        page.get_by_role("button", name="Add webhook").click()
        secret = page.get_by_label("Signing secret")
        expect(secret).to_have_value(re.compile(r"^whsec_"))
        value = secret.input_value()
        [made] = setup.call("GET", "/api/v1/webhooks")["webhooks"]
        assert made["events"] == ["conversation.resolved", "message.created"]
        assert made["site_id"] == site["id"] and made["url"] == endpoint

        visitor = Visitor(url, site["site_key"])
        visitor.start("Is my order on its way?")
        receiver.wait_for(lambda r: len(r.receipts) >= 2)  # both attempts, both refused
        assert verified(receiver.receipts[0], value)["data"]["message"]["body"] == (
            "Is my order on its way?"
        )
        deliveries = page.get_by_role("button", name=f"Deliveries of {endpoint}")
        deadline = time.monotonic() + 10
        while True:  # the second refusal is recorded a moment after it is answered
            [delivery] = setup.call("GET", f"/api/v1/webhooks/{made['id']}/deliveries")[
                "deliveries"
            ]
            if delivery["status"] == "failed" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        deliveries.click()
        expect(deliveries).to_have_attribute("aria-expanded", "true")
        table = page.get_by_role("table", name=f"Deliveries of {endpoint}")
        expect(table).to_contain_text("message.created")
        expect(table).to_contain_text("failed")
        expect(table).to_contain_text("the receiver answered 500 (no attempts left)")
        check_layout(page)
        screenshot(page, screenshot_dir, "console-webhooks-desktop", full_page=True)

        receiver.default = Answer(204)
        page.get_by_role("button", name=f"Resend delivery {delivery['id']}").click()
        expect(page.get_by_role("status")).to_have_text("The delivery was queued again.")
        receiver.wait_for(lambda r: len(r.receipts) >= 3)
        assert {r.webhook_id for r in receiver.receipts} == {delivery["id"]}
        deadline = time.monotonic() + 10
        while (
            setup.call("GET", f"/api/v1/webhooks/{made['id']}/deliveries")["deliveries"][0][
                "status"
            ]
            != "delivered"
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        deliveries.click()  # closed, then opened again: read afresh
        deliveries.click()
        expect(table).to_contain_text("delivered")
        expect(table).to_contain_text("HTTP 204")

        page.get_by_role("button", name=f"Pause {endpoint}").click()
        expect(page.get_by_role("status")).to_have_text("The webhook is paused.")
        expect(page.get_by_role("list", name="Webhooks")).to_contain_text("Paused")
        assert setup.call("GET", "/api/v1/webhooks")["webhooks"][0]["active"] is False
        page.get_by_role("button", name=f"Resume {endpoint}").click()
        expect(page.get_by_role("status")).to_have_text("The webhook is active again.")
        assert setup.call("GET", "/api/v1/webhooks")["webhooks"][0]["active"] is True

        page.reload()
        expect(page.get_by_label("Signing secret")).to_have_count(0)
        assert value not in page.content()

        # A URL the server refuses is refused in words, nothing added.
        page.get_by_label("Endpoint URL").fill("ftp://files.example.com/")
        page.get_by_role("button", name="Add webhook").click()
        expect(page.get_by_role("status")).to_contain_text("http:// or https://")
        assert len(setup.call("GET", "/api/v1/webhooks")["webhooks"]) == 1

        page.get_by_role("button", name=f"Delete {endpoint}").click()
        page.get_by_role("button", name=f"Delete {endpoint}").click()
        expect(page.get_by_role("status")).to_have_text("The webhook was deleted.")
        expect(page.get_by_role("list", name="Webhooks")).to_have_count(0)
        assert setup.call("GET", "/api/v1/webhooks")["webhooks"] == []
        assert watch.errors == [] and watch.seen == []
        visitor.close()

    setup.call("POST", "/api/v1/webhooks", {"url": endpoint, "events": ["message.created"]}, 201)
    with new_page(browser, PHONE) as page:
        sign_in_with(page, setup, "/admin/settings/webhooks")
        expect(page.get_by_role("list", name="Webhooks")).to_contain_text(endpoint)
        check_layout(page)
        screenshot(page, screenshot_dir, "console-webhooks-phone", full_page=True)
    setup.close()
