"""AuditLog: record format, durability, ordering under concurrency, rotation, failures, resume."""

from __future__ import annotations

import errno
import functools
import json
import os
from datetime import timedelta
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from gateway.audit.chain import GENESIS, line_hash, list_files, unsealed_body
from gateway.audit.settings import AuditSettings, RotationSettings
from gateway.audit.verify import verify
from gateway.audit.writer import AuditLog
from gateway.errors import AuditError
from gateway.intercept.call import Lazy
from tests.audit.helpers import START, all_lines, records, stepping_clock

pytestmark = pytest.mark.anyio


async def test_record_format_and_chain(tmp_path: Path) -> None:
    async with AuditLog(tmp_path, clock=stepping_clock()) as audit:
        await audit.emit("tool_decision", {"call_id": "c1", "decision": "allow", "odd": {1: object()}}, durable=True)
        await audit.emit("tool_result", {"call_id": "c1", "nan": float("nan")})
    lines = [line.rstrip(b"\n") for _, line in all_lines(tmp_path)]
    first, second, closing = (json.loads(line) for line in lines)
    assert list(first) == ["seq", "ts", "event", "call_id", "decision", "odd", "prev", "hash"]
    assert first["seq"] == 1 and first["prev"] == GENESIS
    assert first["ts"] == "2026-11-25T08:30:00.001000Z"
    assert first["odd"]["1"].startswith("<object object")
    assert second["nan"] is None  # JSON has no NaN: written as null, never a broken line
    assert second["prev"] == line_hash(lines[0])
    assert closing["event"] == "audit_closed" and closing["prev"] == line_hash(lines[1])
    split = unsealed_body(lines[0])
    assert split is not None and line_hash(split[0]) == first["hash"]


async def test_reserved_keys_are_rejected(tmp_path: Path) -> None:
    async with AuditLog(tmp_path) as audit:
        with pytest.raises(ValueError, match="reserved"):
            await audit.emit("x", {"seq": 5})


async def test_redact_hook_applies_to_every_record(tmp_path: Path) -> None:
    def redact(fields: object) -> object:
        assert isinstance(fields, dict)
        return {k: ("[REDACTED]" if k == "token" else v) for k, v in fields.items()}

    async with AuditLog(tmp_path, redact=redact, close_record=False) as audit:
        await audit.emit("credentials_used", {"token": "ghp_secret", "names": ["GH"]}, durable=True)
    text = b"".join(line for _, line in all_lines(tmp_path))
    assert b"ghp_secret" not in text and b"[REDACTED]" in text


async def test_durable_emit_is_on_disk_when_it_returns(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path, close_record=False)
    for i in range(3):
        await audit.emit("tool_decision", {"call_id": f"c{i}"}, durable=True)
        # A separate handle sees the record before anything else happens.
        (path,) = list_files(tmp_path)
        with path.open("rb") as other:
            last = other.read().splitlines()[-1]
        assert json.loads(last)["call_id"] == f"c{i}"
    await audit.aclose()


async def test_non_durable_emit_is_written_in_order(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path, AuditSettings(fsync=False), close_record=False)
    await audit.emit("a", {})
    await audit.emit("b", {})
    assert [r["event"] for r in records(tmp_path)] == ["a", "b"]
    await audit.aclose()


async def test_unwritable_directory_raises_audit_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the audit directory should be")
    audit = AuditLog(blocker / "audit")
    with pytest.raises(AuditError) as info:
        await audit.emit("tool_decision", {"call_id": "c1"}, durable=True)
    assert info.value.public_message == AuditError.default_message
    assert "not-a-dir" not in info.value.public_message
    assert audit.healthy is False


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
async def test_read_only_directory_fails_closed_then_recovers(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path, close_record=False)
    await audit.open()
    await anyio.Path(tmp_path).chmod(0o500)
    try:
        with pytest.raises(AuditError):
            await audit.emit("tool_decision", {"call_id": "c1"}, durable=True)
        assert audit.healthy is False
    finally:
        await anyio.Path(tmp_path).chmod(0o700)
    await audit.emit("tool_decision", {"call_id": "c2"}, durable=True)
    assert audit.healthy is True
    # The failed record was kept and written first: no gap in the chain.
    assert [r["call_id"] for r in records(tmp_path)] == ["c1", "c2"]
    assert verify(tmp_path).ok
    await audit.aclose()


