"""Filtering the audit log: streaming, with file skipping by name and a raw-bytes pre-filter.

Cost model: files outside ``since``/``until`` are skipped by their names; in the rest, each line is
checked for the filter values as raw substrings before it is parsed, so non-matching lines cost a
few ``bytes.__contains__`` calls and matching ones one ``json.loads``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.audit.chain import file_start, format_ts, list_files
from gateway.audit.reader import RawLine, iter_log

__all__ = ["Match", "RecordFilter", "parse_time", "query", "select_files"]

_EXACT_FIELDS = {
    "session": "session_id",
    "identity": "identity",
    "upstream": "upstream",
    "tool": "tool",
    "decision": "decision",
    "event": "event",
}
_CHUNK = 4 * 1024 * 1024
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (naive = UTC) or a relative one like ``15m``, ``2h``, ``7d`` (before now)."""
    text = text.strip()
    m = _RELATIVE.match(text)
    if m:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; use ISO 8601 (2026-11-25T08:30Z) or a duration like 15m, 2h, 7d"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordFilter:
    """What to select. Unset fields match everything; set ones must all match (exact, except ``text``)."""

    since: datetime | None = None
    until: datetime | None = None
    session: str | None = None
    identity: str | None = None
    upstream: str | None = None
    tool: str | None = None
    decision: str | None = None
    event: str | None = None
    text: str | None = None  # case-insensitive substring of the raw record

    def needles(self) -> list[bytes]:
        """Substrings every matching raw line must contain (values as they appear inside JSON strings)."""
        out = []
        for attr in _EXACT_FIELDS:
            value = getattr(self, attr)
            if value is not None:
                out.append(_json_inner(value))
        return out

    def text_needle(self) -> bytes | None:
        return _json_inner(self.text).lower() if self.text else None

    def matches(self, record: dict[str, Any]) -> bool:
        """Exact check on a parsed record (the pre-filter only narrows)."""
        for attr, key in _EXACT_FIELDS.items():
            value = getattr(self, attr)
            if value is not None and record.get(key) != value:
                return False
        ts = record.get("ts")
        if not isinstance(ts, str):
            return self.since is None and self.until is None
        # ts is fixed-width RFC 3339 UTC, so string order is time order.
        if self.since is not None and ts < format_ts(self.since):
            return False
        return not (self.until is not None and ts > format_ts(self.until))


@dataclass(frozen=True, slots=True)
class Match:
    """A selected record and where it is stored."""

    line: RawLine
    record: dict[str, Any]


def _json_inner(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8")


def select_files(directory: Path, since: datetime | None, until: datetime | None) -> list[Path]:
    """Audit files that may hold records in [since, until], judged by file names alone.

    A file holds records from its own start to the next file's start, so a file is skipped when the next
    one starts before ``since``, or when it starts after ``until``.
    """
    files = list_files(directory)
    out = []
    for index, path in enumerate(files):
        start = file_start(path)
        nxt = file_start(files[index + 1]) if index + 1 < len(files) else None
        if since is not None and nxt is not None and nxt < since:
            continue
        if until is not None and start is not None and start > until:
            continue
        out.append(path)
    return out


def _candidates(path: Path, needle: bytes, lower: bool) -> Iterator[RawLine]:
    """Complete lines of ``path`` that contain ``needle``, found by searching whole chunks in C.

    Lines without the needle are never split out, which is what makes selective queries fast.
    """
    line_no = 0  # newlines before the current chunk
    carry = b""
    with path.open("rb") as f:
        while True:
            block = f.read(_CHUNK)
            if not block:
                return
            data = carry + block
            end = data.rfind(b"\n") + 1  # complete lines only; the rest carries over
            chunk, carry = data[:end], data[end:]
            haystack = chunk.lower() if lower else chunk
            pos, counted_to = 0, 0
            while (hit := haystack.find(needle, pos)) != -1:
                start = chunk.rfind(b"\n", 0, hit) + 1
                stop = chunk.find(b"\n", hit)
                line_no += chunk.count(b"\n", counted_to, start)
                counted_to = start
                yield RawLine(path, line_no + 1, chunk[start:stop], True)
                pos = stop + 1
            line_no += chunk.count(b"\n", counted_to)


def query(directory: Path, flt: RecordFilter) -> Iterator[Match]:
    """Matching records, oldest first, streamed."""
    needles = flt.needles()
    text = flt.text_needle()
    files = select_files(directory, flt.since, flt.until)
    lines: Iterator[RawLine]
    if needles:
        longest = max(needles, key=len)  # a longer value is usually rarer
        lines = (line for path in files for line in _candidates(path, longest, lower=False))
    elif text is not None:
        lines = (line for path in files for line in _candidates(path, text, lower=True))
    else:
        lines = iter_log(directory, files)
    for line in lines:
        if not line.complete:
            continue
        data = line.data
        if any(n not in data for n in needles):
            continue
        if text is not None and text not in data.lower():
            continue
        try:
            record = json.loads(data)
        except ValueError:
            continue
        if isinstance(record, dict) and flt.matches(record):
            yield Match(line, record)
