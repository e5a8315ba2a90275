"""The raw path's per-request envelope is exactly what the SDK's stamp would put in ``_meta``."""

from __future__ import annotations

import copy
from typing import Any

import mcp_types as types
import pytest
from mcp.client.session import _make_handshake_stamp, _make_modern_stamp

from gateway.upstreams.tool_call import _stamped


def _modern(log_level: Any = None) -> Any:
    return _make_modern_stamp(
        "2026-07-28",
        {"name": "gw", "version": "1"},
        {"elicitation": {}},
        lambda name, arguments: {},
        log_level=log_level,
    )


@pytest.mark.parametrize(
    "stamp",
    [_make_handshake_stamp("2025-11-25"), _modern(), _modern("warning")],
    ids=["handshake", "modern", "modern-log-level"],
)
@pytest.mark.parametrize(
    "params",
    [
        {"name": "echo", "arguments": {"text": "x"}},
        {"name": "echo", "arguments": {}, "_meta": {"traceparent": "00-x"}},
        # A caller's own log level wins over the session default; its protocol version does not.
        {"name": "echo", "_meta": {types.LOG_LEVEL_META_KEY: "debug", types.PROTOCOL_VERSION_META_KEY: "1999"}},
    ],
)
def test_envelope_matches_the_sdk_stamp(stamp: Any, params: dict[str, Any]) -> None:
    expected = {"method": "tools/call", "params": copy.deepcopy(params)}
    stamp(expected, {})
    before = copy.deepcopy(params)
    for _ in range(2):  # learnt on the first call, reused on the second
        assert _stamped(stamp, params) == expected["params"]
    assert params == before  # the caller's params are not changed
