"""Audit trail benchmarks.

(a) cost of one ``AuditLog.emit``: durable with fsync, durable without fsync, and non-durable;
(b) ``audit query`` throughput on a generated, chained log (default 200 MB; ``--size 1GB`` for the full run).

Run: ``.venv/bin/python bench/bench_audit.py [--size 1GB] [--emits 2000] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
from rich.console import Console
from rich.table import Table

from gateway.audit.generate import generate_log
from gateway.audit.query import RecordFilter, query
from gateway.audit.settings import AuditSettings
from gateway.audit.verify import verify
from gateway.audit.writer import AuditLog

T = TypeVar("T")
console = Console()
_UNITS = {"KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "B": 1}


def parse_size(text: str) -> int:
    t = text.strip().upper()
    for unit, factor in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * factor)
    return int(t)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _emit_costs(directory: Path, n: int, *, fsync: bool, durable: bool) -> list[float]:
    fields = {
        "call_id": "c-000001",
        "session_id": "s-1",
        "identity": "alice",
        "upstream": "github",
        "tool": "create_issue",
    }
    samples: list[float] = []
    async with AuditLog(directory, AuditSettings(fsync=fsync)) as audit:
        for i in range(n):
            start = time.perf_counter()
            await audit.emit("tool_decision", {**fields, "decision": "allow", "i": i}, durable=durable)
            samples.append((time.perf_counter() - start) * 1e6)
    return samples


def bench_emit(root: Path, n: int) -> None:
    table = Table("emit", "n", "median µs", "p99 µs")
    for label, fsync, durable in (
        ("durable, fsync on", True, True),
        ("durable, fsync off", False, True),
        ("non-durable", True, False),
    ):
        directory = Path(tempfile.mkdtemp(dir=root))
        samples = anyio.run(lambda: _emit_costs(directory, n, fsync=fsync, durable=durable))  # noqa: B023
        table.add_row(label, str(n), f"{statistics.median(samples):.0f}", f"{_percentile(samples, 0.99):.0f}")
    console.print(table)


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_query(root: Path, size: int) -> None:
    directory = root / "log"
    console.print(f"generating a {size / 1e6:.0f} MB chained log in {directory} ...")
    (records, written), seconds = _timed(lambda: generate_log(directory, size_bytes=size))
    console.print(
        f"  {records:,} records, {written / 1e6:.0f} MB in {seconds:.1f}s ({written / 1e6 / seconds:.0f} MB/s)"
    )
    cases: list[tuple[str, RecordFilter]] = [
        ("tool + decision", RecordFilter(tool="delete_file", decision="deny")),
        ("session", RecordFilter(session="s-1-00007")),
        ("free text", RecordFilter(text="C-000001234")),
        ("no match", RecordFilter(identity="mallory")),
    ]
    table = Table("query", "matches", "seconds", "MB/s")
    for label, flt in cases:
        count, secs = _timed(lambda flt=flt: sum(1 for _ in query(directory, flt)))  # type: ignore[misc]
        table.add_row(label, f"{count:,}", f"{secs:.2f}", f"{written / 1e6 / secs:.0f}")
    report, secs = _timed(lambda: verify(directory))
    table.add_row(
        "verify (full chain)", f"{report.records:,} ok={report.ok}", f"{secs:.2f}", f"{written / 1e6 / secs:.0f}"
    )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="200MB", help="generated log size for the query benchmark (e.g. 1GB)")
    parser.add_argument("--emits", type=int, default=2000, help="emits per emit benchmark case")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    parser.add_argument("--skip-emit", action="store_true")
    parser.add_argument("--skip-query", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        if not args.skip_emit:
            bench_emit(root, args.emits)
        if not args.skip_query:
            bench_query(root, parse_size(args.size))


if __name__ == "__main__":
    main()
