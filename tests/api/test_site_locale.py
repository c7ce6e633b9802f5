"""A site's widget language (``locale``) and its own words per language (``strings``):
set over the API, checked, and what the widget config and the launcher settings say."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.expect import assert_error
from tests.api.world import ApiWorld, api_world


def patch(world: ApiWorld, body: dict[str, Any]) -> Any:
    return world.client.patch(f"/api/v1/sites/{world.site['id']}", json=body, headers=world.op)


def config(world: ApiWorld) -> dict[str, Any]:
    response = world.client.get(
        "/api/v1/widget/config", params={"site_key": world.site["site_key"]}
    )
    assert response.status_code == 200
    site: dict[str, Any] = response.json()["site"]
    return site


def test_a_new_site_follows_the_visitors_browser(client: TestClient) -> None:
    world = api_world(client)
    assert world.site["locale"] == "auto" and world.site["strings"] == {}
    site = config(world)
    assert site["locale"] == "auto" and site["strings"] == {}
    # chatdesk's own greeting, offline message and reply time: said in the visitor's language
    assert site["default_texts"] == ["greeting", "offline_message", "reply_time"]


def test_locale_and_strings_are_saved_and_reach_the_widget(client: TestClient) -> None:
    world = api_world(client)
    strings = {"de": {"greeting": "Servus! Wie können wir helfen?", "send": "Ab damit"}}
    response = patch(world, {"locale": "ja", "strings": strings, "greeting": "Welcome!"})
    assert response.status_code == 200, response.text
    assert response.json()["locale"] == "ja"
    assert response.json()["strings"] == strings
    site = config(world)
    assert site["locale"] == "ja" and site["strings"] == strings
    assert site["default_texts"] == ["offline_message", "reply_time"]
    # Absent fields stay; an empty text is no override.
    response = patch(world, {"strings": {"de": {"greeting": ""}, "fr": {"send": "Go"}}})
    assert response.json()["strings"] == {"fr": {"send": "Go"}}
    assert patch(world, {"name": "Shop 2"}).json()["locale"] == "ja"
    assert patch(world, {"locale": "pt-BR"}).json()["locale"] == "pt-BR"
    assert patch(world, {"locale": "auto"}).json()["locale"] == "auto"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"locale": "sw"}, "auto"),
        ({"locale": "english"}, "auto"),
        ({"locale": ""}, "auto"),
        ({"locale": "x" * 40}, "35"),
        ({"locale": 5}, "string"),
        ({"strings": {"xx": {"greeting": "Hi"}}}, "not a language the widget has"),
        ({"strings": {"de": {"no_such_key": "Hi"}}}, "not a widget string"),
        ({"strings": {"de": {"greeting": "x" * 501}}}, "at most 500"),
        ({"strings": {"de": {"greeting": 5}}}, "must be a string"),
        ({"strings": {"de": "Hallo"}}, "object of strings"),
        ({"strings": ["de"]}, "object"),
    ],
)
def test_bad_locales_and_strings_are_refused_in_words(
    client: TestClient, body: dict[str, Any], words: str
) -> None:
    world = api_world(client)
    error = assert_error(patch(world, body), 422, "validation_error")
    assert words in str(error["details"]) + error["message"]
    after = client.get(f"/api/v1/sites/{world.site['id']}", headers=world.op).json()
    assert after["locale"] == "auto" and after["strings"] == {}


def test_the_launcher_speaks_the_visitors_language(client: TestClient) -> None:
    world = api_world(client)
    key = world.site["site_key"]

    def launcher(lang: str) -> dict[str, Any]:
        response = client.get("/widget/launcher", params={"site": key, "lang": lang})
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    german = launcher("de-AT,de,en")
    assert german["locale"] == "de" and german["dir"] == "ltr"
    assert german["strings"]["open"] == "Chat öffnen"
    arabic = launcher("ar-EG")
    assert arabic["locale"] == "ar" and arabic["dir"] == "rtl"
    assert launcher("sw,xx")["locale"] == "en"
    assert launcher("")["strings"]["open"] == "Open chat"
    patch(world, {"locale": "ja", "strings": {"ja": {"launcher_open": "質問する"}}})
    japanese = launcher("de-DE")
    assert japanese["locale"] == "ja" and japanese["strings"]["open"] == "質問する"
    assert japanese["strings"]["close"] == "チャットを閉じる"
