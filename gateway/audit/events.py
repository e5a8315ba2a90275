"""The audit event catalogue: event names, the fields each carries, and helpers to fill the common ones.

Every call-related record carries ``call_id``, ``session_id``, ``identity``, ``upstream`` and ``tool``
(use ``call_fields(call)``). Arguments and results are already redacted by the caller and passed
through ``apply_privacy`` (level from ``AuditSettings.privacy_for(upstream)``). Durable events
(written and fsynced before ``emit`` returns) are marked below; the gateway must not forward a call
until its ``tool_decision`` was emitted durably.

The OpenTelemetry log bridge uses the same names prefixed with ``mcp_gateway.``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.intercept.call import ToolCall

__all__ = [
    "APPROVAL_ANSWERED",
    "APPROVAL_REQUESTED",
    "AUDIT_CLOSED",
    "CALL_FIELDS",
    "CALL_FORWARDED",
    "CALL_RECEIVED",
    "CATALOGUE",
    "CONFIG_RELOADED",
    "CREDENTIALS_USED",
    "DURABLE_EVENTS",
    "SESSION_START",
    "TOOLS_LISTED",
    "TOOL_DECISION",
    "TOOL_RESULT",
    "UPSTREAM_CRASHED",
    "UPSTREAM_RESTARTED",
    "UPSTREAM_STARTED",
    "call_fields",
]

SESSION_START: Final = "session_start"
TOOLS_LISTED: Final = "tools_listed"
CALL_RECEIVED: Final = "call_received"
TOOL_DECISION: Final = "tool_decision"
APPROVAL_REQUESTED: Final = "approval_requested"
APPROVAL_ANSWERED: Final = "approval_answered"
CREDENTIALS_USED: Final = "credentials_used"
CALL_FORWARDED: Final = "call_forwarded"
TOOL_RESULT: Final = "tool_result"
UPSTREAM_STARTED: Final = "upstream_started"
UPSTREAM_CRASHED: Final = "upstream_crashed"
UPSTREAM_RESTARTED: Final = "upstream_restarted"
CONFIG_RELOADED: Final = "config_reloaded"
AUDIT_CLOSED: Final = "audit_closed"

CALL_FIELDS: Final = ("call_id", "session_id", "identity", "upstream", "tool")
"""Fields on every call-related record."""

CATALOGUE: Final[Mapping[str, Mapping[str, str]]] = {
    SESSION_START: {
        "session_id": "gateway session id",
        "identity": "who is calling (Identity.name)",
        "identity_kind": "os-user | token | anonymous",
        "client_name": "clientInfo.name",
        "client_version": "clientInfo.version",
        "protocol_version": "negotiated MCP protocol version",
        "protocol_era": "handshake (<= 2025-11-25) | modern (2026-07-28)",
        "transport": "stdio | http",
        "policy_version": "effective policy version (digest or id)",
    },
    TOOLS_LISTED: {"session_id": "", "identity": "", "count": "tools exposed", "hidden": "tools hidden by policy"},
    CALL_RECEIVED: {
        "exposed_name": "name the client called",
        "request_id": "JSON-RPC id",
        "arguments": "redacted, privacy-capped arguments (apply_privacy)",
        "arguments_size": "size of the full arguments in JSON characters",
    },
    TOOL_DECISION: {
        "decision": "allow | deny | prompt | ... (the final decision)",
        "source": "rule | annotations | mode | user | queue",
        "rules": "every matched rule id, in evaluation order",
        "justification": "why (rule reason or reviewer text)",
        "policy_version": "policy version that decided",
    },
    APPROVAL_REQUESTED: {"approval_id": "", "channel": "elicitation | input-required | queue", "message": ""},
    APPROVAL_ANSWERED: {
        "approval_id": "",
        "option": "accept | accept-session | decline | cancel | timeout ...",
        "by": "who answered (identity or 'queue:<user>')",
        "wait_ms": "time from request to answer",
    },
    CREDENTIALS_USED: {"credentials": "list of credential names (never values)"},
    CALL_FORWARDED: {"upstream_request_id": "id used towards the upstream"},
    TOOL_RESULT: {
        "duration_ms": "time from forward to result",
        "is_error": "the result's isError, or true for a gateway/upstream failure",
        "size": "result size in JSON characters",
        "result": "redacted, privacy-capped preview (apply_privacy)",
        "error": "client-safe error message when the call failed",
    },
    UPSTREAM_STARTED: {"upstream": "", "transport": "stdio | http", "pid": "process id (stdio)"},
    UPSTREAM_CRASHED: {"upstream": "", "exit_code": "", "reason": ""},
    UPSTREAM_RESTARTED: {"upstream": "", "attempt": "restart count"},
    CONFIG_RELOADED: {"path": "config file", "policy_version": "", "changes": "summary"},
    AUDIT_CLOSED: {},
}
"""Event name -> {field: meaning}. Call events also carry CALL_FIELDS."""

DURABLE_EVENTS: Final = frozenset({TOOL_DECISION, APPROVAL_ANSWERED, CALL_FORWARDED, AUDIT_CLOSED})
"""Events emitted with ``durable=True`` (before the gateway acts on them)."""


def call_fields(call: ToolCall, **extra: Any) -> dict[str, Any]:
    """The common fields of a call record, plus ``extra``."""
    return {
        "call_id": call.call_id,
        "session_id": call.session_id,
        "identity": call.identity.name,
        "upstream": call.upstream,
        "tool": call.tool,
        **extra,
    }
