"""The question put to a human: a message and a flat form schema MCP clients can render."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "DECISION_TITLES",
    "MASK",
    "Decision",
    "Question",
    "build_question",
    "build_resume_question",
    "parse_decision",
    "preview_arguments",
]

Decision = Literal["allow_once", "allow_session", "allow_always", "deny"]

DECISION_TITLES: Final[dict[Decision, str]] = {
    "allow_once": "Allow once",
    "allow_session": "Allow for this session",
    "allow_always": "Always allow",
    "deny": "Deny",
}
MASK: Final = "***"
ELLIPSIS: Final = "…"


@dataclass(frozen=True, slots=True)
class Question:
    """What ``elicitation/create`` carries: ``message`` and ``requested_schema``."""

    message: str
    schema: dict[str, Any]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def preview_arguments(arguments: Mapping[str, Any] | None, *, mask: re.Pattern[str], limit: int) -> dict[str, str]:
    """Each argument as display text: secret-looking names masked, long values cut with "…".

    Nested mappings are masked by their own keys too, so ``{"headers": {"Authorization": ...}}``
    never shows the credential.
    """
    out: dict[str, str] = {}
    for name, value in (arguments or {}).items():
        if mask.search(str(name)):
            out[str(name)] = MASK
        else:
            out[str(name)] = _cut(_render(_mask_nested(value, mask)), limit)
    return out


def _mask_nested(value: Any, mask: re.Pattern[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: (MASK if mask.search(str(k)) else _mask_nested(v, mask)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_nested(v, mask) for v in value]
    return value


def _decision_schema(options: Sequence[Decision]) -> dict[str, Any]:
    # `enum` for clients that only know plain enums, `oneOf` const/title for titled single-select (2025-11-25).
    return {
        "type": "string",
        "title": "Decision",
        "enum": list(options),
        "oneOf": [{"const": o, "title": DECISION_TITLES[o]} for o in options],
        "default": "deny",
    }


def build_question(
    *,
    exposed_name: str,
    upstream: str,
    preview: Mapping[str, str],
    justification: str,
    offer_always: bool = True,
    note: str | None = None,
) -> Question:
    """The approval question for one call; ``preview`` comes from ``preview_arguments``."""
    lines = [f"Allow the tool call {exposed_name} (upstream: {upstream})?"]
    if justification:
        lines.append(f"Why you are asked: {justification}")
    if preview:
        lines.append("Arguments:")
        lines.extend(f"  {k}: {v}" for k, v in preview.items())
    else:
        lines.append("Arguments: (none)")
    if note:
        lines.append(note)
    options: list[Decision] = ["allow_once", "allow_session"]
    if offer_always:
        options.append("allow_always")
    options.append("deny")
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "decision": _decision_schema(options),
            "whole_tool": {
                "type": "boolean",
                "title": "For this session, allow every call of this tool (any arguments)",
                "default": False,
            },
            "reason": {"type": "string", "title": "Reason (shown to the model)", "maxLength": 500},
        },
        "required": ["decision"],
    }
    return Question(message="\n".join(lines), schema=schema)


def build_resume_question(*, session_id: str, denials: int) -> Question:
    """Offered when the circuit breaker is open and the client can be asked."""
    message = (
        f"{denials} calls in a row were denied in this session, so the gateway paused it "
        f"(session {session_id}). Resume and be asked about the next call?"
    )
    schema = {
        "type": "object",
        "properties": {"resume": {"type": "boolean", "title": "Resume this session", "default": False}},
        "required": ["resume"],
    }
    return Question(message=message, schema=schema)


def parse_decision(content: Mapping[str, Any] | None) -> tuple[Decision, bool, str | None]:
    """``(decision, whole_tool, reason)`` from an accepted form; anything unexpected is ``deny``."""
    data = content or {}
    raw = data.get("decision")
    decision: Decision = raw if raw in DECISION_TITLES else "deny"
    whole_tool = data.get("whole_tool") is True
    reason = data.get("reason")
    return decision, whole_tool, (reason.strip()[:500] or None) if isinstance(reason, str) else None
