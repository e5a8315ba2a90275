"""A fast generator of realistic, correctly chained audit logs (for benchmarks and tests).

It writes records in exactly the format ``AuditLog`` does (same JSON rendering, ``seq``, ``prev`` and
``hash``), without structlog or threads, so a 1 GB log takes seconds, not minutes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.audit.chain import GENESIS, file_name_for, format_ts, line_hash, seal

__all__ = ["generate_log", "synthetic_events"]

_UPSTREAMS = {
    "github": ["create_issue", "list_issues", "merge_pull_request"],
    "files": ["read_file", "write_file", "delete_file"],
    "time": ["get_current_time"],
}
_DECISIONS = ["allow", "allow", "allow", "deny", "prompt"]
_OPTIONS = ["accept", "accept-session", "decline"]


def _identity(session_id: str) -> str:
    return f"user{int(session_id.rsplit('-', 1)[1]) % 7}"


def synthetic_events(seed: int = 1, sessions: int = 50) -> Iterator[tuple[str, dict[str, Any]]]:
    """An endless stream of plausible (event, fields): sessions with calls, decisions, approvals and results."""
    rnd = random.Random(seed)  # noqa: S311 - synthetic data, not security
    call = 0
    session_ids = [f"s-{seed}-{i:05d}" for i in range(sessions)]
    for sid in session_ids:
        yield "session_start", {"session_id": sid, "identity": _identity(sid), "transport": "stdio"}
    while True:
        sid = rnd.choice(session_ids)
        upstream = rnd.choice(list(_UPSTREAMS))
        tool = rnd.choice(_UPSTREAMS[upstream])
        call += 1
        base = {
            "call_id": f"c-{call:09d}",
            "session_id": sid,
            "identity": _identity(sid),
            "upstream": upstream,
            "tool": tool,
        }
        args = {"path": f"/srv/data/{rnd.randrange(10**6)}.txt", "note": "x" * rnd.randrange(20, 120)}
        yield "call_received", {**base, "arguments": json.dumps(args)}
        decision = rnd.choice(_DECISIONS)
        yield "tool_decision", {**base, "decision": decision, "source": "rule", "rules": [f"{upstream}-{decision}"]}
        if decision == "deny":
            continue
        if decision == "prompt":
            yield "approval_requested", {**base, "channel": "elicitation"}
            option = rnd.choice(_OPTIONS)
            yield (
                "approval_answered",
                {**base, "option": option, "by": base["identity"], "wait_ms": rnd.randrange(9000)},
            )
            if option == "decline":
                continue
        yield "call_forwarded", {**base}
        yield (
            "tool_result",
            {**base, "duration_ms": rnd.randrange(1, 900), "is_error": False, "size": 512, "result": "ok"},
        )


def generate_log(
    directory: Path,
    *,
    size_bytes: int | None = None,
    records: int | None = None,
    start: datetime | None = None,
    step: timedelta = timedelta(milliseconds=3),
    file_bytes: int = 50 * 1024 * 1024,
    seed: int = 1,
) -> tuple[int, int]:
    """Write a chained log of about ``size_bytes`` (or exactly ``records`` records) into ``directory``.

    Files rotate at ``file_bytes``. Returns (records written, bytes written).
    """
    if size_bytes is None and records is None:
        raise ValueError("give size_bytes or records")
    directory.mkdir(parents=True, exist_ok=True)
    when = start or datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS
    seq = total = in_file = 0
    out = None
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    try:
        for event, fields in synthetic_events(seed):
            if (records is not None and seq >= records) or (size_bytes is not None and total >= size_bytes):
                break
            seq += 1
            body = dumps({"seq": seq, "ts": format_ts(when), "event": event, **fields, "prev": prev})
            line = seal(body.encode("utf-8"))
            prev = line_hash(line)
            if out is None or in_file + len(line) + 1 > file_bytes:
                if out is not None:
                    out.close()
                out = (directory / file_name_for(when)).open("wb", buffering=1024 * 1024)
                in_file = 0
            out.write(line + b"\n")
            in_file += len(line) + 1
            total += len(line) + 1
            when += step
    finally:
        if out is not None:
            out.close()
    return seq, total
