"""``verify``: check seq continuity and the hash chain across every audit file.

Stops at the first bad record and says what is wrong with it:

- ``edited``     a record's bytes changed (its ``hash`` does not match, it is not valid JSON, or - when
                 its hash was recomputed - the next record's ``prev`` no longer matches it);
- ``missing``    records are gone (a ``seq`` gap: deleted lines or a deleted file);
- ``inserted``   a record that is not part of the chain (the chain continues without it);
- ``reordered``  records are out of order (a later record appears before an earlier one);
- ``truncated``  a file was cut short and the chain continues after a gap.

A torn final line (no newline: a crash mid-write) is not a record: verification passes up to the last
complete record and reports the torn tail separately (``VerifyReport.torn``). Whole records cut from
the end of the log cannot be told from a log that simply ends there; ``closed`` (the last record is
``audit_closed``) and the printed head hash help an auditor notice that.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gateway.audit.chain import GENESIS, line_hash, list_files, unsealed_body
from gateway.audit.events import AUDIT_CLOSED
from gateway.audit.reader import RawLine, iter_log

__all__ = ["Problem", "ProblemKind", "VerifyReport", "verify"]

ProblemKind = Literal["edited", "missing", "inserted", "reordered", "truncated"]
_WINDOW = 16
_LOOKAHEAD = 8


@dataclass(frozen=True, slots=True)
class Problem:
    """The first bad record: where it is and what is wrong."""

    kind: ProblemKind
    path: Path
    line_no: int
    seq: int | None
    message: str

    def describe(self) -> str:
        seq = f", seq {self.seq}" if self.seq is not None else ""
        return f"{self.kind}: {self.path.name} line {self.line_no}{seq}: {self.message}"


@dataclass(slots=True)
class VerifyReport:
    """The outcome of ``verify``. ``ok`` means no problem up to the last complete record."""

    directory: Path
    files: int = 0
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head: str = GENESIS  # line hash of the last good record: anchor it to protect the end
    closed: bool = False
    problem: Problem | None = None
    torn: list[RawLine] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def torn_tail(self) -> RawLine | None:
        """The torn line at the very end of the log, if any."""
        return self.torn[-1] if self.torn and self.torn[-1].path == list_files(self.directory)[-1] else None


@dataclass(frozen=True, slots=True)
class _Rec:
    line: RawLine
    seq: int
    prev: str
    hash: str  # line hash: what the next record's prev must be
    event: str


def _read(line: RawLine) -> _Rec | Problem:
    """Parse and self-check one complete line."""
    split = unsealed_body(line.data)
    try:
        record = json.loads(line.data)
    except ValueError:
        return Problem("edited", line.path, line.line_no, None, "not valid JSON (the line was altered)")
    seq = record.get("seq") if isinstance(record, dict) else None
    if not isinstance(seq, int) or not isinstance(record.get("prev"), str) or split is None:
        return Problem(
            "edited", line.path, line.line_no, seq if isinstance(seq, int) else None, "seq/prev/hash missing"
        )
    body, stored = split
    if line_hash(body) != stored:
        return Problem("edited", line.path, line.line_no, seq, "the record's content does not match its hash")
    return _Rec(line, seq, record["prev"], line_hash(line.data), str(record.get("event", "")))


def _at(rec: _Rec, kind: ProblemKind, message: str) -> Problem:
    return Problem(kind, rec.line.path, rec.line.line_no, rec.seq, message)


def _classify(
    before: list[_Rec], bad: _Rec, after: list[_Rec], expected: int, prev_hash: str, torn_before: bool
) -> Problem:
    nxt = after[0] if after else None
    if bad.seq == expected:
        # Right place, wrong link.
        if nxt is not None and nxt.seq == bad.seq and nxt.prev == prev_hash:
            return _at(bad, "inserted", "not part of the chain: the next record continues from the one before it")
        if before:
            return _at(
                before[-1], "edited", f"changed after seq {bad.seq} was written (its hash is not seq {bad.seq}'s prev)"
            )
        return _at(bad, "edited", "prev does not match the start of the log")
    if bad.seq > expected:
        if any(bad.prev == a.hash for a in after):
            return _at(bad, "reordered", f"seq {bad.seq} appears before seq {expected}")
        if nxt is not None and nxt.seq == expected and nxt.prev == prev_hash:
            return _at(bad, "inserted", "not part of the chain: the next record continues from the one before it")
        if any(a.seq == expected for a in after):
            return _at(bad, "reordered", f"seq {bad.seq} appears before seq {expected}")
        span = f"seq {expected}" if bad.seq == expected + 1 else f"seq {expected}-{bad.seq - 1}"
        if torn_before:
            return _at(bad, "truncated", f"the file before this record was cut short: {span} missing")
        return _at(bad, "missing", f"{span} missing before this record (deleted)")
    same = next((r for r in reversed(before) if r.seq == bad.seq), None)
    if same is not None and same.hash == bad.hash:
        return _at(bad, "inserted", f"a copy of seq {bad.seq} at line {same.line.line_no}")
    if same is not None and same.prev == bad.prev:
        if nxt is not None and nxt.prev == bad.hash:
            return _at(same, "inserted", "not part of the chain: a forged record claiming this seq")
        return _at(bad, "inserted", f"a second record claiming seq {bad.seq}")
    if any(r.prev == bad.hash for r in before):
        return _at(bad, "reordered", f"seq {bad.seq} appears after seq {before[-1].seq if before else '?'}")
    return _at(bad, "inserted", f"seq {bad.seq} does not follow seq {expected - 1}")


def _records(lines: Iterator[RawLine], torn: list[RawLine]) -> Iterator[_Rec | Problem | None]:
    """Complete lines as records; torn lines are collected and announced by a None."""
    for line in lines:
        if not line.complete:
            torn.append(line)
            yield None
            continue
        yield _read(line)


def verify(directory: Path, *, allow_pruned_start: bool = False) -> VerifyReport:
    """Check every audit file in ``directory``; see the module docstring for what is reported."""
    report = VerifyReport(directory=directory, files=len(list_files(directory)))
    items = _records(iter_log(directory), report.torn)
    history: deque[_Rec] = deque(maxlen=_WINDOW)
    expected: int | None = None
    prev_hash = GENESIS
    torn_before = False
    for item in items:
        if item is None:
            torn_before = True
            continue
        if isinstance(item, Problem):
            report.problem = item
            return report
        if expected is None:
            if item.seq != 1 and allow_pruned_start:
                expected, prev_hash = item.seq, item.prev
            elif item.seq != 1:
                report.problem = _at(item, "missing", f"the log starts at seq {item.seq}: seq 1-{item.seq - 1} missing")
                return report
            else:
                expected = 1
        if item.seq != expected or item.prev != prev_hash:
            after = []
            for extra in items:
                if isinstance(extra, _Rec):
                    after.append(extra)
                if len(after) >= _LOOKAHEAD or isinstance(extra, Problem):
                    break
            report.problem = _classify(list(history), item, after, expected, prev_hash, torn_before)
            return report
        history.append(item)
        report.records += 1
        report.first_seq = report.first_seq or item.seq
        report.last_seq = item.seq
        report.head = item.hash
        report.closed = item.event == AUDIT_CLOSED
        expected = item.seq + 1
        prev_hash = item.hash
        torn_before = False
    return report
