"""A site's widget theme: "auto" (the visitor's light or dark setting) by default, or a
fixed "light" or "dark"; set over the API, checked, and in the widget config."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.expect import assert_error
from tests.api.world import ApiWorld, api_world


def patch(world: ApiWorld, body: dict[str, Any]) -> Any:
    return world.client.patch(f"/api/v1/sites/{world.site['id']}", json=body, headers=world.op)


def config_theme(world: ApiWorld) -> str:
    response = world.client.get(
        "/api/v1/widget/config", params={"site_key": world.site["site_key"]}
    )
    assert response.status_code == 200
    theme: str = response.json()["site"]["theme"]
    return theme


def test_a_new_site_follows_the_visitor_and_a_fixed_theme_reaches_the_widget(
    client: TestClient,
) -> None:
    world = api_world(client)
    assert world.site["theme"] == "auto"
    assert config_theme(world) == "auto"
    response = patch(world, {"theme": "dark"})
    assert response.status_code == 200, response.text
    assert response.json()["theme"] == "dark"
    assert config_theme(world) == "dark"
    # Other changes keep it; "light" and back to "auto" are taken.
    assert patch(world, {"name": "Shop 2"}).json()["theme"] == "dark"
    assert patch(world, {"theme": "light"}).json()["theme"] == "light"
    assert patch(world, {"theme": "auto"}).json()["theme"] == "auto"
    assert config_theme(world) == "auto"


@pytest.mark.parametrize("theme", ["Dark", "black", "", 1, None])
def test_an_unknown_theme_is_refused_in_words(client: TestClient, theme: Any) -> None:
    world = api_world(client)
    patch(world, {"theme": "light"})
    if theme is None:
        # null is "leave it as it is", like every other optional site field
        assert patch(world, {"theme": None}).json()["theme"] == "light"
        return
    error = assert_error(patch(world, {"theme": theme}), 422, "validation_error")
    words = str(error["details"]) + error["message"]
    assert "auto" in words and "dark" in words and "theme" in words, words
    after = client.get(f"/api/v1/sites/{world.site['id']}", headers=world.op).json()
    assert after["theme"] == "light"
