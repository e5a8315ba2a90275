"""``Telemetry``: spans, log records and metrics for the gateway, exported over OTLP/HTTP.

Global providers: we set none. The gateway uses its own Tracer/Logger/MeterProvider so that several
instances (tests, reloads) never share state and nothing else in the process exports through us.
The mcp SDK's own ``OpenTelemetryMiddleware`` and client dispatcher use the *global* tracer, which
therefore stays a no-op; that is deliberate and loses nothing:

* the SDK's server-side span would duplicate our ``request_span`` (same name, same attributes);
* the no-op tracer's span carries the *current* span context, so when the gateway calls an upstream
  inside ``upstream_span`` the SDK's client dispatcher injects *our* span's ``traceparent`` into the
  outgoing ``_meta`` (W3C TraceContext is the default global propagator). The trace therefore
  continues from the client, through the gateway, into the upstream without a global provider.

Exception text is never put on spans or log records: it may hold secrets or client input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Literal

import anyio.to_thread
from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from gateway import __version__
from gateway.errors import ConfigError, GatewayError
from gateway.intercept.call import resolve_fields
from gateway.telemetry.attributes import error_attributes, flatten_fields, request_attributes, span_name
from gateway.telemetry.metrics import ApprovalStage, GatewayMetrics
from gateway.telemetry.providers import Providers, build_providers
from gateway.telemetry.settings import TelemetrySettings

__all__ = ["EVENT_PREFIX", "RedactHook", "Telemetry", "mark_error", "mark_tool_error"]

EVENT_PREFIX = "mcp_gateway."
SCOPE = "mcp_gateway"

RedactHook = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""``(event, fields) -> fields``: a last chance to drop or mask fields before they leave the process."""

_log = logging.getLogger(__name__)
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_KEYS = ("traceparent", "tracestate")
_SEVERITY: dict[str, tuple[SeverityNumber, str]] = {
    "upstream_crash": (SeverityNumber.WARN, "WARN"),
    "audit_failure": (SeverityNumber.ERROR, "ERROR"),
    "config_error": (SeverityNumber.ERROR, "ERROR"),
}
_INFO = (SeverityNumber.INFO, "INFO")
_NOOP_SPAN: AbstractContextManager[Span] = nullcontext(trace.INVALID_SPAN)


