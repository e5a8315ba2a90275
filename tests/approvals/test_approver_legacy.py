"""Approver with handshake-era clients: pushed form elicitation, grants, always-rules, breaker."""

from __future__ import annotations

from pathlib import Path

import mcp_types as types
import pytest

from gateway.approvals import ApprovalOutcome, ApprovalSettings, Approver, AskContext
from gateway.errors import CircuitOpenError

from .fakes import HANG, FakeClient, RecordingSink, accept, make_call

pytestmark = pytest.mark.anyio

ASK = AskContext(justification="Writing files needs a human.", rule_ids=("fs-write",), policy_version="v1")


async def _ask(approver: Approver, call_client: FakeClient, ask: AskContext = ASK, **kw: object) -> ApprovalOutcome:
    result = await approver.request(make_call(call_client, **kw), ask)  # type: ignore[arg-type]
    assert isinstance(result, ApprovalOutcome)
    return result


async def test_allow_once_asks_with_masked_preview_and_emits_events(approver: Approver) -> None:
    client = FakeClient(answers=[accept("allow_once")])
    sink = RecordingSink()
    outcome = await _ask(approver, client, sink=sink, arguments={"path": "/tmp/x", "api_key": "sk-live-123"})
    assert outcome.approved and outcome.option == "once" and outcome.answered_by == "user via elicitation"
    message, schema = client.asked[0]
    assert "sk-live-123" not in message and "api_key: ***" in message and "Writing files needs a human." in message
    assert "allow_always" not in schema["properties"]["decision"]["enum"]  # no always_rule callback given
    requested = sink.named("approval_requested")[0]
    assert requested["channel"] == "elicitation" and requested["rule_ids"] == ["fs-write"]
    assert requested["argument_names"] == ["api_key", "path"]
    assert "sk-live-123" not in repr(sink.events)
    answered = sink.named("approval_answered")[0]
    assert answered["option"] == "once" and answered["approved"] is True and answered["wait_seconds"] >= 0
    # allow once: the next identical call is asked again
    client.answers.append(accept("deny", reason="not now"))
    again = await _ask(approver, client, arguments={"path": "/tmp/x", "api_key": "sk-live-123"})
    assert not again.approved and again.option == "deny" and len(client.asked) == 2
    assert "User's reason: not now" in again.message and "Writing files needs a human." in again.message


@pytest.mark.parametrize(("action", "option"), [("decline", "decline"), ("cancel", "cancel")])
async def test_decline_and_cancel_deny_with_justification(approver: Approver, action: str, option: str) -> None:
    outcome = await _ask(approver, FakeClient(answers=[types.ElicitResult(action=action)]))  # type: ignore[arg-type]
    assert not outcome.approved and outcome.option == option
    assert "Writing files needs a human." in outcome.error().public_message


async def test_timeout_denies(tmp_path: object, settings: ApprovalSettings) -> None:

    approver = await Approver.open(
        Path(str(tmp_path)) / "st", settings.model_copy(update={"elicitation_timeout": 0.05})
    )
    outcome = await _ask(approver, FakeClient(answers=[HANG]))
    assert not outcome.approved and outcome.option == "timeout" and outcome.answered_by == "nobody"
    assert outcome.message.startswith("No answer to the approval question") and "Writing files" in outcome.message


async def test_client_error_counts_as_cancel(approver: Approver) -> None:
    outcome = await _ask(approver, FakeClient(answers=[RuntimeError("client exploded: secret detail")]))
    assert not outcome.approved and outcome.option == "cancel"
    assert "secret detail" not in outcome.message


async def test_session_grant_is_keyed_precisely(approver: Approver) -> None:
    client = FakeClient(answers=[accept("allow_session")])
    first = await _ask(approver, client, arguments={"path": "/a"})
    assert first.approved and first.option == "session"
    # identical call, same session: not asked (the fake has no answers left and would fail)
    granted = await _ask(approver, client, arguments={"path": "/a"})
    assert granted.approved and granted.option == "grant" and granted.answered_by == "session grant"
    assert len(client.asked) == 1
    # other arguments: asked again
    client.answers.append(accept("deny"))
    assert not (await _ask(approver, client, arguments={"path": "/b"})).approved
    # same arguments in another session: asked again
    client.answers.append(accept("deny"))
    assert not (await _ask(approver, client, arguments={"path": "/a"}, session_id="sess-2")).approved
    # other tool: asked again
    client.answers.append(accept("deny"))
    assert not (await _ask(approver, client, arguments={"path": "/a"}, tool="delete_file")).approved
    assert len(client.asked) == 4


async def test_whole_tool_session_grant(approver: Approver) -> None:
    client = FakeClient(answers=[accept("allow_session", whole_tool=True)])
    assert (await _ask(approver, client, arguments={"path": "/a"})).approved
    assert (await _ask(approver, client, arguments={"path": "/anything"})).option == "grant"
    client.answers.append(accept("deny"))
    assert not (await _ask(approver, client, arguments={"path": "/a"}, session_id="other")).approved


async def test_always_calls_the_rule_writer(approver: Approver) -> None:
    written: list[str] = []

    async def write_rule() -> str:
        written.append("rule")
        return "always-fs-write-1"

    ask = AskContext(justification="j", policy_version="v1", always_rule=write_rule)
    client = FakeClient(answers=[accept("allow_always")])
    outcome = await _ask(approver, client, ask)
    assert outcome.approved and outcome.option == "always" and outcome.rule_id == "always-fs-write-1"
    assert written == ["rule"]
    assert "allow_always" in client.asked[0][1]["properties"]["decision"]["enum"]


async def test_always_rule_failure_still_allows_once(approver: Approver) -> None:
    async def broken() -> str:
        raise OSError("disk full")

    outcome = await _ask(approver, FakeClient(answers=[accept("allow_always")]), AskContext(always_rule=broken))
    assert outcome.approved and outcome.option == "once" and outcome.rule_id is None


async def test_circuit_breaker_opens_and_resumes_by_elicitation(approver: Approver) -> None:
    client = FakeClient(answers=[types.ElicitResult(action="decline")] * 3)
    for _ in range(2):
        assert not (await _ask(approver, client)).approved
    third = await _ask(approver, client)
    assert "mcp-gateway approvals resume sess-1" in third.message  # the denial that opened it says so
    assert (await approver.store.breaker("sess-1")).open
    # can elicit: offered a resume; "no" keeps it paused
    client.answers.append(types.ElicitResult(action="accept", content={"resume": False}))
    with pytest.raises(CircuitOpenError, match="approvals resume sess-1"):
        await _ask(approver, client)
    # "yes" resumes and then asks the call itself
    client.answers += [types.ElicitResult(action="accept", content={"resume": True}), accept("allow_once")]
    sink = RecordingSink()
    assert (await _ask(approver, client, sink=sink)).approved
    assert "Resume" in client.asked[-2][1]["properties"]["resume"]["title"]
    assert sink.named("circuit_resumed")
    assert not (await approver.store.breaker("sess-1")).open


async def test_circuit_breaker_without_elicitation_says_how_to_resume(approver: Approver) -> None:
    for _ in range(3):
        await approver.record_result("sess-1", False)  # e.g. policy denials recorded by the policy step
    with pytest.raises(CircuitOpenError) as info:
        await approver.request(make_call(FakeClient(can_elicit=False)), ASK)
    assert "`mcp-gateway approvals resume sess-1`" in info.value.public_message
    await approver.check_circuit("other-session")
    assert await approver.resume("sess-1")
    await approver.check_circuit("sess-1")
