"""Telemetry test fixtures: the real OTLP receiver and telemetry instances pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.telemetry import Telemetry, TelemetrySettings
from tests.support.otlp_receiver import OtlpReceiver, otlp_receiver

__all__ = ["make_telemetry", "otlp_receiver", "telemetry"]

MakeTelemetry = Callable[..., Telemetry]


@pytest.fixture
def make_telemetry() -> Iterator[MakeTelemetry]:
    """Build ``Telemetry`` instances (real OTLP/HTTP exporters); all are shut down after the test."""
    made: list[Telemetry] = []

    def make(endpoint: str, resolved_headers: dict[str, str] | None = None, **settings: Any) -> Telemetry:
        opts: dict[str, Any] = {"enabled": True, "endpoint": endpoint, "batch_delay": 0.05, **settings}
        tel = Telemetry.create(TelemetrySettings(**opts), resolved_headers)
        made.append(tel)
        return tel

    yield make
    for tel in made:
        tel.shutdown(2.0)


@pytest.fixture
def telemetry(otlp_receiver: OtlpReceiver, make_telemetry: MakeTelemetry) -> Telemetry:
    """Telemetry exporting every signal to ``otlp_receiver``."""
    return make_telemetry(otlp_receiver.url)
