"""Fixtures for the approvals tests: settings with short waits and an approver on a temp state folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.approvals import ApprovalSettings, Approver


@pytest.fixture
def settings() -> ApprovalSettings:
    return ApprovalSettings(queue_wait=5.0, elicitation_timeout=5.0, poll_interval=0.02)


@pytest.fixture
async def approver(tmp_path: Path, settings: ApprovalSettings) -> AsyncIterator[Approver]:
    yield await Approver.open(tmp_path / "state", settings)
