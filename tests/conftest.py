"""Shared fixtures. Feature-specific fixtures live in tests/support/ and are registered here."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.support.secret_service", "tests.support.otlp_receiver"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
