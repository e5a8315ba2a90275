"""The gateway's own OTel SDK providers, exporting over OTLP/HTTP in the background.

Every export runs on an SDK worker thread with a bounded queue and a short timeout, so a slow or
unreachable collector costs the request path nothing but a deque append.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from gateway import __version__
from gateway.telemetry.settings import TelemetrySettings

__all__ = ["Providers", "build_providers", "run_bounded"]

_BATCH_SIZE = 512


class _Exporter(Protocol):
    def shutdown(self) -> None: ...


@dataclass(slots=True)
class Providers:
    """The SDK providers of one ``Telemetry``; any may be None when its signal is switched off."""

    tracer_provider: TracerProvider | None
    logger_provider: LoggerProvider | None
    meter_provider: MeterProvider | None
    exporters: list[_Exporter] = field(default_factory=list)

    def flush(self, timeout_s: float) -> bool:
        """Export everything buffered now (blocking, bounded by ``timeout_s``). True if all finished in time."""
        millis = int(timeout_s * 1000)
        calls: list[Callable[[], object]] = []
        if self.tracer_provider is not None:
            calls.append(lambda: self.tracer_provider.force_flush(millis))  # type: ignore[union-attr]
        if self.logger_provider is not None:
            calls.append(lambda: self.logger_provider.force_flush(millis))  # type: ignore[union-attr]
        if self.meter_provider is not None:
            calls.append(lambda: self.meter_provider.force_flush(millis))  # type: ignore[union-attr]
        return run_bounded(calls, timeout_s)

    def shutdown(self, timeout_s: float) -> bool:
        """Flush and stop every provider, giving up after ``timeout_s``. True if all finished in time."""
        millis = int(timeout_s * 1000)
        calls: list[Callable[[], object]] = []
        if self.tracer_provider is not None:
            calls.append(self.tracer_provider.shutdown)
        if self.logger_provider is not None:
            calls.append(self.logger_provider.shutdown)
        if self.meter_provider is not None:
            calls.append(lambda: self.meter_provider.shutdown(millis))  # type: ignore[union-attr]
        if run_bounded(calls, timeout_s):
            return True
        # Past the deadline: stop the exporters so the abandoned worker threads quit retrying
        # (the SDK only stops its exporter after joining its worker, which may take 30 s).
        for exporter in self.exporters:
            exporter.shutdown()
        return False


def run_bounded(calls: list[Callable[[], object]], timeout_s: float) -> bool:
    """Run ``calls`` concurrently on daemon threads and wait at most ``timeout_s`` for all of them.

    The SDK's provider shutdowns have fixed 30 s internal bounds; a daemon thread left behind after our
    deadline cannot keep the process alive, and its exporter gives up on its own timeout.
    """
    threads = [threading.Thread(target=call, name="mcp-gateway-otel-flush", daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


def build_providers(settings: TelemetrySettings, headers: Mapping[str, str]) -> Providers:
    """Create the providers and OTLP/HTTP exporters for the signals ``settings`` switches on."""
    resource = Resource.create(
        {"service.name": settings.service_name, "service.version": __version__, **settings.resource_attributes}
    )
    hdrs = dict(headers)
    timeout = settings.export_timeout
    delay_ms = settings.batch_delay * 1000
    queue = settings.max_queue_size
    batch = min(_BATCH_SIZE, queue)

    tracer_provider = logger_provider = meter_provider = None
    exporters: list[_Exporter] = []
    if settings.traces:
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        span_exporter = OTLPSpanExporter(endpoint=settings.signal_url("traces"), headers=hdrs, timeout=timeout)
        exporters.append(span_exporter)
        tracer_provider.add_span_processor(
            BatchSpanProcessor(
                span_exporter,
                max_queue_size=queue,
                schedule_delay_millis=delay_ms,
                max_export_batch_size=batch,
                export_timeout_millis=timeout * 1000,
            )
        )
    if settings.logs:
        logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        log_exporter = OTLPLogExporter(endpoint=settings.signal_url("logs"), headers=hdrs, timeout=timeout)
        exporters.append(log_exporter)
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                log_exporter,
                schedule_delay_millis=delay_ms,
                max_export_batch_size=batch,
                export_timeout_millis=timeout * 1000,
                max_queue_size=queue,
            )
        )
    if settings.metrics:
        metric_exporter = OTLPMetricExporter(endpoint=settings.signal_url("metrics"), headers=hdrs, timeout=timeout)
        exporters.append(metric_exporter)
        reader = PeriodicExportingMetricReader(
            metric_exporter,
            export_interval_millis=settings.metric_export_interval * 1000,
            export_timeout_millis=timeout * 1000,
        )
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
    return Providers(tracer_provider, logger_provider, meter_provider, exporters)
