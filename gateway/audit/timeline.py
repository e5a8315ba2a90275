"""``timeline``: a readable reconstruction of one session, grouped per call.

For each call, in order: request -> decision (matched rules, source, justification) -> approval
(asked, answered by whom, after how long) -> credentials -> forwarded -> result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.audit import events as ev
from gateway.audit.query import RecordFilter, query

__all__ = ["CallStory", "Timeline", "build_timeline", "describe", "render_timeline"]


@dataclass(slots=True)
class CallStory:
    """Every record of one call, in log order."""

    call_id: str
    upstream: str
    tool: str
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def decision(self) -> str | None:
        return next((str(r.get("decision")) for r in self.records if r.get("event") == ev.TOOL_DECISION), None)


@dataclass(slots=True)
class Timeline:
    """A session: its start record, session-level records and its calls in first-seen order."""

    session_id: str
    start: dict[str, Any] | None = None
    session_records: list[dict[str, Any]] = field(default_factory=list)
    calls: list[CallStory] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "start": self.start,
            "session_records": self.session_records,
            "calls": [
                {
                    "call_id": c.call_id,
                    "upstream": c.upstream,
                    "tool": c.tool,
                    "decision": c.decision,
                    "records": c.records,
                }
                for c in self.calls
            ],
        }


def build_timeline(directory: Path, session_id: str) -> Timeline:
    """Collect the session's records (streamed; only this session's records are kept)."""
    tl = Timeline(session_id)
    by_call: dict[str, CallStory] = {}
    for match in query(directory, RecordFilter(session=session_id)):
        rec = match.record
        call_id = rec.get("call_id")
        if rec.get("event") == ev.SESSION_START and tl.start is None:
            tl.start = rec
        elif isinstance(call_id, str):
            story = by_call.get(call_id)
            if story is None:
                story = by_call[call_id] = CallStory(call_id, str(rec.get("upstream", "")), str(rec.get("tool", "")))
                tl.calls.append(story)
            story.records.append(rec)
        else:
            tl.session_records.append(rec)
    return tl


def _time(rec: dict[str, Any]) -> str:
    ts = str(rec.get("ts", ""))
    return ts[11:23] if len(ts) >= 23 else ts


def _join(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _decision(r: dict[str, Any]) -> str:
    text = f"{r.get('decision', '?')} (source: {r.get('source', '?')}; rules: {_join(r.get('rules', []))})"
    if r.get("justification"):
        text += f' - "{r["justification"]}"'
    return text


def _answered(r: dict[str, Any]) -> str:
    wait = r.get("wait_ms")
    after = f" after {float(wait) / 1000:.1f}s" if isinstance(wait, int | float) else ""
    return f"{r.get('option', '?')} by {r.get('by', '?')}{after}"


def _result(r: dict[str, Any]) -> str:
    state = "error" if r.get("is_error") else "ok"
    parts = [state]
    if r.get("duration_ms") is not None:
        parts.append(f"in {r['duration_ms']} ms")
    if r.get("size") is not None:
        parts.append(f"{r['size']} chars")
    text = ", ".join(parts)
    if r.get("error"):
        text += f": {r['error']}"
    elif r.get("result") is not None:
        text += f": {r['result']}"
    return text


_DESCRIBE: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    ev.CALL_RECEIVED: ("request", lambda r: f"{r.get('exposed_name', r.get('tool'))} {r.get('arguments', '')}"),
    ev.TOOL_DECISION: ("decision", _decision),
    ev.APPROVAL_REQUESTED: ("approval", lambda r: f"asked via {r.get('channel', '?')}"),
    ev.APPROVAL_ANSWERED: ("approval", _answered),
    ev.CREDENTIALS_USED: ("credentials", lambda r: _join(r.get("credentials", []))),
    ev.CALL_FORWARDED: ("forwarded", lambda r: f"to {r.get('upstream', '?')}"),
    ev.TOOL_RESULT: ("result", _result),
}


def describe(rec: dict[str, Any]) -> tuple[str, str]:
    """(label, one-line text) for a record."""
    event = str(rec.get("event", "?"))
    if event in _DESCRIBE:
        label, fn = _DESCRIBE[event]
        return label, fn(rec)
    skip = {"seq", "ts", "event", "prev", "hash", "session_id", "call_id", "identity", "upstream", "tool"}
    rest = ", ".join(f"{k}={v}" for k, v in rec.items() if k not in skip)
    return event, rest


def render_timeline(tl: Timeline) -> list[str]:
    """Plain-text lines for a person."""
    lines = [f"Session {tl.session_id}"]
    if tl.start is not None:
        s = tl.start
        lines.append(
            f"  {_time(s)}  started by {s.get('identity', '?')} ({s.get('identity_kind', '?')}): "
            f"client {s.get('client_name', '?')} {s.get('client_version', '')}, "
            f"protocol {s.get('protocol_version', '?')}"
            f" ({s.get('protocol_era', '?')}), {s.get('transport', '?')}, policy {s.get('policy_version', '?')}"
        )
    for rec in tl.session_records:
        label, text = describe(rec)
        lines.append(f"  {_time(rec)}  {label}: {text}")
    for story in tl.calls:
        lines.append(f"Call {story.call_id}  {story.upstream}/{story.tool}")
        for rec in story.records:
            label, text = describe(rec)
            lines.append(f"  {_time(rec)}  {label:<11} {text}")
    if len(lines) == 1:
        lines.append("  (no records for this session)")
    return lines
