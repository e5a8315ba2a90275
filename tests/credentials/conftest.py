"""Fixtures for the credential tests (the real Secret Service fixture is re-exported from tests.support)."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest

from tests.support.secret_service import secret_service  # noqa: F401


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    """Put the process-wide keyring backend back after a test replaces it with keyring.set_keyring()."""
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)
