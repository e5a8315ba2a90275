"""Approver with clients that cannot elicit: the pending queue answered from another process."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from gateway.approvals import ApprovalOutcome, ApprovalSettings, Approver, AskContext

from .fakes import FakeClient, RecordingSink, make_call

pytestmark = pytest.mark.anyio

ASK = AskContext(justification="Pushing needs a human.", policy_version="v1")


async def _run_queued(approver: Approver, sink: RecordingSink, **kw: object) -> ApprovalOutcome:
    result = await approver.request(make_call(FakeClient(can_elicit=False), sink=sink, **kw), ASK)  # type: ignore[arg-type]
    assert isinstance(result, ApprovalOutcome)
    return result


async def _answer_when_queued(approver: Approver, sink: RecordingSink, **answer: object) -> str:
    requested = await sink.wait_for("approval_requested")
    approval_id = str(requested["approval_id"])
    await approver.store.answer(approval_id, answered_by="cli:test", **answer)  # type: ignore[arg-type]
    return approval_id


async def test_queue_approved_for_session(approver: Approver) -> None:
    sink = RecordingSink()
    results: list[ApprovalOutcome] = []

    async def call() -> None:
        results.append(await _run_queued(approver, sink, arguments={"ref": "main", "token": "t0k"}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        approval_id = await _answer_when_queued(approver, sink, approved=True, option="session")
    [outcome] = results
    assert outcome.approved and outcome.option == "session" and outcome.answered_by == "cli:test"
    assert outcome.approval_id == approval_id
    record = await approver.store.get_pending(approval_id)
    assert record is not None and record.arguments_preview == {"ref": "main", "token": "***"} and record.consumed
    assert sink.named("approval_requested")[0]["channel"] == "queue"
    granted = await _run_queued(approver, RecordingSink(), arguments={"ref": "main", "token": "t0k"})
    assert granted.option == "grant"


async def test_queue_denied_with_reason(approver: Approver) -> None:
    sink = RecordingSink()
    results: list[ApprovalOutcome] = []

    async def call() -> None:
        results.append(await _run_queued(approver, sink))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await _answer_when_queued(approver, sink, approved=False, reason="wrong branch")
    [outcome] = results
    assert not outcome.approved and outcome.option == "deny"
    assert "wrong branch" in outcome.message and "Pushing needs a human." in outcome.message


async def test_queue_expiry_tells_how_to_approve_and_late_approval_works(
    tmp_path: Path, settings: ApprovalSettings
) -> None:
    approver = await Approver.open(tmp_path / "st", settings.model_copy(update={"queue_wait": 0.1}))
    outcome = await _run_queued(approver, RecordingSink())
    assert not outcome.approved and outcome.option == "timeout" and outcome.approval_id
    assert f"`mcp-gateway approvals approve {outcome.approval_id}`" in outcome.message
    assert "call the tool again" in outcome.message
    record = await approver.store.get_pending(outcome.approval_id)
    assert record is not None and record.status == "expired"
    # following the message: approve, then call again -> goes through without waiting
    await approver.store.answer(outcome.approval_id, approved=True, answered_by="cli:test")
    again = await _run_queued(approver, RecordingSink())
    assert again.approved and again.approval_id == outcome.approval_id
    # but only once
    third = await _run_queued(approver, RecordingSink())
    assert not third.approved and third.approval_id != outcome.approval_id


async def test_cancelled_call_expires_its_approval(approver: Approver) -> None:
    sink = RecordingSink()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_run_queued, approver, sink)
        requested = await sink.wait_for("approval_requested")
        tg.cancel_scope.cancel()
    record = await approver.store.get_pending(str(requested["approval_id"]))
    assert record is not None and record.status == "expired"


@pytest.mark.slow
async def test_queue_approved_by_cli_in_another_process(tmp_path: Path, settings: ApprovalSettings) -> None:
    """`python -m gateway approvals approve ID` from a real second process releases the waiting call."""
    # A long wait: the subprocess start-up is slow on a loaded machine; the answer ends the wait early.
    approver = await Approver.open(tmp_path / "st", settings.model_copy(update={"queue_wait": 120.0}))
    sink = RecordingSink()
    results: list[ApprovalOutcome] = []

    async def call() -> None:
        results.append(await _run_queued(approver, sink))

    state_dir = approver.store.path.parent
    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        requested = await sink.wait_for("approval_requested")
        approval_id = str(requested["approval_id"])
        proc = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "gateway",
                "approvals",
                "approve",
                approval_id.lower(),
                "--state-dir",
                str(state_dir),
            ],
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert f"Approved {approval_id}" in proc.stdout.decode()
    [outcome] = results
    assert outcome.approved and outcome.option == "once" and outcome.answered_by.startswith("cli:")
