"""The approval flow: grants, the circuit breaker, and asking a human through the right channel.

Called by the policy step when a call's decision is ``prompt``. Three channels, chosen by the client:
2026-07-28 clients get an ``InputRequiredResult`` with a sealed ``request_state`` and retry; older
clients that can elicit get a pushed form; clients that cannot be asked wait in the pending queue
for ``mcp-gateway approvals approve ID`` from another terminal.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import structlog

from gateway.approvals.outcome import (
    APPROVAL_KEY,
    RESUME_KEY,
    ApprovalOutcome,
    AskContext,
    OutcomeOption,
    denial_message,
    how_to_approve,
)
from gateway.approvals.question import Question, build_question, build_resume_question, parse_decision
from gateway.approvals.question import preview_arguments as _preview
from gateway.approvals.sealing import Binding, SealedStateError, StateSealer, StateTamperedError, is_gateway_state
from gateway.approvals.settings import ApprovalSettings
from gateway.approvals.store import ApprovalStore, BreakerState, PendingApproval
from gateway.errors import CircuitOpenError
from gateway.intercept.call import ClientChannel, ToolCall

__all__ = ["Approver", "strip_gateway_inputs"]

log = structlog.get_logger(__name__)

_ANSWER_OPTION: dict[str, OutcomeOption] = {
    "allow_once": "once",
    "allow_session": "session",
    "allow_always": "always",
    "deny": "deny",
}


def strip_gateway_inputs(call: ToolCall) -> ToolCall:
    """The call without the gateway's own answers and state, ready to forward upstream."""
    responses = call.input_responses
    if responses is not None and (APPROVAL_KEY in responses or RESUME_KEY in responses):
        rest = {k: v for k, v in responses.items() if k not in (APPROVAL_KEY, RESUME_KEY)}
        responses = rest or None
    state = None if is_gateway_state(call.request_state) else call.request_state
    if responses is call.input_responses and state == call.request_state:
        return call
    return replace(call, input_responses=responses, request_state=state)


def _as_elicit_result(value: Any) -> types.ElicitResult | None:
    if isinstance(value, types.ElicitResult):
        return value
    if isinstance(value, dict):
        try:
            return types.ElicitResult.model_validate(value)
        except ValueError:
            return None
    return None


