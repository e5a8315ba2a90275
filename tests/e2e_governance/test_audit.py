"""Issue 5 acceptance (audit): a governed session's story in `audit timeline`, a tamper-evident chain that
`audit verify` checks, durability across kill -9, and fail-closed behaviour when the log cannot be written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import MCPError

from tests.e2e_governance.helpers import Answers, audit_records, cli, connect, run_audit_cli, text_of
from tests.support.gateway_proc import (
    await_until,
    fixture_upstream,
    read_record,
    running_gateway,
    start_gateway,
    wait_until,
    write_config,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ERAS = ["legacy", "2026-07-28"]

POLICY = """\
default_decision: deny
rules:
  - id: echo-is-fine
    match: {upstream: fx, tool: echo}
    decision: allow
    justification: Echo changes nothing.
  - id: writes-need-a-person
    match: {upstream: fx, tool: write_file}
    decision: prompt
    justification: Writing files needs approval.
  - id: no-writes-to-etc
    match:
      upstream: fx
      tool: write_file
      arguments: {path: {path_under: ["/etc"]}}
    decision: deny
    justification: System configuration is off limits.
"""


@pytest.fixture(params=ERAS)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _verify(directory: Path) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_audit_cli("verify", "--json", "--audit-dir", str(directory))
    return code, json.loads(out) if out.strip() else {}, err


def _lines(directory: Path) -> tuple[Path, list[bytes]]:
    files = sorted(directory.glob("audit-*.jsonl"))
    assert len(files) == 1, files  # one short session: no rotation
    return files[0], files[0].read_bytes().splitlines(keepends=True)


def _tampered(src: Path, dst: Path, change: str, index: int) -> Path:
    shutil.copytree(src, dst)
    path, lines = _lines(dst)
    if change == "delete":
        del lines[index]
    elif change == "edit":
        rec = json.loads(lines[index])
        rec["identity"] = "mallory"
        lines[index] = json.dumps(rec, separators=(",", ":")).encode() + b"\n"
    else:
        lines[index], lines[index + 1] = lines[index + 1], lines[index]
    path.write_bytes(b"".join(lines))
    return dst


async def test_session_timeline_and_tamper_evidence(tmp_path: Path, mode: str) -> None:
    record = tmp_path / "record.jsonl"
    cfg = write_config(tmp_path / "upstreams.yaml", {"fx": fixture_upstream(record=record)}, policy=POLICY)
    audit = tmp_path / "state" / "audit"
    answers = Answers(decisions=["allow_once", "deny"])
    with running_gateway(cfg, http=True) as gw:
        gw.wait_settled()
        assert gw.url is not None
        async with connect(gw.url, mode, answers) as client:
            ok = await client.call_tool("fx__echo", {"text": "allowed"})
            assert text_of(ok) == "allowed"
            written = await client.call_tool("fx__write_file", {"path": "a.txt", "content": "yes"})
            assert text_of(written) == "wrote a.txt"
            declined = await client.call_tool("fx__write_file", {"path": "b.txt", "content": "no"})
            assert declined.is_error, declined
            denied = await client.call_tool("fx__write_file", {"path": "/etc/passwd", "content": "x"})
            assert denied.is_error and "no-writes-to-etc" in text_of(denied), text_of(denied)
        assert len(answers.asked) == 2, answers.asked
    received = [(e["tool"], e["arguments"].get("path")) for e in read_record(record)]
    assert received == [("echo", None), ("write_file", "a.txt")], received

    records = audit_records(audit)
    echo_call = next(r for r in records if r["event"] == "call_received" and r["tool"] == "echo")
    session = echo_call["session_id"]
    calls = [r for r in records if r["event"] == "call_received"]
    assert {r["session_id"] for r in calls} == {session}, "one client session must be one audit session"

    shown = cli("audit", "timeline", session, "--audit-dir", str(audit))
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for rule in ("echo-is-fine", "writes-need-a-person", "no-writes-to-etc"):
        assert rule in text, f"rule {rule} missing from the timeline:\n{text}"
    # A 2026-07-28 client's first round ends in input-required and the retry is a new call: keep the decided ones.
    stories = [s for s in text.split("\nCall ")[1:] if "asked via input-required" not in s]
    assert [s.splitlines()[0].split()[-1] for s in stories] == [
        "fx/echo",
        "fx/write_file",
        "fx/write_file",
        "fx/write_file",
    ], text
    answered = [r for r in records if r["event"] == "approval_answered"]
    assert [(r["approved"], r["option"]) for r in answered] == [(True, "once"), (False, "deny")], answered
    for story, rec in zip(stories[1:3], answered, strict=True):
        assert rec["by"] and f"{rec['option']} by {rec['by']}" in story, f"approver missing:\n{story}"
        assert "writes-need-a-person" in story, story
    assert "no-writes-to-etc" in stories[3] and "echo-is-fine" in stories[0], text

    code, report, err = _verify(audit)
    assert code == 0 and report["ok"] and report["closed"], (report, err)
    _, lines = _lines(audit)
    middle = len(lines) // 2
    seq = json.loads(lines[middle])["seq"]
    for change in ("delete", "edit", "swap"):
        bad = _tampered(audit, tmp_path / f"audit-{change}", change, middle)
        code, report, err = _verify(bad)
        assert code == 1, (change, report, err)
        problem = report["problem"]
        # The report points at the tampered spot: the changed record, or the one whose link to it broke.
        assert problem["line"] in (middle + 1, middle + 2), (change, problem)
        assert problem["seq"] in (seq, seq + 1, None) or str(seq) in problem["message"], (change, problem)
        code, out, _ = run_audit_cli("verify", "--audit-dir", str(bad))
        assert code == 1 and f"line {problem['line']}" in out, out


async def test_timeline_marks_refused_calls(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "upstreams.yaml", {"fx": fixture_upstream()}, policy=POLICY)
    audit = tmp_path / "state" / "audit"
    with running_gateway(cfg, http=True) as gw:
        gw.wait_settled()
        assert gw.url is not None
        async with connect(gw.url, "2026-07-28") as client:
            denied = await client.call_tool("fx__write_file", {"path": "/etc/passwd", "content": "x"})
            assert denied.is_error
    session = next(r["session_id"] for r in audit_records(audit) if r["event"] == "call_received")
    code, out, err = run_audit_cli("timeline", session, "--audit-dir", str(audit))
    assert code == 0, err
    result = next(line for line in out.splitlines() if " result " in line)
    assert not result.split(" result ", 1)[1].strip().startswith("ok"), result


async def test_kill_9_during_a_burst(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    cfg = write_config(tmp_path / "upstreams.yaml", {"fx": fixture_upstream(record=record)})
    audit = tmp_path / "state" / "audit"
    gw = start_gateway(cfg, http=True)
    outcomes: list[str] = []
    upstream_pid: int | None = None
    try:
        status = gw.wait_settled()
        upstream_pid = status["upstreams"]["fx"]["pid"]
        assert gw.url is not None
        url = gw.url

        async def one(client: Any, i: int) -> None:
            try:
                res = await client.call_tool("fx__count", {"n": 100 + i, "delay": 0.02})
                outcomes.append("ok" if not res.is_error else "error")
            except (MCPError, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                outcomes.append(type(exc).__name__)

        with anyio.move_on_after(20):
            try:
                async with connect(url, "2026-07-28") as client, anyio.create_task_group() as tg:
                    for i in range(20):
                        tg.start_soon(one, client, i)
                    await await_until(lambda: len(read_record(record)) >= 5, 10, "calls to reach the upstream")
                    os.kill(gw.pid, signal.SIGKILL)
            except BaseExceptionGroup as group:  # the transport breaks in many ways when the server vanishes
                outcomes.append(f"group:{len(group.exceptions)}")
            except (OSError, MCPError) as exc:
                outcomes.append(type(exc).__name__)
        assert gw.proc.wait(timeout=5) == -signal.SIGKILL
    finally:
        gw.stop()
        if upstream_pid is not None:
            # Orphaned by the kill; it exits on stdin EOF, but don't rely on it.
            wait_until(lambda: not _alive(upstream_pid), 10, "the orphaned upstream to exit")
    assert "ok" not in outcomes or outcomes.count("ok") < 20, "the kill came too late to test anything"

    code, report, err = _verify(audit)
    assert code == 0 and report["ok"], (report, err)
    assert not report["closed"]  # killed: no audit_closed
    assert len(report["torn"]) <= 1

    records = audit_records(audit)
    n_of = {r["call_id"]: _n(r) for r in records if r["event"] == "call_received"}
    decided = {n_of.get(r["call_id"]) for r in records if r["event"] == "tool_decision" and r.get("final")}
    reached = [e["arguments"]["n"] for e in read_record(record) if e.get("tool") == "count"]
    assert len(reached) >= 5
    missing = [n for n in reached if n not in decided]
    assert not missing, f"calls the upstream received without a durable decision record: {missing}"


def _n(rec: dict[str, Any]) -> int | None:
    args = rec.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return None
    return args.get("n") if isinstance(args, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


async def test_unwritable_audit_dir_fails_closed(tmp_path: Path, mode: str) -> None:
    record = tmp_path / "record.jsonl"
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a regular file\n")
    cfg = write_config(
        tmp_path / "upstreams.yaml",
        {"fx": fixture_upstream(record=record)},
        {"audit_dir": str(blocker / "audit")},
    )
    gw = start_gateway(cfg, http=True, timeout=10)
    try:
        gw.wait_settled()
        assert gw.url is not None
        async with connect(gw.url, mode) as client:
            res = await client.call_tool("fx__echo", {"text": "must not pass"})
        assert res.is_error, res
        assert "audit record" in text_of(res), text_of(res)
        assert str(blocker) not in text_of(res)  # no internal detail to the client
    finally:
        gw.stop()
    assert read_record(record) == []
    assert types is not None
