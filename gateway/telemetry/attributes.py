"""MCP semantic-convention span names/attributes, and flattening of audit fields into OTel attribute values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel

from gateway.errors import GatewayError, RefusedError

__all__ = [
    "error_attributes",
    "flatten_fields",
    "network_transport",
    "request_attributes",
    "span_name",
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_RESOURCE_METHODS = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})
_TRANSPORTS = {"stdio": "pipe", "pipe": "pipe", "http": "tcp", "tcp": "tcp", "streamable-http": "tcp", "sse": "tcp"}


def span_name(method: str, target: str | None) -> str:
    """``{mcp.method.name} {target}``, or just the method when there is no target."""
    return f"{method} {target}" if target else method


def network_transport(transport: str | None) -> str | None:
    """``stdio`` -> ``pipe``, ``http`` -> ``tcp`` (semconv ``network.transport``); unknown values pass through."""
    if transport is None:
        return None
    return _TRANSPORTS.get(transport, transport)


def request_attributes(
    method: str,
    target: str | None,
    *,
    session_id: str | None = None,
    request_id: str | int | None = None,
    protocol_version: str | None = None,
    transport: str | None = None,
) -> dict[str, AttributeValue]:
    """The MCP semconv attributes of one request span (server or client side)."""
    attrs: dict[str, AttributeValue] = {"mcp.method.name": method}
    if target:
        if method == "tools/call":
            attrs["gen_ai.tool.name"] = target
            attrs["gen_ai.operation.name"] = "execute_tool"
        elif method == "prompts/get":
            attrs["gen_ai.prompt.name"] = target
        elif method in _RESOURCE_METHODS:
            attrs["mcp.resource.uri"] = target
    elif method == "tools/call":
        attrs["gen_ai.operation.name"] = "execute_tool"
    if session_id:
        attrs["mcp.session.id"] = session_id
    if request_id is not None:
        attrs["jsonrpc.request.id"] = str(request_id)
    if protocol_version:
        attrs["mcp.protocol.version"] = protocol_version
    net = network_transport(transport)
    if net:
        attrs["network.transport"] = net
    return attrs


def error_attributes(exc: BaseException) -> dict[str, AttributeValue]:
    """``error.type`` for a failed request, without exception text (it may hold secrets or client input).

    Refusals reach the model as tool errors, so they are ``tool_error`` (as an ``isError`` result would be)
    with the gateway's reason in ``mcp_gateway.refusal``; other gateway errors are JSON-RPC errors and use
    the code; anything else uses the exception's class name.
    """
    if isinstance(exc, RefusedError):
        return {"error.type": "tool_error", "mcp_gateway.refusal": type(exc).__name__}
    if isinstance(exc, GatewayError):
        return {
            "error.type": str(exc.code),
            "rpc.response.status_code": str(exc.code),
            "mcp_gateway.error": type(exc).__name__,
        }
    return {"error.type": type(exc).__qualname__}


def flatten_fields(fields: Mapping[str, Any], *, max_length: int = 4096) -> dict[str, AttributeValue]:
    """Audit fields as OTel attribute values.

    Primitives stay as they are, ``None`` is dropped, homogeneous lists of primitives stay lists, and
    anything else (nested mappings, mixed lists, models) becomes a JSON string. Strings are capped at
    ``max_length`` characters.
    """
    out: dict[str, AttributeValue] = {}
    for key, value in fields.items():
        converted = _convert(value, max_length)
        if converted is not None:
            out[str(key)] = converted
    return out


def _convert(value: Any, max_length: int) -> AttributeValue | None:
    if value is None:
        return None
    prim = _primitive(value, max_length)
    if prim is not None:
        return prim
    if isinstance(value, list | tuple | set | frozenset):
        items = [_primitive(v, max_length) for v in value]
        kinds = {type(v) for v in items}
        # OTel arrays must be homogeneous and hold no nulls; anything else is kept as JSON text.
        if None not in kinds and len(kinds) <= 1:
            return items
    return _cap(json.dumps(_jsonable(value), default=str, sort_keys=True, separators=(",", ":")), max_length)


def _primitive(value: Any, max_length: int) -> str | bool | int | float | None:
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, str):
        return _cap(value, max_length)
    if isinstance(value, Enum):
        return _primitive(value.value, max_length)
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _cap(text: str, max_length: int) -> str:
    return text if len(text) <= max_length else text[: max_length - 1] + "…"
