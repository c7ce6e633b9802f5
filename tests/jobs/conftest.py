"""Outbox fixtures: test settings with tiny retry delays, a loopback receiver, webhooks
made through the API, and a wait for what a background job does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatdesk.settings import Settings
from tests.factories import Client, Operator, csrf


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    """Deliveries to loopback allowed (the receiver is there); retries within a second."""
    return settings.model_copy(
        update={
            "webhook_allow_private": True,
            "job_poll_seconds": 0.2,
            "job_retry_base_seconds": 0.05,
            "job_retry_max_seconds": 0.4,
            "webhook_timeout_seconds": 2.0,
        }
    )


def add_webhook(client: Client, admin: Operator, url: str, **fields: Any) -> dict[str, Any]:
    body = {"url": url, "events": ["message.created"], **fields}
    response = client.post("/api/v1/webhooks", json=body, headers=csrf(admin))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliveries(client: TestClient | Any, admin: Operator, webhook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=csrf(admin))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


def until(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """``check()``'s first truthy answer, asked every 50 ms; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)
    return found