class Approver:
    """Decides ``prompt`` calls with a human; one per gateway, shared by every session."""

    def __init__(self, store: ApprovalStore, sealer: StateSealer, settings: ApprovalSettings | None = None) -> None:
        self.store = store
        self.sealer = sealer
        self.settings = settings or ApprovalSettings()
        self._mask = self.settings.mask_regex()
        # Sessions whose breaker is known closed with no denials: the hot path (allowed calls) skips the
        # database. Anything else is read from the store, so `approvals resume` from another process is seen.
        self._clean: dict[str, BreakerState] = {}  # session -> its (frozen) clean state

    @classmethod
    async def open(cls, state_dir: Path, settings: ApprovalSettings | None = None) -> Approver:
        """Open (creating if needed) ``<state_dir>/approvals.db`` and ``<state_dir>/request-state.key``."""
        settings = settings or ApprovalSettings()
        store = ApprovalStore.in_state_dir(state_dir)
        await store.initialize()
        sealer = await StateSealer.from_state_dir(state_dir, store, ttl=settings.state_ttl)
        return cls(store, sealer, settings)

    # -- public helpers ----------------------------------------------------------------------------

    def preview(self, call: ToolCall) -> dict[str, str]:
        """The call's arguments as shown to people: secrets masked, long values cut."""
        return _preview(call.arguments, mask=self._mask, limit=self.settings.arg_preview_length)

    async def record_result(self, session_id: str, approved: bool) -> BreakerState:
        """Count an approval or denial (policy denials too) towards the session's circuit breaker."""
        if approved and (clean := self._clean.get(session_id)) is not None:
            return clean
        self._clean.pop(session_id, None)
        state = await self.store.record_result(
            session_id, approved=approved, threshold=self.settings.circuit_breaker_threshold
        )
        self._note(state)
        return state

    async def breaker(self, session_id: str) -> BreakerState:
        """The session's breaker state (from memory when known clean)."""
        clean = self._clean.get(session_id)
        if clean is not None:
            return clean
        state = await self.store.breaker(session_id)
        self._note(state)
        return state

    def _note(self, state: BreakerState) -> None:
        if not state.open and state.consecutive == 0:
            self._clean[state.session_id] = state
        else:
            self._clean.pop(state.session_id, None)

    def known_clean(self, session_id: str) -> bool:
        """True when the session's breaker is known to be closed with no denial counted (the everyday call):
        ``check_circuit`` would pass and ``record_result(approved=True)`` would change nothing."""
        return session_id in self._clean

    async def check_circuit(self, session_id: str) -> None:
        """Raise ``CircuitOpenError`` if the session is paused."""
        state = await self.breaker(session_id)
        if state.open:
            raise self._circuit_error(state)

    async def resume(self, session_id: str) -> bool:
        self._clean.pop(session_id, None)
        return await self.store.resume(session_id)

    # -- the flow ----------------------------------------------------------------------------------

    async def request(self, call: ToolCall, ask: AskContext) -> ApprovalOutcome | types.InputRequiredResult:
        """Ask (or re-use an earlier answer) whether ``call`` may go ahead.

        Returns an ``ApprovalOutcome``, or an ``InputRequiredResult`` for a 2026-07-28 client to
        answer and retry. Raises ``CircuitOpenError`` when the session is paused and
        ``SealedStateError`` (an ``ApprovalDeniedError``) for a forged, replayed or mismatched retry.
        """
        binding = Binding.for_call(call, ask.policy_version)
        if await self.store.has_grant(
            session_id=call.session_id, upstream=call.upstream, tool=call.tool, args_digest=binding.args_digest
        ):
            return ApprovalOutcome(approved=True, option="grant", answered_by="session grant")

        client = call.client
        modern = client is not None and client.modern and client.can_elicit
        if modern and self._is_retry(call):
            retried = await self._modern_retry(call, ask, binding)
            if retried is not None:
                return await self._finish(call, ask, binding, retried)

        breaker = await self.breaker(call.session_id)
        if breaker.open:
            resumed = await self._offer_resume(call, binding, breaker)
            if isinstance(resumed, types.InputRequiredResult):
                return resumed

        if modern:
            return await self._modern_ask(call, ask, binding)
        if client is not None and client.can_elicit:
            outcome = await self._legacy_ask(call, client, ask)
        else:
            outcome = await self._queue_ask(call, ask, binding)
        return await self._finish(call, ask, binding, outcome)

    # -- circuit breaker -------------------------------------------------------------------------

    def _circuit_error(self, state: BreakerState) -> CircuitOpenError:
        return CircuitOpenError(
            f"{state.consecutive} calls in a row were denied in this session, so the gateway paused it. "
            f"Calls resume after the user runs `mcp-gateway approvals resume {state.session_id}`."
        )

    async def _offer_resume(
        self, call: ToolCall, binding: Binding, state: BreakerState
    ) -> types.InputRequiredResult | None:
        """Ask to resume if the client can be asked; returns None once resumed, raises if not."""
        client = call.client
        if client is None or not client.can_elicit:
            raise self._circuit_error(state)
        question = build_resume_question(session_id=call.session_id, denials=state.consecutive)
        if client.modern:
            token = self.sealer.seal({"kind": "resume", "asked_at": time.time()}, binding)
            return self._input_required(RESUME_KEY, question, token)
        try:
            with anyio.fail_after(self.settings.elicitation_timeout):
                result = await client.elicit_form(question.message, question.schema)
        except TimeoutError:
            raise self._circuit_error(state) from None
        except Exception as exc:  # noqa: BLE001 - no answer means the session stays paused
            log.warning("resume elicitation failed", error=type(exc).__name__, call_id=call.call_id)
            raise self._circuit_error(state) from None
        if result.action == "accept" and (result.content or {}).get("resume") is True:
            await self.resume(call.session_id)
            await self._emit(call, "circuit_resumed", {"answered_by": "user via elicitation"})
            return None
        raise self._circuit_error(state)

    # -- 2026-07-28: input-required round trip ------------------------------------------------------

    def _is_retry(self, call: ToolCall) -> bool:
        responses = call.input_responses or {}
        return APPROVAL_KEY in responses or RESUME_KEY in responses or is_gateway_state(call.request_state)

    @staticmethod
    def _input_required(key: str, question: Question, token: str) -> types.InputRequiredResult:
        params = types.ElicitRequestFormParams(message=question.message, requested_schema=question.schema)
        return types.InputRequiredResult(input_requests={key: types.ElicitRequest(params=params)}, request_state=token)

    async def _modern_ask(self, call: ToolCall, ask: AskContext, binding: Binding) -> types.InputRequiredResult:
        question = self._question(call, ask)
        token = self.sealer.seal({"kind": "approval", "asked_at": time.time()}, binding)
        await self._emit_requested(call, ask, channel="input-required")
        return self._input_required(APPROVAL_KEY, question, token)

    async def _modern_retry(self, call: ToolCall, ask: AskContext, binding: Binding) -> ApprovalOutcome | None:
        """Check the retry's sealed state; the outcome, or None after a resume (ask the call itself next)."""
        if call.request_state is None or not is_gateway_state(call.request_state):
            raise StateTamperedError(detail="answer without gateway state")
        payload = await self.sealer.unseal(call.request_state, binding, consume=True)
        responses = call.input_responses or {}
        kind = payload.get("kind")
        key = RESUME_KEY if kind == "resume" else APPROVAL_KEY
        answer = _as_elicit_result(responses.get(key))
        if kind == "resume":
            if answer is not None and answer.action == "accept" and (answer.content or {}).get("resume") is True:
                await self.resume(call.session_id)
                await self._emit(call, "circuit_resumed", {"answered_by": "user via elicitation"})
                return None
            raise self._circuit_error(await self.breaker(call.session_id))
        if kind != "approval":
            raise SealedStateError(detail="unknown state kind")
        waited = max(time.time() - float(payload.get("asked_at", time.time())), 0.0)
        return self._from_elicit(answer, ask, waited)

    # -- handshake era: pushed form ---------------------------------------------------------------

    async def _legacy_ask(self, call: ToolCall, client: ClientChannel, ask: AskContext) -> ApprovalOutcome:
        question = self._question(call, ask)
        await self._emit_requested(call, ask, channel="elicitation")
        started = time.monotonic()
        timeout = self.settings.elicitation_timeout
        try:
            with anyio.fail_after(timeout):
                result = await client.elicit_form(question.message, question.schema)
        except TimeoutError:
            waited = time.monotonic() - started
            message = denial_message("timeout", justification=ask.justification, reason=None, timeout=timeout)
            return ApprovalOutcome(
                approved=False, option="timeout", answered_by="nobody", wait_seconds=waited, message=message
            )
        except Exception as exc:  # noqa: BLE001 - a client that fails to answer has not approved
            log.warning("approval elicitation failed", error=type(exc).__name__, call_id=call.call_id)
            result = types.ElicitResult(action="cancel")
        return self._from_elicit(result, ask, time.monotonic() - started)

    def _from_elicit(self, result: types.ElicitResult | None, ask: AskContext, waited: float) -> ApprovalOutcome:
        by = "user via elicitation"
        if result is None or result.action != "accept":
            option: OutcomeOption = "cancel" if result is None or result.action == "cancel" else "decline"
            message = denial_message(option, justification=ask.justification, reason=None)
            return ApprovalOutcome(approved=False, option=option, answered_by=by, wait_seconds=waited, message=message)
        decision, whole_tool, reason = parse_decision(result.content)
        option = _ANSWER_OPTION[decision]
        if option == "always" and ask.always_rule is None:
            option = "session"
        if option == "deny":
            message = denial_message("deny", justification=ask.justification, reason=reason)
            return ApprovalOutcome(
                approved=False, option="deny", answered_by=by, wait_seconds=waited, reason=reason, message=message
            )
        return ApprovalOutcome(
            approved=True, option=option, answered_by=by, wait_seconds=waited, reason=reason, whole_tool=whole_tool
        )

    # -- no elicitation: the pending queue ---------------------------------------------------------

    async def _queue_ask(self, call: ToolCall, ask: AskContext, binding: Binding) -> ApprovalOutcome:
        late = await self.store.take_late_approval(
            session_id=call.session_id, upstream=call.upstream, tool=call.tool, args_digest=binding.args_digest
        )
        if late is not None:
            return self._from_pending(late, ask, 0.0)
        pending = await self.store.add_pending(
            session_id=call.session_id,
            identity=call.identity.name,
            upstream=call.upstream,
            tool=call.tool,
            exposed_name=call.exposed_name,
            args_digest=binding.args_digest,
            arguments_preview=self.preview(call),
            justification=ask.justification,
        )
        await self._emit_requested(call, ask, channel="queue", approval_id=pending.id)
        log.info(
            "approval waiting",
            approval_id=pending.id,
            tool=call.exposed_name,
            hint=f"run: mcp-gateway approvals approve {pending.id}",
        )
        started = time.monotonic()
        try:
            record = await self._wait_for_answer(pending.id)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.store.expire(pending.id)
            raise
        waited = time.monotonic() - started
        if record.status == "pending":
            record = await self.store.expire(pending.id)
        if record.status == "expired":
            message = how_to_approve(pending.id, self.settings.queue_wait)
            return ApprovalOutcome(
                approved=False,
                option="timeout",
                answered_by="nobody",
                wait_seconds=waited,
                message=message,
                approval_id=pending.id,
            )
        if record.status == "approved" and not await self.store.consume(record.id):
            record = record.model_copy(update={"status": "denied", "reason": "already used"})
        return self._from_pending(record, ask, waited)

    async def _wait_for_answer(self, approval_id: str) -> PendingApproval:
        """Poll the database (another process answers) until answered or ``queue_wait`` is up."""
        record: PendingApproval | None = None
        with anyio.move_on_after(self.settings.queue_wait):
            while True:
                record = await self.store.get_pending(approval_id)
                if record is None or record.status != "pending":
                    break
                await anyio.sleep(self.settings.poll_interval)
        if record is None:
            record = await self.store.expire(approval_id)
        return record

    def _from_pending(self, record: PendingApproval, ask: AskContext, waited: float) -> ApprovalOutcome:
        by = record.answered_by or "cli"
        if record.status != "approved":
            message = denial_message("deny", justification=ask.justification, reason=record.reason)
            return ApprovalOutcome(
                approved=False,
                option="deny",
                answered_by=by,
                wait_seconds=waited,
                reason=record.reason,
                message=message,
                approval_id=record.id,
            )
        option: OutcomeOption = record.option or "once"
        if option == "always" and ask.always_rule is None:
            option = "session"
        return ApprovalOutcome(
            approved=True,
            option=option,
            answered_by=by,
            wait_seconds=waited,
            reason=record.reason,
            approval_id=record.id,
            whole_tool=record.whole_tool,
        )

    # -- applying the answer -------------------------------------------------------------------------

    async def _finish(
        self, call: ToolCall, ask: AskContext, binding: Binding, outcome: ApprovalOutcome
    ) -> ApprovalOutcome:
        """Store the grant or rule the answer asks for, count it for the breaker, record the event."""
        option, rule_id, message = outcome.option, outcome.rule_id, outcome.message
        if outcome.approved and option == "session":
            digest = None if outcome.whole_tool else binding.args_digest
            await self.store.add_grant(
                session_id=call.session_id, upstream=call.upstream, tool=call.tool, args_digest=digest
            )
        elif outcome.approved and option == "always" and ask.always_rule is not None:
            try:
                rule_id = await ask.always_rule()
            except Exception as exc:  # noqa: BLE001 - the user approved this call; only the rule failed
                log.error("could not write the always-allow rule", error=str(exc), call_id=call.call_id)
                option = "once"
        state = await self.record_result(call.session_id, outcome.approved)
        if not outcome.approved and state.open:
            message = f"{message} {self._circuit_error(state).public_message}".strip()
        outcome = replace(outcome, option=option, rule_id=rule_id, message=message)
        await self._emit(
            call,
            "approval_answered",
            {
                "approved": outcome.approved,
                "option": outcome.option,
                "answered_by": outcome.answered_by,
                "wait_seconds": round(outcome.wait_seconds, 3),
                # the audit catalogue's names (gateway.audit.events) for the same facts
                "by": outcome.answered_by,
                "wait_ms": round(outcome.wait_seconds * 1000),
                "reason": outcome.reason,
                "approval_id": outcome.approval_id,
                "rule_id": outcome.rule_id,
                "whole_tool": outcome.whole_tool,
            },
        )
        return outcome

    def _question(self, call: ToolCall, ask: AskContext) -> Question:
        return build_question(
            exposed_name=call.exposed_name,
            upstream=call.upstream,
            preview=self.preview(call),
            justification=ask.justification,
            offer_always=ask.always_rule is not None,
        )

    async def _emit_requested(
        self, call: ToolCall, ask: AskContext, *, channel: str, approval_id: str | None = None
    ) -> None:
        await self._emit(
            call,
            "approval_requested",
            {
                "channel": channel,
                "approval_id": approval_id,
                "rule_ids": list(ask.rule_ids),
                "policy_version": ask.policy_version,
                "source": ask.source,
                "argument_names": sorted(str(k) for k in call.arguments),
            },
        )

    async def _emit(self, call: ToolCall, event: str, fields: dict[str, Any]) -> None:
        base = {
            "call_id": call.call_id,
            "session_id": call.session_id,
            "identity": call.identity.name,
            "upstream": call.upstream,
            "tool": call.exposed_name,
            "upstream_tool": call.tool,
        }
        await call.events.emit(event, {**base, **fields})
