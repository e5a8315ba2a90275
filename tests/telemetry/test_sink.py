"""TeeEventSink: the audit sink decides, telemetry observes and never breaks the call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from gateway.errors import AuditError
from gateway.telemetry import TeeEventSink

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.seen: list[tuple[str, dict[str, Any], bool]] = []
        self.fail = fail

    async def emit(self, event: str, fields: Mapping[str, Any], *, durable: bool = False) -> None:
        self.seen.append((event, dict(fields), durable))
        if self.fail is not None:
            raise self.fail


async def test_primary_gets_durable_observers_get_the_event() -> None:
    audit, tel = Recorder(), Recorder()
    await TeeEventSink(audit, tel).emit("tool_decision", {"decision": "allow"}, durable=True)
    assert audit.seen == [("tool_decision", {"decision": "allow"}, True)]
    assert tel.seen == [("tool_decision", {"decision": "allow"}, False)]


async def test_audit_failure_propagates_and_skips_observers() -> None:
    audit, tel = Recorder(fail=AuditError()), Recorder()
    with pytest.raises(AuditError):
        await TeeEventSink(audit, tel).emit("tool_decision", {}, durable=True)
    assert tel.seen == []


async def test_observer_failure_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    audit, broken, tel = Recorder(), Recorder(fail=RuntimeError("token=abc")), Recorder()
    await TeeEventSink(audit, broken, tel).emit("tool_result", {"ok": True})
    assert [e for e, _, _ in tel.seen] == ["tool_result"]
    assert "RuntimeError" in caplog.text and "token=abc" not in caplog.text
