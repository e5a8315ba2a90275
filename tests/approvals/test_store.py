"""ApprovalStore: persistence, answers, grants, breaker, nonces, and concurrent use."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from gateway.approvals.store import ApprovalAlreadyAnsweredError, ApprovalStore, UnknownApprovalError

pytestmark = pytest.mark.anyio


async def _store(tmp_path: Path) -> ApprovalStore:
    store = ApprovalStore.in_state_dir(tmp_path / "state")
    await store.initialize()
    return store


async def _add(store: ApprovalStore, session: str = "s1", digest: str = "d1") -> str:
    rec = await store.add_pending(
        session_id=session,
        identity="alice",
        upstream="fs",
        tool="write",
        exposed_name="fs__write",
        args_digest=digest,
        arguments_preview={"path": "/tmp/x", "token": "***"},
        justification="writes files",
    )
    return rec.id


async def test_pending_round_trip_and_restart(tmp_path: Path) -> None:
    """A queued approval and its answer are still there when a new store opens the same file."""
    store = await _store(tmp_path)
    approval_id = await _add(store)
    assert len(approval_id) == 8 and approval_id.isalnum() and approval_id.isupper()
    await store.add_grant(session_id="s1", upstream="fs", tool="write", args_digest="d1")
    await store.record_result("s1", approved=False, threshold=3)

    reopened = ApprovalStore.in_state_dir(tmp_path / "state")
    listed = await reopened.list_pending()
    assert [a.id for a in listed] == [approval_id]
    assert listed[0].arguments_preview == {"path": "/tmp/x", "token": "***"}
    assert listed[0].justification == "writes files"
    assert await reopened.has_grant(session_id="s1", upstream="fs", tool="write", args_digest="d1")
    assert (await reopened.breaker("s1")).consecutive == 1

    answered = await reopened.answer(approval_id.lower(), approved=True, answered_by="cli:bob", option="session")
    assert answered.status == "approved" and answered.option == "session" and answered.answered_by == "cli:bob"
    assert await reopened.list_pending() == []
    assert [a.status for a in await reopened.list_pending(include_all=True)] == ["approved"]


async def test_answer_errors(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    approval_id = await _add(store)
    with pytest.raises(UnknownApprovalError):
        await store.answer("ZZZZZZZZ", approved=True, answered_by="cli:x")
    await store.answer(approval_id, approved=False, answered_by="cli:x", reason="no")
    with pytest.raises(ApprovalAlreadyAnsweredError, match="already denied"):
        await store.answer(approval_id, approved=True, answered_by="cli:x")


async def test_expire_keeps_a_concurrent_answer(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    first, second = await _add(store), await _add(store)
    await store.answer(first, approved=True, answered_by="cli:x")
    assert (await store.expire(first)).status == "approved"
    assert (await store.expire(second)).status == "expired"


async def test_late_approval_is_used_once_for_the_same_call(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    approval_id = await _add(store, digest="d1")
    await store.expire(approval_id)
    await store.answer(approval_id, approved=True, answered_by="cli:x")
    key = {"session_id": "s1", "upstream": "fs", "tool": "write"}
    assert await store.take_late_approval(**key, args_digest="other") is None
    assert await store.take_late_approval(session_id="s2", upstream="fs", tool="write", args_digest="d1") is None
    taken = await store.take_late_approval(**key, args_digest="d1")
    assert taken is not None and taken.id == approval_id
    assert await store.take_late_approval(**key, args_digest="d1") is None


async def test_grants_are_keyed_precisely(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    await store.add_grant(session_id="s1", upstream="fs", tool="write", args_digest="d1")
    await store.add_grant(session_id="s1", upstream="fs", tool="write", args_digest="d1")  # deduplicated
    await store.add_grant(session_id="s1", upstream="fs", tool="read", args_digest=None)
    assert len(await store.list_grants("s1")) == 2
    assert await store.has_grant(session_id="s1", upstream="fs", tool="write", args_digest="d1")
    assert not await store.has_grant(session_id="s1", upstream="fs", tool="write", args_digest="d2")
    assert not await store.has_grant(session_id="s2", upstream="fs", tool="write", args_digest="d1")
    assert not await store.has_grant(session_id="s1", upstream="gh", tool="write", args_digest="d1")
    assert await store.has_grant(session_id="s1", upstream="fs", tool="read", args_digest="anything")
    assert await store.revoke_grants("s1") == 2
    assert not await store.has_grant(session_id="s1", upstream="fs", tool="read", args_digest="x")


async def test_breaker_opens_at_threshold_and_resumes(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    assert not (await store.record_result("s1", approved=False, threshold=2)).open
    await store.record_result("s1", approved=True, threshold=2)  # an approval breaks the streak
    assert not (await store.record_result("s1", approved=False, threshold=2)).open
    state = await store.record_result("s1", approved=False, threshold=2)
    assert state.open and state.consecutive == 2
    assert not (await store.breaker("s2")).open
    assert [b.session_id for b in await store.list_breakers()] == ["s1"]
    assert await store.resume("s1") is True
    assert not (await store.breaker("s1")).open
    assert await store.resume("s1") is False
    for _ in range(10):
        assert not (await store.record_result("s3", approved=False, threshold=0)).open


async def test_nonce_single_use(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    assert await store.use_nonce("n1", expires=9e12)
    assert not await store.use_nonce("n1", expires=9e12)


async def test_many_tasks_answering_one_approval_only_one_wins(tmp_path: Path) -> None:
    """Concurrent answers through worker threads: exactly one succeeds, the others see it answered."""
    store = await _store(tmp_path)
    approval_id = await _add(store)
    wins: list[str] = []
    losses: list[str] = []

    async def answer(n: int) -> None:
        try:
            await store.answer(approval_id, approved=n % 2 == 0, answered_by=f"cli:{n}")
            wins.append(f"cli:{n}")
        except ApprovalAlreadyAnsweredError:
            losses.append(f"cli:{n}")

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(answer, n)
    assert len(wins) == 1 and len(losses) == 19
    record = await store.get_pending(approval_id)
    assert record is not None and record.answered_by == wins[0]


async def test_concurrent_writers_in_threads_and_tasks(tmp_path: Path) -> None:
    """Tasks adding approvals and raw threads recording denials never lose a write."""
    store = await _store(tmp_path)

    def thread_work() -> None:
        for _ in range(25):
            anyio.run(lambda: store.record_result("shared", approved=False, threshold=0))

    threads = [threading.Thread(target=thread_work) for _ in range(4)]
    for t in threads:
        t.start()
    async with anyio.create_task_group() as tg:
        for n in range(40):
            tg.start_soon(_add, store, f"s{n}")

    def join_all() -> None:
        for t in threads:
            t.join()

    await anyio.to_thread.run_sync(join_all)
    assert len(await store.list_pending(include_all=True)) == 40
    assert (await store.breaker("shared")).consecutive == 100


@pytest.mark.slow
async def test_second_process_writes_are_seen(tmp_path: Path) -> None:
    """Another process (as the CLI would be) writing to the same file while this one writes too."""
    store = await _store(tmp_path)
    script = (
        "import anyio, sys\n"
        "from pathlib import Path\n"
        "from gateway.approvals.store import ApprovalStore\n"
        "s = ApprovalStore(Path(sys.argv[1]))\n"
        "async def main():\n"
        "    for _ in range(50):\n"
        "        await s.record_result('p', approved=False, threshold=0)\n"
        "anyio.run(main)\n"
    )
    proc = await anyio.open_process([sys.executable, "-c", script, str(store.path)], stderr=subprocess.PIPE)
    async with proc:
        for _ in range(50):
            await store.record_result("p", approved=False, threshold=0)
        await proc.wait()
        assert proc.returncode == 0
    assert (await store.breaker("p")).consecutive == 100
