"""The on-disk record format and its hash chain.

Each audit file is JSON Lines (UTF-8, ``\\n``-terminated). Every record is one JSON object whose
members come in this order::

    {"seq":42,"ts":"2026-11-25T08:30:00.000001Z","event":"tool_decision", ...fields...,
     "prev":"<sha256 hex of the previous line>","hash":"<sha256 hex of this record without its hash>"}

- ``seq`` counts from 1 and never restarts, also across rotated files.
- ``prev`` is the SHA-256 (hex) of the previous record's line: its exact bytes, without the ``\\n``.
  The first record of the whole log has ``prev`` = 64 zeros. The first record of a rotated file links
  to the last record of the file before it, so the chain runs through every file.
- ``hash`` is the SHA-256 of this record's own bytes with the trailing ``,"hash":"…"`` member removed
  (i.e. of the line as it would read if ``hash`` were not there). It lets ``verify`` name an edited
  record directly, including the final one; ``prev`` makes removing, inserting or reordering records,
  or editing one and recomputing its ``hash``, visible at the next record.

Neither hash is keyed: the chain shows that the log is complete and unaltered relative to its last
record. Anchor the head (``mcp-gateway audit verify`` prints it) elsewhere to protect the end too.

Files are named ``audit-<UTC time of their first record>.jsonl``, e.g.
``audit-2026-11-25T08-30-00-000001.jsonl``, so sorting names sorts them in time.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "FILE_GLOB",
    "GENESIS",
    "RESERVED_KEYS",
    "file_name_for",
    "file_start",
    "format_ts",
    "line_hash",
    "list_files",
    "parse_ts",
    "seal",
    "sealed",
    "unsealed_body",
]

GENESIS = "0" * 64
RESERVED_KEYS = frozenset({"seq", "ts", "event", "prev", "hash"})
FILE_GLOB = "audit-*.jsonl"

_NAME_RE = re.compile(r"^audit-(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{6})(?:-\d+)?\.jsonl$")
_HASH_SUFFIX_LEN = len(',"hash":""}') + 64
_HASH_SUFFIX_RE = re.compile(rb',"hash":"([0-9a-f]{64})"\}$')


def format_ts(when: datetime) -> str:
    """RFC 3339, UTC, microseconds, ``Z``: fixed width, so strings sort like times."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    # Every record formats its time: the date-and-time text is made once per second, not once per record.
    text = _second_text(when.year, when.month, when.day, when.hour, when.minute, when.second)
    return f"{text}.{when.microsecond:06d}Z"


@functools.lru_cache(maxsize=4)
def _second_text(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def parse_ts(text: str) -> datetime:
    """Parse a record's ``ts`` (or any ISO 8601 time; naive times are taken as UTC)."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def file_name_for(first_ts: datetime) -> str:
    """The file name for a file whose first record has time ``first_ts``."""
    return "audit-" + first_ts.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%S-%f") + ".jsonl"


def file_start(path: Path) -> datetime | None:
    """The time of a file's first record, from its name (None for names that don't match)."""
    m = _NAME_RE.match(path.name)
    if m is None:
        return None
    y, mo, d, h, mi, s, us = (int(g) for g in m.groups())
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def list_files(directory: Path) -> list[Path]:
    """Audit files in ``directory``, oldest first."""
    return sorted((p for p in directory.glob(FILE_GLOB) if file_start(p) is not None), key=lambda p: p.name)


def line_hash(line: bytes) -> str:
    """SHA-256 hex of a record line (without its ``\\n``): the next record's ``prev``."""
    return hashlib.sha256(line).hexdigest()


def seal(body: bytes) -> bytes:
    """Append the ``hash`` member to a rendered record ``{...,"prev":"…"}`` (no newline)."""
    return sealed(body)[0]


def sealed(body: bytes) -> tuple[bytes, str]:
    """``seal(body)`` and that line's ``line_hash`` (the next record's ``prev``), in one step for the writer.

    Both hashes start with ``body`` less its closing brace, so that part is hashed once and the state copied.
    """
    head = _sha256(memoryview(body)[:-1])
    whole = head.copy()
    whole.update(b"}")
    suffix = b',"hash":"' + whole.hexdigest().encode("ascii") + b'"}'
    head.update(suffix)
    return body[:-1] + suffix, head.hexdigest()


_sha256 = hashlib.sha256


def unsealed_body(line: bytes) -> tuple[bytes, str] | None:
    """Split a line into (body without hash, stored hash); None when it has no well-formed ``hash`` ending."""
    m = _HASH_SUFFIX_RE.search(line[-_HASH_SUFFIX_LEN:])
    if m is None:
        return None
    return line[:-_HASH_SUFFIX_LEN] + b"}", m.group(1).decode("ascii")
