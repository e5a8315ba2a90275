"""What the policy step hands the approver (``AskContext``) and what it gets back (``ApprovalOutcome``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from gateway.errors import ApprovalDeniedError

__all__ = [
    "APPROVAL_KEY",
    "RESUME_KEY",
    "ApprovalOutcome",
    "AskContext",
    "OutcomeOption",
    "denial_message",
    "how_to_approve",
]

APPROVAL_KEY = "mcp-gateway/approval"
"""The gateway's key in ``input_requests`` / ``input_responses`` (2026-07-28)."""
RESUME_KEY = "mcp-gateway/resume"
"""The key of the "resume this paused session?" question."""

OutcomeOption = Literal["once", "session", "always", "deny", "decline", "cancel", "timeout", "grant"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AskContext:
    """Why the policy wants a human to decide, and how to make "always allow" stick.

    ``always_rule`` writes an allow rule for this call to the user's policy file and returns its id.
    """

    justification: str = ""
    rule_ids: tuple[str, ...] = ()
    policy_version: str = ""
    source: str = ""
    always_rule: Callable[[], Awaitable[str]] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalOutcome:
    """The human's answer (or its absence). ``message`` is safe to show the client.

    ``whole_tool``: a session grant covers every call of the tool, not just these arguments.
    ``rule_id``: the rule written for "always allow". ``approval_id``: the queued approval, if any.
    """

    approved: bool
    option: OutcomeOption
    answered_by: str
    wait_seconds: float = 0.0
    reason: str | None = None
    message: str = ""
    whole_tool: bool = False
    approval_id: str | None = None
    rule_id: str | None = None

    def error(self) -> ApprovalDeniedError:
        """The refusal to raise when the call was not approved."""
        return ApprovalDeniedError(self.message or None)


def how_to_approve(approval_id: str, waited: float) -> str:
    """The message after a queued approval expired: exactly what to run, then retry."""
    return (
        f"No one approved this call within {waited:.0f} s (approval {approval_id}). To approve it, run "
        f"`mcp-gateway approvals approve {approval_id}` in another terminal (add --session to allow it for the rest "
        "of this session), then call the tool again."
    )


def denial_message(option: OutcomeOption, *, justification: str, reason: str | None, timeout: float = 0.0) -> str:
    """A refusal the model can act on: what happened, the policy's why, and the user's reason."""
    head = {
        "deny": "The user denied this call.",
        "decline": "The user declined this call.",
        "cancel": "The user dismissed the approval question; the call was not made.",
        "timeout": f"No answer to the approval question within {timeout:.0f} s; the call was not made.",
    }.get(option, "The call was not approved.")
    parts = [head]
    if justification:
        parts.append(f"Policy: {justification}")
    if reason:
        parts.append(f"User's reason: {reason}")
    return " ".join(parts)
