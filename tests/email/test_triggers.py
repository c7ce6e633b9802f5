"""What causes email: whom a message @mentions, the widget's promise (site.email_enabled),
the transcript route's answers, and that email-on traffic stays on the message path."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chatdesk.actions.email import mentioned_operators
from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.email.conftest import email_settings
from tests.factories import (
    add_operator,
    bearer,
    create_site,
    csrf,
    login,
    services_db,
    start_conversation,
    visitor_token,
)


def test_mentions_by_name_or_handle_of_operators_on_the_site(client: TestClient) -> None:
    db = services_db(client)
    owner = login(client, add_operator(db, "owner", name="Olga Owner"))
    site = create_site(client, owner)
    other_site = create_site(client, owner, name="Elsewhere")
    jane = add_operator(db, "agent", name="Jane Doe", email="jdoe@example.com")
    off_site = add_operator(db, "agent", name="Sam Else", email="sam@example.com")
    quiet = add_operator(db, "agent", name="Quinn", email="quinn@example.com")
    for who, sites in ((jane, [site["id"]]), (off_site, [other_site["id"]]), (quiet, [site["id"]])):
        client.patch(f"/api/v1/operators/{who.id}", json={"site_ids": sites}, headers=csrf(owner))
    login(client, quiet)
    client.patch("/api/v1/auth/me", json={"notify_mentions": False}, headers=csrf(quiet))
    login(client, owner)

    def mentioned(body: str) -> set[str]:
        found = db.read_sync(lambda conn: mentioned_operators(conn, site["id"], body, owner.id))
        return set(found)

    assert mentioned("@Jane Doe can you look?") == {jane.id}
    assert mentioned("ping @jdoe.") == {jane.id}
    assert mentioned("@JANE DOE") == {jane.id}
    assert mentioned("@Jane Does not count") == set()  # a longer word is not the name
    assert mentioned("mail jdoe@example.com") == set()  # an address is not a mention
    assert mentioned("@Sam Else @sam") == set()  # not an operator of this site
    assert mentioned("@Quinn") == set()  # turned mention emails off
    assert mentioned("@Olga Owner") == set()  # never the author
    assert mentioned("no at sign") == set()


def test_widget_config_says_whether_email_is_on(settings: Settings, client: TestClient) -> None:
    owner = login(client, add_operator(services_db(client), "owner"))
    site = create_site(client, owner)
    config = client.get(f"/api/v1/widget/config?site_key={site['site_key']}").json()
    assert config["site"]["email_enabled"] is False
    token = visitor_token(client, site["site_key"], email="vera@example.org")
    conversation = start_conversation(client, token)["conversation"]
    refused = client.post(
        f"/api/v1/widget/conversations/{conversation['id']}/transcript", headers=bearer(token)
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
    with TestClient(create_app(email_settings(settings, "smtp://127.0.0.1:9"))) as on:
        config = on.get(f"/api/v1/widget/config?site_key={site['site_key']}").json()
        assert config["site"]["email_enabled"] is True
        path = f"/api/v1/widget/conversations/{conversation['id']}/transcript"
        assert on.post(path, headers=bearer(token)).status_code == 202
        anonymous = visitor_token(on, site["site_key"])
        theirs = start_conversation(on, anonymous)["conversation"]
        no_address = on.post(
            f"/api/v1/widget/conversations/{theirs['id']}/transcript", headers=bearer(anonymous)
        )
        assert no_address.status_code == 422
        assert no_address.json()["error"]["details"] == {"field": "email"}
        # Someone else's conversation: 404, as everywhere.
        assert on.post(path, headers=bearer(anonymous)).status_code == 404
