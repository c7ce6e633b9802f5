"""Behind a proxy without CHATDESK_TRUSTED_PROXIES every client shares the proxy's
address: chatdesk says so once in its log, and /metrics refuses forwarded requests
instead of trusting the proxy's loopback address."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings

FORWARDED = {"X-Forwarded-For": "203.0.113.9"}


@contextmanager
def _serving(
    settings: Settings, caplog: pytest.LogCaptureFixture, peer: str
) -> Iterator[TestClient]:
    app = create_app(settings)  # it sets up logging: listen from then on
    root = logging.getLogger()
    root.addHandler(caplog.handler)
    try:
        with TestClient(app, client=(peer, 4000)) as client:
            yield client
    finally:
        root.removeHandler(caplog.handler)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "CHATDESK_TRUSTED_PROXIES" in record.getMessage()
    ]


def test_an_untrusted_proxy_is_named_once_in_the_log(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with _serving(settings, caplog, "127.0.0.1") as client:
        session = {"site_key": "pk_unknown"}
        for _ in range(3):
            client.post("/api/v1/widget/sessions", json=session, headers=FORWARDED)
        client.get("/metrics", headers={"Forwarded": "for=203.0.113.9"})
    warned = _warnings(caplog)
    assert len(warned) == 1, warned
    assert "127.0.0.1" in warned[0] and "CHATDESK_TRUSTED_PROXIES=127.0.0.1" in warned[0]


@pytest.mark.parametrize(
    ("peer", "headers", "trusted"),
    [
        ("127.0.0.1", {}, []),  # no forwarding header: a direct client
        ("93.184.216.34", FORWARDED, []),  # a public peer is no proxy of ours
        ("127.0.0.1", FORWARDED, ["127.0.0.1/32"]),  # a trusted proxy: all is known
    ],
)
def test_no_warning_without_an_untrusted_local_proxy(
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    peer: str,
    headers: dict[str, str],
    trusted: list[str],
) -> None:
    configured = settings.model_copy(update={"trusted_proxies": trusted})
    with _serving(configured, caplog, peer) as client:
        client.post("/api/v1/widget/sessions", json={"site_key": "pk_x"}, headers=headers)
    assert _warnings(caplog) == []


def test_metrics_refuse_requests_forwarded_by_an_untrusted_proxy(settings: Settings) -> None:
    with TestClient(create_app(settings), client=("127.0.0.1", 4000)) as client:
        assert client.get("/metrics").status_code == 200  # loopback, direct
        for header in (FORWARDED, {"Forwarded": "for=203.0.113.9"}, {"X-Real-IP": "1.2.3.4"}):
            refused = client.get("/metrics", headers=header)
            assert refused.status_code == 403, header
            assert "CHATDESK_TRUSTED_PROXIES" in refused.json()["error"]["message"]
    trusted = settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})
    with TestClient(create_app(trusted), client=("127.0.0.1", 4000)) as client:
        # Behind a trusted proxy the real client is known: outside the allow-list, refused...
        assert client.get("/metrics", headers=FORWARDED).status_code == 403
        # ...and a scraper on the proxy's own machine is let in.
        assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    token = Settings.model_validate({**settings.model_dump(), "metrics_token": "t" * 40})
    with TestClient(create_app(token), client=("127.0.0.1", 4000)) as client:
        authorized = {**FORWARDED, "Authorization": "Bearer " + "t" * 40}
        assert client.get("/metrics", headers=authorized).status_code == 200
