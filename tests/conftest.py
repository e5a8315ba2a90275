"""Shared fixtures. Feature-specific fixtures live in tests/support/ and are registered here."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
