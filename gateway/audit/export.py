"""``export``: selected records as JSON Lines (byte-exact, still verifiable) or CSV (one row per record)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO, Literal

from gateway.audit.query import Match

__all__ = ["CSV_COLUMNS", "ExportFormat", "export_csv", "export_jsonl"]

ExportFormat = Literal["jsonl", "csv"]

CSV_COLUMNS = (
    "seq",
    "ts",
    "event",
    "session_id",
    "call_id",
    "identity",
    "upstream",
    "tool",
    "decision",
    "prev",
    "hash",
)
"""Fixed columns; every other field goes, as JSON, into a final ``fields`` column."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_jsonl(matches: Iterable[Match], out: IO[bytes]) -> int:
    """Write each record's stored line unchanged. Returns the number written."""
    count = 0
    for m in matches:
        out.write(m.line.data + b"\n")
        count += 1
    return count


def export_csv(matches: Iterable[Match], out: IO[str]) -> int:
    """Write a header and one row per record. Returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "fields"])
    count = 0
    for m in matches:
        rec = m.record
        row = ["" if rec.get(c) is None else _cell(rec.get(c)) for c in CSV_COLUMNS]
        rest = {k: v for k, v in rec.items() if k not in CSV_COLUMNS}
        row.append(json.dumps(rest, ensure_ascii=False, separators=(",", ":")) if rest else "")
        writer.writerow(row)
        count += 1
    return count


def _cell(value: object) -> str:
    if isinstance(value, str):
        # Spreadsheets run cells starting with these as formulas; a leading quote keeps them text.
        return "'" + value if value[:1] in _FORMULA_START else value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
