"""Fixtures of the HTTP API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.factories import FakeClock


@pytest.fixture
def tclient(settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """The app over ASGI on the test module's own ``clock`` fixture (each module that
    uses this one defines the instant it starts at)."""
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client
