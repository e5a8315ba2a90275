"""One ``tools/call`` round to an upstream: its params in wire form, sent raw on a stdio pipe (the hot path) or
through the SDK session, and the answer typed the way the SDK would type it."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.client.session import _CallToolResultAdapter as _PLAIN_CALL_TOOL_ADAPTER
from mcp.shared.dispatcher import CallOptions, ProgressFnT

from gateway.rawrpc import RawRequests

__all__ = ["call_params", "send_round"]


def call_params(
    name: str,
    arguments: Mapping[str, Any] | None,
    meta: Mapping[str, Any] | None,
    responses: dict[str, Any] | None,
    state: str | None,
) -> dict[str, Any]:
    """``tools/call`` params in wire form. The common first round is built directly; a retry carrying answers
    (which may be SDK models) goes through the params model to get their JSON form."""
    if responses is None and state is None:
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = dict(arguments)
        if meta:
            params["_meta"] = dict(meta)
        return params
    model = types.CallToolRequestParams(
        name=name,
        arguments=dict(arguments) if arguments is not None else None,
        input_responses=responses,
        request_state=state,
        _meta=dict(meta) if meta else None,  # type: ignore[arg-type]
    )
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def send_round(client: Client, raw: RawRequests | None, params: dict[str, Any], on_progress: ProgressFnT) -> Any:
    """Send one round and return what the SDK's result adapter makes of the answer (the caller checks its type).

    With ``raw`` (a stdio upstream) the request is one line beside the SDK session, stamped with the era's
    per-request envelope exactly as the SDK would stamp it; otherwise the SDK session sends it.
    """
    session = client.session
    adapter = session._call_tool_adapter
    if raw is None:
        request = types.CallToolRequest(params=types.CallToolRequestParams.model_validate(params, by_name=False))
        return await session.send_request(request, adapter, progress_callback=on_progress)
    result = await raw.request("tools/call", _stamped(session._stamp, params), on_progress=on_progress)
    if adapter is _PLAIN_CALL_TOOL_ADAPTER and result.get("resultType", "complete") == "complete":
        # What the SDK's union would pick for a complete result, without trying both arms.
        return types.CallToolResult.model_validate(result, by_name=False)
    return adapter.validate_python(result, by_name=False)


_Stamp = Callable[[dict[str, Any], CallOptions], None]
_envelopes: weakref.WeakKeyDictionary[_Stamp, tuple[dict[str, Any], dict[str, Any]]] = weakref.WeakKeyDictionary()
_PROBE = object()


def _stamped(stamp: _Stamp, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the session's per-request ``_meta`` envelope, as the SDK's stamp (``session._stamp``) sets it.

    The stamp also computes HTTP headers, which a pipe has no use for; its ``_meta`` part is fixed per session, so
    it is learnt once (two probes: keys it overwrites, and keys it only fills in when the caller left them out).
    """
    envelope = _envelopes.get(stamp)
    if envelope is None:
        probe: dict[str, Any] = {"method": "tools/call", "params": {"name": ""}}
        stamp(probe, {})
        keys = probe["params"].get("_meta", {})
        again: dict[str, Any] = {"method": "tools/call", "params": {"name": "", "_meta": dict.fromkeys(keys, _PROBE)}}
        stamp(again, {})
        stamped = again["params"]["_meta"]
        fixed = {k: v for k, v in stamped.items() if v is not _PROBE}
        defaults = {k: keys[k] for k, v in stamped.items() if v is _PROBE}
        envelope = _envelopes[stamp] = (fixed, defaults)
    fixed, defaults = envelope
    if not fixed and not defaults:
        return params
    return {**params, "_meta": {**defaults, **(params.get("_meta") or {}), **fixed}}
