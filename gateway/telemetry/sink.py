"""Send every event to the audit sink (which may have to make it durable) and then to telemetry."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gateway.intercept.call import EventSink

__all__ = ["TeeEventSink"]

_log = logging.getLogger(__name__)


class TeeEventSink:
    """An ``EventSink`` that writes to ``primary`` first, then to each of ``observers``.

    ``primary`` (the audit log) decides durability: its ``AuditError`` propagates and the observers are
    skipped, so telemetry never reports a call the audit trail refused. Observers (telemetry) are best
    effort: their failures are logged by type only and never fail the call.
    """

    def __init__(self, primary: EventSink, *observers: EventSink) -> None:
        self.primary = primary
        self.observers = observers

    async def emit(self, event: str, fields: Mapping[str, Any], *, durable: bool = False) -> None:
        await self.primary.emit(event, fields, durable=durable)
        for observer in self.observers:
            try:
                await observer.emit(event, fields)
            except Exception as exc:  # noqa: BLE001 - an observer must never break the call it observes
                _log.warning("event observer %s failed on %s: %s", type(observer).__name__, event, type(exc).__name__)
