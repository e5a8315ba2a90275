"""Approver with 2026-07-28 clients: InputRequiredResult, sealed request_state, retry, replay."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import mcp_types as types
import pytest

from gateway.approvals import (
    APPROVAL_KEY,
    RESUME_KEY,
    ApprovalOutcome,
    Approver,
    AskContext,
    SealedStateError,
    StateBindingError,
    StateReplayedError,
    StateTamperedError,
    strip_gateway_inputs,
)
from gateway.errors import ApprovalDeniedError, CircuitOpenError
from gateway.intercept import ToolCall

from .fakes import FakeClient, RecordingSink, make_call

pytestmark = pytest.mark.anyio

ASK = AskContext(justification="Deletes need a human.", rule_ids=("del",), policy_version="v7")


def _modern(**kw: Any) -> ToolCall:
    return make_call(FakeClient(modern=True), **kw)


def _retry(call: ToolCall, first: types.InputRequiredResult, key: str, content: dict[str, Any] | None) -> ToolCall:
    if content is None:
        answer = types.ElicitResult(action="decline")
    else:
        answer = types.ElicitResult(action="accept", content=content)
    return replace(call, input_responses={key: answer}, request_state=first.request_state)


async def _first_round(approver: Approver, call: ToolCall, ask: AskContext = ASK) -> types.InputRequiredResult:
    result = await approver.request(call, ask)
    assert isinstance(result, types.InputRequiredResult)
    return result


async def test_two_rounds_allow_once(approver: Approver) -> None:
    sink = RecordingSink()
    call = _modern(sink=sink, arguments={"path": "/x", "password": "pw-123"})
    first = await _first_round(approver, call)
    request = first.input_requests[APPROVAL_KEY]  # type: ignore[index]
    assert isinstance(request, types.ElicitRequest)
    assert isinstance(request.params, types.ElicitRequestFormParams)
    assert "password: ***" in request.params.message and "pw-123" not in request.params.message
    assert request.params.requested_schema["properties"]["decision"]["type"] == "string"
    assert first.request_state is not None and first.request_state.startswith("mgw1.")
    assert sink.named("approval_requested")[0]["channel"] == "input-required"
    # the wire form round-trips (what a real client would send back)
    types.InputRequiredResult.model_validate(first.model_dump(by_alias=True, mode="json"))

    outcome = await approver.request(_retry(call, first, APPROVAL_KEY, {"decision": "allow_once"}), ASK)
    assert isinstance(outcome, ApprovalOutcome)
    assert outcome.approved and outcome.option == "once" and outcome.answered_by == "user via elicitation"
    assert sink.named("approval_answered")[0]["option"] == "once"


async def test_answer_as_plain_dict_is_accepted(approver: Approver) -> None:
    call = _modern()
    first = await _first_round(approver, call)
    retry = replace(
        call,
        input_responses={APPROVAL_KEY: {"action": "accept", "content": {"decision": "allow_session"}}},
        request_state=first.request_state,
    )
    outcome = await approver.request(retry, ASK)
    assert isinstance(outcome, ApprovalOutcome) and outcome.option == "session"
    # the identical call is now granted for this session without a question
    granted = await approver.request(_modern(), ASK)
    assert isinstance(granted, ApprovalOutcome) and granted.option == "grant"


async def test_decline_denies(approver: Approver) -> None:
    call = _modern()
    first = await _first_round(approver, call)
    outcome = await approver.request(_retry(call, first, APPROVAL_KEY, None), ASK)
    assert isinstance(outcome, ApprovalOutcome) and not outcome.approved and outcome.option == "decline"
    assert "Deletes need a human." in outcome.error().public_message


async def test_replay_is_rejected(approver: Approver) -> None:
    call = _modern()
    first = await _first_round(approver, call)
    retry = _retry(call, first, APPROVAL_KEY, {"decision": "allow_once"})
    assert isinstance(await approver.request(retry, ASK), ApprovalOutcome)
    with pytest.raises(StateReplayedError) as info:
        await approver.request(retry, ASK)
    assert isinstance(info.value, ApprovalDeniedError)


async def test_state_for_other_arguments_is_rejected(approver: Approver) -> None:
    call = _modern(arguments={"path": "/harmless"})
    first = await _first_round(approver, call)
    swapped = _retry(call, first, APPROVAL_KEY, {"decision": "allow_once"})
    swapped = replace(swapped, arguments={"path": "/etc/passwd"})
    with pytest.raises(StateBindingError):
        await approver.request(swapped, ASK)


async def test_policy_change_invalidates_the_state(approver: Approver) -> None:
    call = _modern()
    first = await _first_round(approver, call)
    with pytest.raises(StateBindingError):
        await approver.request(
            _retry(call, first, APPROVAL_KEY, {"decision": "allow_once"}), replace(ASK, policy_version="v8")
        )


async def test_forged_or_missing_state_is_rejected(approver: Approver) -> None:
    call = _modern()
    first = await _first_round(approver, call)
    assert first.request_state is not None
    answer = {APPROVAL_KEY: types.ElicitResult(action="accept", content={"decision": "allow_once"})}
    with pytest.raises(StateTamperedError):
        await approver.request(replace(call, input_responses=answer, request_state=None), ASK)
    with pytest.raises(StateTamperedError):
        await approver.request(
            replace(call, input_responses=answer, request_state=first.request_state[:-3] + "AAA"), ASK
        )
    with pytest.raises(SealedStateError):
        await approver.request(replace(call, input_responses=answer, request_state="upstream-state"), ASK)


async def test_modern_resume_round(approver: Approver) -> None:
    for _ in range(3):
        await approver.record_result("sess-1", False)
    call = _modern()
    resume_q = await _first_round(approver, call)
    assert resume_q.input_requests is not None and RESUME_KEY in resume_q.input_requests
    with pytest.raises(CircuitOpenError):
        await approver.request(_retry(call, resume_q, RESUME_KEY, {"resume": False}), ASK)
    resume_q = await _first_round(approver, call)
    asked = await _first_round(approver, _retry(call, resume_q, RESUME_KEY, {"resume": True}))
    assert asked.input_requests is not None and APPROVAL_KEY in asked.input_requests
    outcome = await approver.request(_retry(call, asked, APPROVAL_KEY, {"decision": "allow_once"}), ASK)
    assert isinstance(outcome, ApprovalOutcome) and outcome.approved


def test_strip_gateway_inputs_keeps_upstream_parts() -> None:
    call = make_call(
        FakeClient(modern=True),
        input_responses={APPROVAL_KEY: {"action": "accept"}, "upstream-q": {"action": "accept"}},
        request_state="mgw1.abc.def",
    )
    stripped = strip_gateway_inputs(call)
    assert stripped.input_responses == {"upstream-q": {"action": "accept"}} and stripped.request_state is None
    only_ours = strip_gateway_inputs(replace(call, input_responses={APPROVAL_KEY: {}}))
    assert only_ours.input_responses is None
    theirs = replace(call, input_responses=None, request_state="upstream-state")
    assert strip_gateway_inputs(theirs) is theirs