async def test_disk_full_fails_closed_keeps_detail_private_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import gateway.audit.files as files_mod

    real_write_all = files_mod._write_all
    calls = {"n": 0}

    def flaky(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            # Half the line reaches the disk, then the disk is full.
            real_write_all(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device", "/secret/place")
        real_write_all(fd, data)

    monkeypatch.setattr(files_mod, "_write_all", flaky)
    audit = AuditLog(tmp_path, close_record=False)
    await audit.emit("a", {}, durable=True)
    with caplog.at_level("ERROR", logger="gateway.audit"), pytest.raises(AuditError) as info:
        await audit.emit("b", {}, durable=True)
    assert "/secret/place" not in info.value.public_message
    assert "No space left" in caplog.text
    assert audit.healthy is False
    await audit.emit("c", {}, durable=True)
    assert audit.healthy is True
    await audit.aclose()
    # b was retried in a new file (the torn half stays behind, ignored); the chain has no gap.
    assert [r["event"] for r in records(tmp_path)] == ["a", "b", "c"]
    report = verify(tmp_path)
    assert report.ok and report.last_seq == 3 and len(report.torn) == 1


async def test_concurrent_emits_keep_seq_order_and_chain(tmp_path: Path) -> None:
    settings = AuditSettings(rotation=RotationSettings(max_bytes=4096))
    async with AuditLog(tmp_path, settings) as audit:
        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(functools.partial(audit.emit, "tool_decision", {"call_id": f"c{i}"}, durable=i % 3 == 0))
    recs = records(tmp_path)
    assert [r["seq"] for r in recs] == list(range(1, 102))
    assert sorted(r["call_id"] for r in recs if "call_id" in r) == sorted(f"c{i}" for i in range(100))
    assert len(list_files(tmp_path)) > 1
    report = verify(tmp_path)
    assert report.ok and report.records == 101 and report.closed


async def test_chain_continues_across_size_rotation(tmp_path: Path) -> None:
    settings = AuditSettings(rotation=RotationSettings(daily=False, max_bytes=700))
    async with AuditLog(tmp_path, settings, clock=stepping_clock()) as audit:
        for i in range(12):
            await audit.emit("tool_result", {"call_id": f"c{i}", "pad": "x" * 100})
    files = list_files(tmp_path)
    assert len(files) >= 4
    assert all(f.stat().st_size <= 700 for f in files)
    for older, newer in zip(files, files[1:], strict=False):
        last = older.read_bytes().splitlines()[-1]
        first = json.loads(newer.read_bytes().splitlines()[0])
        assert first["prev"] == line_hash(last)
        assert first["seq"] == json.loads(last)["seq"] + 1
    assert verify(tmp_path).ok


async def test_daily_rotation_uses_utc_date(tmp_path: Path) -> None:
    clock = stepping_clock(START.replace(hour=23, minute=59), step=timedelta(seconds=20))
    async with AuditLog(tmp_path, clock=clock, close_record=False) as audit:
        for i in range(6):
            await audit.emit("tick", {"i": i})
    names = [p.name for p in list_files(tmp_path)]
    assert names[0].startswith("audit-2026-11-25T23-59") and names[1].startswith("audit-2026-11-26T00-00")
    assert verify(tmp_path).ok


async def test_writer_resumes_chain_after_restart(tmp_path: Path) -> None:
    async with AuditLog(tmp_path) as audit:
        await audit.emit("a", {}, durable=True)
    async with AuditLog(tmp_path) as audit:
        assert audit.seq == 2
        await audit.emit("b", {}, durable=True)
    recs = records(tmp_path)
    assert [r["event"] for r in recs] == ["a", "audit_closed", "b", "audit_closed"]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4]
    assert len(list_files(tmp_path)) == 1  # a cleanly ended file is appended to
    assert verify(tmp_path).ok


async def test_writer_resumes_after_torn_tail_in_a_new_file(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path, close_record=False)
    await audit.emit("a", {}, durable=True)
    await audit.emit("b", {}, durable=True)
    await audit.aclose()
    (path,) = list_files(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"seq":3,"ts":"2026-')  # a crash in the middle of the third write
    async with AuditLog(tmp_path) as audit:
        assert audit.seq == 2
        await audit.emit("c", {}, durable=True)
    files = list_files(tmp_path)
    assert len(files) == 2 and files[0] == path
    first_new = json.loads(files[1].read_bytes().splitlines()[0])
    assert first_new["seq"] == 3 and first_new["prev"] == line_hash(whole.splitlines()[-1])
    report = verify(tmp_path)
    assert report.ok and report.last_seq == 4
    assert [t.path for t in report.torn] == [path] and report.torn_tail is None


async def test_emit_after_close_fails(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    await audit.emit("a", {})
    await audit.aclose()
    with pytest.raises(AuditError):
        await audit.emit("b", {})


async def test_background_flusher_defers_only_non_durable_records(tmp_path: Path) -> None:
    """With the flusher running, non-durable records reach the file shortly after; durable ones before emit returns,
    together with everything queued before them, in order."""
    log = AuditLog(tmp_path, AuditSettings())
    await log.open()
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(log.run_flusher, interval=0.05))
        await anyio.wait_all_tasks_blocked()
        await log.emit("call_received", {"n": 1})
        assert all_lines(tmp_path) == []  # deferred: no disk round trip for the caller
        await log.emit("tool_decision", {"n": 2}, durable=True)
        assert [r["event"] for r in records(tmp_path)] == ["call_received", "tool_decision"]
        await log.emit("tool_result", {"n": 3})
        with anyio.fail_after(5):
            while len(all_lines(tmp_path)) < 3:
                await anyio.wait_all_tasks_blocked()
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    await log.aclose()
    assert [r["event"] for r in records(tmp_path)][:3] == ["call_received", "tool_decision", "tool_result"]
    assert verify(tmp_path).ok


async def test_background_records_are_built_once_the_emitter_moves_on(tmp_path: Path) -> None:
    """A non-durable record is given its seq and hash two loop turns after emit (not by the next durable record),
    and a field that cannot be rendered leaves a marked record in its place, never a gap in the chain."""

    def broken() -> object:
        raise RuntimeError("cannot render")

    log = AuditLog(tmp_path, AuditSettings(), close_record=False)
    await log.open()
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(log.run_flusher, interval=60))
        await anyio.wait_all_tasks_blocked()
        await log.emit("call_forwarded", {"n": 1})
        await log.emit("tool_result", {"n": 2, "result": Lazy(broken)})
        await log.emit("tool_result", {"n": 3})
        assert log.seq == 3 and not log._pending  # queued, not built yet
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
        built = log._pending  # built in order, waiting for the (slow) flusher
        assert [p.seq for p in built] == [1, 2, 3]
        await log.emit("tool_decision", {"n": 4}, durable=True)
        tg.cancel_scope.cancel()
    await log.aclose()
    got = records(tmp_path)
    assert [(r["event"], r.get("n")) for r in got] == [
        ("call_forwarded", 1),
        ("tool_result", None),
        ("tool_result", 3),
        ("tool_decision", 4),
    ]
    assert got[1]["audit_error"] == "fields not recordable (RuntimeError)"
    assert verify(tmp_path).ok
