"""Streaming reads of the audit directory: lines in order, the last N records, and following new ones.

Nothing here loads a whole file: files are read line by line with a buffered reader.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.audit.chain import list_files

__all__ = ["RawLine", "follow", "iter_lines", "iter_log", "parse", "tail"]


@dataclass(frozen=True, slots=True)
class RawLine:
    """One line of an audit file, as stored (without its newline)."""

    path: Path
    line_no: int  # 1-based
    data: bytes
    complete: bool  # False for a torn final line (no newline: a crash mid-write, or truncation)


def iter_lines(path: Path) -> Iterator[RawLine]:
    """Every line of ``path`` in order."""
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if line.endswith(b"\n"):
                yield RawLine(path, number, line[:-1], True)
            else:
                yield RawLine(path, number, line, False)


def iter_log(directory: Path, files: Iterable[Path] | None = None) -> Iterator[RawLine]:
    """Every line of every audit file (or of ``files``), oldest first."""
    for path in list_files(directory) if files is None else files:
        yield from iter_lines(path)


def parse(line: RawLine) -> dict[str, Any] | None:
    """The record in ``line``, or None for a torn or unparsable line."""
    if not line.complete:
        return None
    try:
        record = json.loads(line.data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def tail(directory: Path, n: int) -> list[RawLine]:
    """The last ``n`` complete lines, reading only as many of the newest files as needed."""
    if n <= 0:
        return []
    found: deque[RawLine] = deque()
    for path in reversed(list_files(directory)):
        window: deque[RawLine] = deque(maxlen=n)
        window.extend(line for line in iter_lines(path) if line.complete)
        found.extendleft(reversed(window))
        if len(found) >= n:
            break
    while len(found) > n:
        found.popleft()
    return list(found)


def follow(
    directory: Path,
    *,
    start_after: RawLine | None = None,
    poll: float = 0.25,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[RawLine]:
    """Yield complete lines appended after ``start_after`` (or after the current end), forever, across rotations.

    Polls every ``poll`` seconds when there is nothing new; returns when ``stop()`` is true.
    A torn line is held back until its newline arrives.
    """
    if start_after is not None:
        path: Path | None = start_after.path
        offset = _offset_after(start_after)
    else:
        files = list_files(directory)
        path = files[-1] if files else None
        offset = path.stat().st_size if path is not None else 0
    while not stop():
        progressed = False
        if path is not None:
            with path.open("rb") as f:
                f.seek(offset)
                for chunk in iter(f.readline, b""):
                    if not chunk.endswith(b"\n"):
                        break  # torn for now; re-read it whole on the next poll
                    offset += len(chunk)
                    yield RawLine(path, 0, chunk[:-1], True)  # line numbers are not tracked while following
                    progressed = True
        newer = [p for p in list_files(directory) if path is None or p.name > path.name]
        if newer and not progressed:
            # Only move on once the current file has nothing more: rotation closes it for good.
            path, offset = newer[0], 0
            continue
        if not progressed:
            sleep(poll)


def _offset_after(line: RawLine) -> int:
    offset = 0
    with line.path.open("rb") as f:
        for number, chunk in enumerate(f, start=1):
            offset += len(chunk)
            if number >= line.line_no:
                break
    return offset
