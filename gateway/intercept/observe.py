"""``Observe``: the request and its result in the audit trail, spans and metrics (outermost step)."""

from __future__ import annotations

import time
from typing import Any

import mcp_types as types

from gateway.audit.privacy import apply_privacy, dumps
from gateway.audit.settings import AuditSettings
from gateway.errors import GatewayError, RefusedError
from gateway.intercept.authorize import call_fields
from gateway.intercept.call import Lazy, ToolCall
from gateway.intercept.chain import CallNext, CallResult
from gateway.plain import wire_result
from gateway.telemetry import Telemetry

__all__ = ["Observe"]


class Observe:
    """Records ``call_received`` and ``tool_result`` with the admin's privacy level; one span per call."""

    def __init__(self, audit: AuditSettings, telemetry: Telemetry) -> None:
        self.audit = audit
        self.telemetry = telemetry

    def _privacy(self, call: ToolCall, value: Any, text: str | None = None) -> Any:
        s = self.audit
        return apply_privacy(
            s.privacy_for(call.upstream),
            value,
            preview_chars=s.preview_chars,
            max_chars=s.max_argument_chars,
            text=text,
        )

    async def __call__(self, call: ToolCall, call_next: CallNext) -> CallResult:
        fields = call_fields(call)
        await call.events.emit(
            "call_received",
            fields
            | {
                "arguments": self._privacy(call, call.arguments),  # serialised here (a copy at level full)
                "request_id": call.request_id,
                "protocol_version": call.protocol_version,
                "retry": call.input_responses is not None,
            },
        )
        started = time.perf_counter()
        outcome = "error"
        decision = "allow"
        try:
            result = await call_next(call)
        except RefusedError as exc:
            decision = "deny"
            outcome = "refused"
            await call.events.emit(
                "tool_result",
                fields
                | {"outcome": outcome, "is_error": True, "error": exc.public_message, "duration_ms": _ms(started)},
            )
            raise
        except GatewayError as exc:
            await call.events.emit(
                "tool_result",
                fields
                | {"outcome": "error", "is_error": True, "error": exc.public_message, "duration_ms": _ms(started)},
            )
            raise
        except BaseException:
            await call.events.emit(
                "tool_result", fields | {"outcome": "error", "is_error": True, "duration_ms": _ms(started)}
            )
            raise
        finally:
            self.telemetry.record_call(
                call.upstream, call.tool, decision, time.perf_counter() - started, outcome != "ok"
            )
        if isinstance(result, types.InputRequiredResult):
            await call.events.emit("tool_result", fields | {"outcome": "input_required", "duration_ms": _ms(started)})
            return result
        # Serialised once, and only when the record is built (after the response has gone out): its length is
        # the size, and the privacy level cuts or parses the same text.
        body = Lazy(lambda: _json(result))
        await call.events.emit(
            "tool_result",
            fields
            | {
                "outcome": "ok",
                "is_error": bool(result.is_error),
                "duration_ms": _ms(started),
                "size": Lazy(lambda: len(body())),
                "result": Lazy(lambda: self._privacy(call, result, body())),
            },
        )
        outcome = "ok"
        return result


def _json(result: types.CallToolResult) -> str:
    wired = wire_result(result)  # the everyday result without pydantic's serialiser (gateway.plain)
    return dumps(wired) if wired is not None else result.model_dump_json(by_alias=True, exclude_none=True)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
