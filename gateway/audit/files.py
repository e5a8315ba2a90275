"""Blocking file work for the audit writer: appending, rotating, fsyncing, and finding where the chain ends.

Everything here runs in a worker thread (``anyio.to_thread.run_sync``), one call at a time.
"""

from __future__ import annotations

import json
import operator
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from gateway.audit.chain import GENESIS, file_name_for, file_start, line_hash, list_files
from gateway.audit.settings import RotationSettings

__all__ = ["AuditFiles", "ChainHead", "PendingLine", "WriteFailed", "find_head", "last_complete_line"]

_TAIL_CHUNK = 64 * 1024
_DATA = operator.attrgetter("data")  # PendingLine.data, without a Python frame per line (every tool call writes)


@dataclass(slots=True)
class PendingLine:
    """A rendered, sealed record waiting to be written (not frozen: a frozen init costs 3x, and four are made per
    tool call)."""

    seq: int
    when: datetime
    data: bytes  # without the newline


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where the chain ends on disk: the next record continues from here."""

    seq: int  # seq of the last complete record (0 for an empty log)
    prev: str  # its line hash (GENESIS for an empty log)
    path: Path | None  # the newest file
    appendable: bool  # False when that file ends in a torn line (or is empty): start a new file


class WriteFailed(Exception):
    """Writing stopped after ``written`` lines of a batch; ``cause`` is the OSError."""

    def __init__(self, written: int, cause: OSError) -> None:
        super().__init__(f"{cause.strerror or cause} ({cause.filename or 'audit file'})")
        self.written = written
        self.cause = cause


def last_complete_line(path: Path) -> tuple[bytes | None, bool]:
    """The last ``\\n``-terminated line of ``path`` (without newline) and whether a torn tail follows it.

    Reads backwards in chunks, so a large file costs only its tail.
    """
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None, False
        chunk = _TAIL_CHUNK
        while True:
            start = max(size - chunk, 0)
            f.seek(start)
            data = f.read(size - start)
            torn = not data.endswith(b"\n")
            end = data.rfind(b"\n")  # the newline closing the last complete line
            if end == -1:
                if start == 0:
                    return None, torn
                chunk *= 2
                continue
            begin = data.rfind(b"\n", 0, end)
            if begin == -1 and start > 0:
                chunk *= 2
                continue
            return data[begin + 1 : end], torn


def find_head(directory: Path) -> ChainHead:
    """Find the last complete record across the audit files (newest first, skipping files with none)."""
    files = list_files(directory)
    newest = files[-1] if files else None
    appendable = True
    for index, path in enumerate(reversed(files)):
        line, torn = last_complete_line(path)
        if index == 0:
            appendable = line is not None and not torn
        if line is None:
            continue
        try:
            record = json.loads(line)
            seq = int(record["seq"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: the last record is not a valid audit record ({exc})") from None
        return ChainHead(seq=seq, prev=line_hash(line), path=newest, appendable=appendable)
    return ChainHead(seq=0, prev=GENESIS, path=newest, appendable=False)


class AuditFiles:
    """The open audit file: appends lines, rotates by day and size, fsyncs on request."""

    def __init__(self, directory: Path, rotation: RotationSettings, *, fsync_on_rotate: bool = True) -> None:
        self.directory = directory
        self.rotation = rotation
        self.fsync_on_rotate = fsync_on_rotate
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._start: datetime | None = None
        self._latest_name_time: datetime | None = None
        self._dirty = False  # written since the last fsync

    @property
    def path(self) -> Path | None:
        return self._path

    def resume(self) -> ChainHead:
        """Create the directory if needed and find the chain head; reopen the newest file when it ends cleanly."""
        self.directory.mkdir(parents=True, exist_ok=True)
        head = find_head(self.directory)
        if head.path is not None:
            self._latest_name_time = file_start(head.path)
            if head.appendable:
                self._open(head.path)
        return head

    def write(self, lines: list[PendingLine], sync: bool) -> None:
        """Append ``lines`` in order (rotating as needed), then fsync if ``sync``. Raises ``WriteFailed``."""
        written = 0
        if self.fits(lines):
            self.append(lines)  # the common case: one system call
            written = len(lines)
        try:
            for item in lines[written:]:
                data = item.data + b"\n"
                fd = self._rotate_if_needed(item.when, len(data))
                _write_all(fd, data)
                self._size += len(data)
                self._dirty = True
                written += 1
            if sync:
                self.sync()
        except OSError as exc:
            # A partial line may be on disk now; never append after it (it stays a torn, ignored fragment).
            self._close_quietly()
            raise WriteFailed(written, exc) from exc

    def append(self, lines: list[PendingLine]) -> None:
        """Append ``lines``, which ``fits`` said go to the open file, with one system call. Raises ``WriteFailed``."""
        assert self._fd is not None
        data = b"\n".join(map(_DATA, lines)) + b"\n"
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            # Count what reached the file: complete lines are written, a torn one is not (and is never appended to).
            try:
                reached = max(0, os.fstat(self._fd).st_size - self._size)
            except OSError:
                reached = 0
            self._close_quietly()
            raise WriteFailed(data.count(b"\n", 0, reached), exc) from exc
        self._size += len(data)
        self._dirty = True

    def fits(self, lines: list[PendingLine]) -> bool:
        """True when ``lines`` go to the open file without a rotation (so writing them never opens a file)."""
        if self._fd is None or self._start is None or not lines:
            return False
        if self.rotation.daily and (
            lines[0].when.date() != self._start.date() or lines[-1].when.date() != self._start.date()
        ):
            return False
        max_bytes = self.rotation.max_bytes
        return max_bytes is None or self._size + sum(map(len, map(_DATA, lines))) + len(lines) <= max_bytes

    def sync(self) -> None:
        """fsync the current file if anything was written since the last fsync."""
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
            self._dirty = False

    def close(self) -> None:
        """fsync (when configured) and close the current file."""
        if self._fd is not None:
            try:
                if self.fsync_on_rotate:
                    self.sync()
            finally:
                os.close(self._fd)
                self._fd = None

    def _rotate_if_needed(self, when: datetime, size: int) -> int:
        """The fd to write the next ``size`` bytes to, opening a new file when a rotation rule says so."""
        if self._fd is not None and self._start is not None:
            new_day = self.rotation.daily and when.date() != self._start.date()
            max_bytes = self.rotation.max_bytes
            too_big = max_bytes is not None and self._size > 0 and self._size + size > max_bytes
            if not (new_day or too_big):
                return self._fd
            self.close()
        # Names must sort after every existing file even if the clock stepped back.
        name_time = when
        if self._latest_name_time is not None and name_time <= self._latest_name_time:
            name_time = self._latest_name_time + timedelta(microseconds=1)
        path = self.directory / file_name_for(name_time)
        fd = self._open(path, create=True)
        self._latest_name_time = name_time
        if self.fsync_on_rotate:
            _fsync_dir(self.directory)
        return fd

    def _open(self, path: Path, *, create: bool = False) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_EXCL if create else 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
        self._fd = fd
        self._path = path
        self._size = os.fstat(fd).st_size
        self._start = file_start(path)
        self._dirty = False
        return fd

    def _close_quietly(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                # Already failing; the original error is the one to report.
                self._dirty = False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(directory: Path) -> None:
    # Makes a new file's directory entry durable (POSIX); not possible on Windows.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
