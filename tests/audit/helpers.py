"""Helpers for audit tests: a deterministic clock, a log with a realistic session, and line surgery."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.audit.chain import list_files
from gateway.audit.settings import AuditSettings
from gateway.audit.writer import AuditLog

START = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


def stepping_clock(start: datetime = START, step: timedelta = timedelta(milliseconds=1)) -> Callable[[], datetime]:
    """A clock that advances ``step`` on every reading."""
    state = {"now": start}

    def now() -> datetime:
        state["now"] += step
        return state["now"]

    return now


def all_lines(directory: Path) -> list[tuple[Path, bytes]]:
    """(file, line bytes with newline) for every line of every file, in order."""
    out: list[tuple[Path, bytes]] = []
    for path in list_files(directory):
        out.extend((path, line) for line in path.read_bytes().splitlines(keepends=True))
    return out


def records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for _, line in all_lines(directory) if line.endswith(b"\n")]


def rewrite(directory: Path, lines: list[tuple[Path, bytes]]) -> None:
    """Write ``lines`` back into their files (files absent from ``lines`` become empty)."""
    by_file: dict[Path, list[bytes]] = {p: [] for p in list_files(directory)}
    for path, line in lines:
        by_file.setdefault(path, []).append(line)
    for path, chunks in by_file.items():
        path.write_bytes(b"".join(chunks))


def find_line(directory: Path, seq: int) -> tuple[Path, int]:
    """(file, 1-based line number) of the record with ``seq``."""
    for path in list_files(directory):
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if json.loads(line)["seq"] == seq:
                return path, number
    raise AssertionError(f"seq {seq} not found")


SESSION_EVENTS: list[tuple[str, dict[str, Any], bool]] = [
    (
        "session_start",
        {
            "session_id": "s1",
            "identity": "alice",
            "identity_kind": "os-user",
            "client_name": "claude-code",
            "client_version": "1.2.0",
            "protocol_version": "2025-11-25",
            "protocol_era": "handshake",
            "transport": "stdio",
            "policy_version": "p-7",
        },
        False,
    ),
    ("tools_listed", {"session_id": "s1", "identity": "alice", "count": 3}, False),
]


def call_events(
    call_id: str, tool: str, decision: str, *, option: str | None = None
) -> list[tuple[str, dict[str, Any], bool]]:
    base = {"call_id": call_id, "session_id": "s1", "identity": "alice", "upstream": "github", "tool": tool}
    out: list[tuple[str, dict[str, Any], bool]] = [
        ("call_received", {**base, "arguments": '{"repo":"acme/app"}'}, False),
        (
            "tool_decision",
            {
                **base,
                "decision": decision,
                "source": "rule",
                "rules": [f"gh-{decision}"],
                "justification": f"{tool} is {decision}",
            },
            True,
        ),
    ]
    if decision == "prompt":
        out.append(("approval_requested", {**base, "channel": "elicitation"}, False))
        out.append(("approval_answered", {**base, "option": option, "by": "alice", "wait_ms": 4100}, True))
        if option == "decline":
            return out
    if decision == "deny":
        return out
    out.append(("credentials_used", {**base, "credentials": ["GITHUB_TOKEN"]}, False))
    out.append(("call_forwarded", {**base}, True))
    out.append(
        ("tool_result", {**base, "duration_ms": 812, "is_error": False, "size": 40, "result": "issue #12"}, False)
    )
    return out


def session_script() -> list[tuple[str, dict[str, Any], bool]]:
    """A session with an allowed, a prompted-accepted, a prompted-declined and a denied call."""
    return [
        *SESSION_EVENTS,
        *call_events("c1", "list_issues", "allow"),
        *call_events("c2", "create_issue", "prompt", option="accept"),
        *call_events("c3", "merge_pull_request", "prompt", option="decline"),
        *call_events("c4", "delete_repo", "deny"),
    ]


async def write_session(directory: Path, settings: AuditSettings | None = None) -> int:
    """Write ``session_script()`` with a stepping clock; returns the number of records (incl. audit_closed)."""
    script = session_script()
    async with AuditLog(directory, settings, clock=stepping_clock()) as audit:
        for event, fields, durable in script:
            await audit.emit(event, fields, durable=durable)
    return len(script) + 1
