"""Passkeys in Chromium with its virtual authenticator (CDP ``WebAuthn``, ADR 0030): add
two on Account, rename and remove them, sign in with one instead of password and code;
and the refusals of real assertions: a replayed challenge, another origin, an unknown
credential, a deactivated operator."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Browser, CDPSession, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import direct_operator, new_page, sign_in, wait_ready
from tests.conftest import LiveServer
from tests.factories import Operator

# The page's own helpers, imported next to the sign-in page's module, make an answer.
_ASSERT = """async () => {
  const src = document.querySelector('script[src*="passkey_login.js"]').src;
  const { getCredential } = await import(src.replace("passkey_login.js", "webauthn.js"));
  const csrf = {"Content-Type": "application/json"};
  const made = await fetch("/api/v1/auth/passkeys/login/options", {method: "POST", headers: csrf});
  const { public_key } = await made.json();
  return await getCredential(public_key);
}"""
_POST = """async (credential) => {
  const answer = await fetch("/api/v1/auth/passkeys/login", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({ credential }), credentials: "omit",
  });
  return [answer.status, await answer.json()];
}"""


def _authenticator(page: Page) -> tuple[CDPSession, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, str(made["authenticatorId"])


def _add(page: Page, name: str) -> None:
    card = page.get_by_role("region", name="Passkeys")
    card.get_by_label("Name of the new passkey").fill(name)
    card.get_by_role("button", name="Add a passkey").click()
    expect(card.get_by_role("status")).to_have_text(
        f"{name} was added: you can sign in with it now."
    )


def _names(page: Page) -> list[str]:
    items = page.locator("#passkey-list li[data-passkey-id] input")
    return [items.nth(i).input_value() for i in range(items.count())]


def _sign_out(page: Page, url: str) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(url + "/admin/login")


def test_add_rename_remove_and_sign_in_with_a_passkey(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    # "localhost": an IP address cannot be a WebAuthn RP ID.
    url = f"http://localhost:{live_server.port}"
    owner = direct_operator(settings, "owner", "Pat Key")
    with new_page(browser) as page:
        cdp, laptop = _authenticator(page)
        sign_in(page, url, owner, "/admin/account")
        expect(page.get_by_role("region", name="Passkeys")).to_contain_text("No passkeys yet.")
        _add(page, "Laptop")
        # A second authenticator (the first would refuse: it holds this account already).
        cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": laptop})
        _authenticator(page)
        _add(page, "Phone")
        assert _names(page) == ["Laptop", "Phone"]
        page.get_by_label("Name of passkey Phone").fill("Work phone")
        page.get_by_role("button", name="Rename passkey Phone").click()
        expect(page.locator("#passkey-status")).to_have_text("Renamed to Work phone.")
        assert _names(page) == ["Laptop", "Work phone"]

        _sign_out(page, url)
        page.get_by_role("button", name="Sign in with a passkey").click()
        expect(page).to_have_url(url + "/admin")
        wait_ready(page)
        page.goto(url + "/admin/account")
        wait_ready(page)
        expect(page.locator("#passkey-list")).to_contain_text("last used")
        page.get_by_role("button", name="Remove passkey Laptop").click()
        expect(page.locator("#passkey-status")).to_have_text("Laptop was removed.")
        assert _names(page) == ["Work phone"]
        sessions = page.get_by_role("region", name="Signed-in devices")
        expect(sessions.locator("tbody tr")).to_have_count(1)  # the password's was signed out
        expect(sessions).to_contain_text("Chrome on Linux")


def _signed_in_with_passkey(browser: Browser, url: str, owner: Operator) -> Any:
    page_context = new_page(browser)
    page = page_context.__enter__()
    _authenticator(page)
    sign_in(page, url, owner, "/admin/account")
    _add(page, "Key")
    _sign_out(page, url)
    return page_context, page


def test_refusals_of_real_assertions(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = f"http://localhost:{live_server.port}"
    owner = direct_operator(settings, "owner", "Rita Refused")
    page_context, page = _signed_in_with_passkey(browser, url, owner)
    try:
        # Used once: signs in. The same answer again: its challenge is spent.
        credential = page.evaluate(_ASSERT)
        status, body = page.evaluate(_POST, credential)
        assert status == 200 and body["operator"]["email"] == owner.email
        status, body = page.evaluate(_POST, credential)
        assert (status, body["error"]["code"]) == (401, "unauthorized")

        # Another origin: the same server reached as 127.0.0.1 expects that origin and
        # RP ID, not localhost's; the refused attempt spends the challenge too.
        credential = page.evaluate(_ASSERT)
        other = httpx.post(
            live_server.url + "/api/v1/auth/passkeys/login", json={"credential": credential}
        )
        assert (other.status_code, other.json()["error"]["code"]) == (401, "unauthorized")
        status, _ = page.evaluate(_POST, credential)
        assert status == 401

        # An unknown credential id, with a fresh challenge.
        credential = page.evaluate(_ASSERT)
        credential["id"] = credential["rawId"] = "AAAA" + credential["rawId"][4:]
        status, _ = page.evaluate(_POST, credential)
        assert status == 401

        # A deactivated operator's passkey signs nobody in.
        admin = direct_operator(settings, "owner", "Ada Admin")
        with httpx.Client(base_url=live_server.url) as http:
            signed = http.post(
                "/api/v1/auth/login", json={"email": admin.email, "password": admin.password}
            )
            headers = {"X-CSRF-Token": signed.json()["csrf_token"]}
            gone = http.patch(
                f"/api/v1/operators/{owner.id}", json={"active": False}, headers=headers
            )
            assert gone.status_code == 200, gone.text
        credential = page.evaluate(_ASSERT)
        status, body = page.evaluate(_POST, credential)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        assert re.search("passkey", body["error"]["message"], re.I)
    finally:
        page_context.__exit__(None, None, None)