class Telemetry:
    """The gateway's telemetry. A disabled instance is a cheap no-op; create with ``Telemetry.create``.

    Also an ``EventSink`` (``gateway.intercept.call``): ``await telemetry.emit(event, fields)``.
    """

    def __init__(
        self,
        settings: TelemetrySettings,
        providers: Providers | None = None,
        *,
        redact: RedactHook | None = None,
    ) -> None:
        self.settings = settings
        self._providers = providers
        self._redact = redact
        self._max_len = settings.max_attribute_length
        self._closed = False
        self._tracer: Tracer | None = None
        self._logger: Logger | None = None
        self._metrics: GatewayMetrics | None = None
        if providers is not None:
            if providers.tracer_provider is not None:
                self._tracer = providers.tracer_provider.get_tracer(SCOPE, __version__)
            if providers.logger_provider is not None:
                self._logger = providers.logger_provider.get_logger(SCOPE, __version__)
            if providers.meter_provider is not None:
                self._metrics = GatewayMetrics(providers.meter_provider.get_meter(SCOPE, __version__))

    @classmethod
    def create(
        cls,
        settings: TelemetrySettings,
        resolved_headers: Mapping[str, str] | None = None,
        *,
        redact: RedactHook | None = None,
    ) -> Telemetry:
        """Build telemetry from settings. ``resolved_headers`` holds the plain value of every header that is a
        ``{secret: ...}`` reference (header name -> value); literal headers come from ``settings``.

        Raises ``ConfigError`` when a secret header was not resolved (rather than exporting unauthenticated).
        """
        if not settings.enabled:
            return cls.disabled()
        resolved = dict(resolved_headers or {})
        headers: dict[str, str] = {}
        for name, value in settings.headers.items():
            if isinstance(value, str):
                headers[name] = value
            elif name in resolved:
                headers[name] = resolved[name]
            else:
                raise ConfigError(
                    f'header "{name}" references secret "{value.secret}", which was not resolved; '
                    "store it with `mcp-gateway creds set` or remove the header",
                    location=f"gateway.telemetry.headers.{name}",
                )
        return cls(settings, build_providers(settings, headers), redact=redact)

    @classmethod
    def disabled(cls) -> Telemetry:
        """A no-op instance: spans are non-recording, emit and record_* do nothing."""
        return cls(TelemetrySettings())

    @property
    def enabled(self) -> bool:
        return self._providers is not None

    # -- traces ---------------------------------------------------------------------------------

    def request_span(
        self,
        method: str,
        target: str | None = None,
        *,
        session_id: str | None = None,
        request_id: str | int | None = None,
        protocol_version: str | None = None,
        transport: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> AbstractContextManager[Span]:
        """A SERVER span for the gateway's handling of one client request, named ``{method} {target}``.

        The trace continues from ``meta`` (the request's ``params._meta``) when it holds a valid
        ``traceparent``; otherwise from the current context. On an exception ``error.type`` is set and
        the exception propagates.
        """
        if self._tracer is None:
            return _NOOP_SPAN
        attrs = request_attributes(
            method,
            target,
            session_id=session_id,
            request_id=request_id,
            protocol_version=protocol_version,
            transport=transport,
        )
        return self._span(self._tracer, span_name(method, target), SpanKind.SERVER, attrs, _extract(meta))

    def upstream_span(
        self,
        method: str,
        target: str | None = None,
        *,
        upstream: str,
        session_id: str | None = None,
        request_id: str | int | None = None,
        protocol_version: str | None = None,
        transport: str | None = None,
    ) -> AbstractContextManager[Span]:
        """A CLIENT span for the call to an upstream; call the upstream inside it so its context propagates."""
        if self._tracer is None:
            return _NOOP_SPAN
        attrs = request_attributes(
            method,
            target,
            session_id=session_id,
            request_id=request_id,
            protocol_version=protocol_version,
            transport=transport,
        )
        attrs["mcp_gateway.upstream"] = upstream
        return self._span(self._tracer, span_name(method, target), SpanKind.CLIENT, attrs, None)

    def child_span(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        kind: Literal["internal", "client"] = "internal",
        **more: Any,
    ) -> AbstractContextManager[Span]:
        """A child of the current span, e.g. ``"policy"`` or ``"approval wait"``.

        Attributes come from ``attributes`` (dotted keys) and keyword arguments, flattened like event fields.
        """
        if self._tracer is None:
            return _NOOP_SPAN
        attrs = flatten_fields({**(attributes or {}), **more}, max_length=self._max_len)
        span_kind = SpanKind.CLIENT if kind == "client" else SpanKind.INTERNAL
        return self._span(self._tracer, name, span_kind, attrs, None)

    @staticmethod
    @contextmanager
    def _span(
        tracer: Tracer, name: str, kind: SpanKind, attrs: dict[str, AttributeValue], context: Context | None
    ) -> Iterator[Span]:
        with tracer.start_as_current_span(
            name,
            context=context,
            kind=kind,
            attributes=attrs,
            record_exception=False,  # tracebacks and messages may hold secrets
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                mark_error(span, exc)
                raise

    def inject_meta(self, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A copy of ``meta`` with the current span's ``traceparent``/``tracestate`` (for an upstream's ``_meta``).

        Stale trace keys from the client are replaced; with no recording span they are left as they were.
        """
        out = dict(meta or {})
        if self._tracer is None:
            return out
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        if carrier:
            for key in _TRACE_KEYS:
                out.pop(key, None)
            out.update(carrier)
        return out

    # -- logs (EventSink) -----------------------------------------------------------------------

    async def emit(self, event: str, fields: Mapping[str, Any], *, durable: bool = False) -> None:
        """Emit an audit event as an OTel log record ``mcp_gateway.<event>`` in the current span's context.

        Never blocks (the batch processor only queues) and never raises for telemetry reasons. ``durable``
        is ignored: telemetry is never the durable record; the audit sink is.
        """
        self.emit_sync(event, fields)

    def emit_sync(self, event: str, fields: Mapping[str, Any]) -> None:
        """``emit`` for synchronous code."""
        if event == "upstream_restarted":
            self.record_upstream_restart(str(fields.get("upstream")))
        if self._logger is None or self._closed:
            return
        name = event if event.startswith(EVENT_PREFIX) else EVENT_PREFIX + event
        short = name.removeprefix(EVENT_PREFIX)
        fields = resolve_fields(fields)
        if self._redact is not None:
            fields = self._redact(short, fields)
        severity, severity_text = _SEVERITY.get(short, _INFO)
        try:
            attrs = flatten_fields(fields, max_length=self._max_len)
            self._logger.emit(
                severity_number=severity,
                severity_text=severity_text,
                body=name,
                event_name=name,
                attributes=attrs,
            )
        except (TypeError, ValueError) as exc:
            # A field that cannot be encoded must not fail the call it describes.
            _log.warning("telemetry: dropped event %s: %s", name, type(exc).__name__)

    # -- metrics --------------------------------------------------------------------------------

    def record_call(self, upstream: str, tool: str, decision: str, duration_s: float, is_error: bool) -> None:
        """Count one tool call (``mcp_gateway.calls``) and its duration (``mcp_gateway.call.duration``, s)."""
        if self._metrics is not None:
            self._metrics.record_call(upstream, tool, decision, duration_s, is_error)

    def record_approval(
        self,
        stage: ApprovalStage,
        option: str | None = None,
        *,
        upstream: str | None = None,
        tool: str | None = None,
        wait_s: float | None = None,
    ) -> None:
        """Count an approval asked (``requested``) or answered (``answered``, with the chosen option)."""
        if self._metrics is not None:
            self._metrics.record_approval(stage, option, upstream=upstream, tool=tool, wait_s=wait_s)

    def record_upstream_restart(self, upstream: str) -> None:
        """Count one restart of an upstream server."""
        if self._metrics is not None:
            self._metrics.record_upstream_restart(upstream)

    # -- lifecycle ------------------------------------------------------------------------------

    def flush(self, timeout_s: float | None = None) -> bool:
        """Export everything buffered now. Blocking: from async code use ``await aflush()``."""
        if self._providers is None or self._closed:
            return True
        return self._providers.flush(timeout_s if timeout_s is not None else self.settings.shutdown_timeout)

    async def aflush(self, timeout_s: float | None = None) -> bool:
        """``flush`` on a worker thread."""
        return await anyio.to_thread.run_sync(self.flush, timeout_s)

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Flush and stop exporting, within ``timeout_s`` (default ``settings.shutdown_timeout``). Idempotent.

        Blocking: from async code use ``await aclose()``. Returns False if the flush did not finish in time.
        """
        if self._providers is None or self._closed:
            return True
        self._closed = True
        return self._providers.shutdown(timeout_s if timeout_s is not None else self.settings.shutdown_timeout)

    async def aclose(self, timeout_s: float | None = None) -> bool:
        """``shutdown`` on a worker thread."""
        return await anyio.to_thread.run_sync(self.shutdown, timeout_s)


def mark_error(span: Span, exc: BaseException) -> None:
    """Set ``error.type`` (and an ERROR status with a client-safe description) on ``span``."""
    if not span.is_recording():
        return
    span.set_attributes(error_attributes(exc))
    description = exc.public_message if isinstance(exc, GatewayError) else None
    span.set_status(StatusCode.ERROR, description)


def mark_tool_error(span: Span) -> None:
    """Mark a span whose ``tools/call`` returned ``isError: true`` (semconv ``error.type = tool_error``)."""
    if span.is_recording():
        span.set_attribute("error.type", "tool_error")
        span.set_status(StatusCode.ERROR)


def _extract(meta: Mapping[str, Any] | None) -> Context | None:
    """The client's trace context from ``_meta``, or None (continue the ambient context) when absent/invalid."""
    if not meta or "traceparent" not in meta:
        return None
    carrier = {k: v for k in _TRACE_KEYS if isinstance(v := meta.get(k), str)}
    ctx = _PROPAGATOR.extract(carrier)
    if not trace.get_current_span(ctx).get_span_context().is_valid:
        return None
    return ctx
