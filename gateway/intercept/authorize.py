"""``Authorize``: policy decides; ``prompt`` asks a human; the final decision is durable before forwarding."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import mcp_types as types

from gateway.approvals.approver import Approver, strip_gateway_inputs
from gateway.approvals.outcome import ApprovalOutcome, AskContext
from gateway.errors import CircuitOpenError, PolicyDeniedError
from gateway.intercept.call import ToolCall
from gateway.intercept.chain import CallNext, CallResult
from gateway.policy.engine import Decision, PolicyRequest, PolicySet
from gateway.telemetry import Telemetry

__all__ = ["Authorize", "PolicyHolder"]

_MAX_KNOWN_DECISIONS = 1024


class PolicyHolder:
    """The current policies, swapped atomically when files change.

    ``always`` holds the user's "always allow" answers. They are grants, not rules: they turn a ``prompt`` into
    ``allow`` for exactly the recorded call, and never override a ``deny`` (so an admin's deny always wins).
    """

    def __init__(self, policy: PolicySet, always: PolicySet | None = None) -> None:
        self.current = policy
        self.always = always


class Authorize:
    """Evaluate policy for a call; refuse, ask, or pass it on. Every decision is reported with its reasons."""

    def __init__(
        self,
        policy: PolicyHolder,
        approver: Approver,
        always_rule: Callable[[ToolCall, Decision], Awaitable[str]] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.policy = policy
        self.approver = approver
        self._always_rule = always_rule
        self.telemetry = telemetry or Telemetry.disabled()
        self._fields: dict[int, tuple[Decision, dict[str, Any]]] = {}

    async def __call__(self, call: ToolCall, call_next: CallNext) -> CallResult:
        request = PolicyRequest.from_call(call)
        if self.telemetry.enabled:
            with self.telemetry.child_span("policy", {"mcp_gateway.upstream": call.upstream}) as span:
                decision = self.policy.current.evaluate(request)
                span.set_attribute("mcp_gateway.decision", decision.decision)
        else:
            decision = self.policy.current.evaluate(request)
        if decision.decision == "prompt" and self.policy.always is not None:
            granted = self.policy.always.evaluate(request)
            if granted.source == "rule" and granted.decision == "allow":
                decision = replace(
                    decision,
                    decision="allow",
                    source="rule",
                    justification=f"always allowed by the user (rule {granted.rule_id}); {decision.justification}",
                    matched=decision.matched + granted.matched,
                )
        base = call_fields(call) | self._decision_fields(decision)
        if decision.decision == "deny":
            await call.events.emit("tool_decision", base | {"final": True, "forwarded": False}, durable=True)
            await self.approver.record_result(call.session_id, approved=False)
            raise PolicyDeniedError(_denied_message(call, decision), rule_id=decision.rule_id)

        if decision.decision == "prompt":
            await call.events.emit("tool_decision", base | {"final": False})
            self.telemetry.record_approval("requested", upstream=call.upstream, tool=call.tool)
            with self.telemetry.child_span("approval wait", {"mcp_gateway.upstream": call.upstream}):
                outcome = await self._ask(call, decision)
            if isinstance(outcome, types.InputRequiredResult):
                return outcome
            self.telemetry.record_approval(
                "answered", outcome.option, upstream=call.upstream, tool=call.tool, wait_s=outcome.wait_seconds
            )
            final = base | {
                "decision": "allow" if outcome.approved else "deny",
                "source": "queue" if outcome.approval_id else "user",
                "approval_option": outcome.option,
                "approved_by": outcome.answered_by,
                "approval_wait_seconds": round(outcome.wait_seconds, 3),
                "approval_id": outcome.approval_id,
                "always_rule_id": outcome.rule_id,
                "final": True,
                "forwarded": outcome.approved,
            }
            await call.events.emit("tool_decision", final, durable=True)
            if not outcome.approved:
                raise outcome.error()
            call = strip_gateway_inputs(call)
        else:
            known_clean = self.approver.known_clean(call.session_id)
            if not known_clean:
                try:
                    await self.approver.check_circuit(call.session_id)
                except CircuitOpenError:
                    await call.events.emit(
                        "tool_decision", base | {"decision": "deny", "source": "circuit", "final": True}, durable=True
                    )
                    raise
            await call.events.emit("tool_decision", base | {"final": True, "forwarded": True}, durable=True)
            if known_clean:  # nothing for the breaker to count (Approver.known_clean)
                return await call_next(call)
        await self.approver.record_result(call.session_id, approved=True)
        return await call_next(call)

    def _decision_fields(self, decision: Decision) -> dict[str, Any]:
        """What ``decision`` puts in its audit record. Made once per decision object: the policy set hands out the
        same object for every everyday call of a tool (the record is rendered, never changed)."""
        known = self._fields.get(id(decision))
        if known is not None and known[0] is decision:
            return known[1]
        fields = {
            "decision": decision.decision,
            "source": decision.source,
            "justification": decision.justification,
            "matched_rules": [m.to_dict() for m in decision.matched],
            "rules": [m.id for m in decision.matched],  # the audit catalogue's field (timeline, queries)
            "rule_id": decision.rule_id,
            "mode": decision.mode,
            "fallback": decision.fallback,
            "policy_version": decision.policy_version,
        }
        if len(self._fields) >= _MAX_KNOWN_DECISIONS:
            self._fields.clear()
        self._fields[id(decision)] = (decision, fields)  # holding the decision keeps its id from being reused
        return fields

    async def _ask(self, call: ToolCall, decision: Decision) -> ApprovalOutcome | types.InputRequiredResult:
        always: Callable[[], Awaitable[str]] | None = None
        if self._always_rule is not None:
            writer = self._always_rule

            async def always() -> str:
                return await writer(call, decision)

        ask = AskContext(
            justification=decision.justification,
            rule_ids=tuple(m.id for m in decision.matched),
            policy_version=decision.policy_version,
            source=decision.source,
            always_rule=always,
        )
        return await self.approver.request(call, ask)


def _denied_message(call: ToolCall, decision: Decision) -> str:
    why = decision.justification or "no reason given"
    rule = f" (rule {decision.rule_id})" if decision.rule_id else ""
    return f"Denied by policy{rule}: {why}. The call to {call.exposed_name} was not made."


def call_fields(call: ToolCall) -> dict[str, Any]:
    """The fields every call-related audit record carries."""
    return {
        "call_id": call.call_id,
        "session_id": call.session_id,
        "identity": call.identity.name,
        "groups": list(call.identity.groups),
        "upstream": call.upstream,
        "tool": call.tool,
        "exposed_name": call.exposed_name,
    }
