"""Small helpers shared by the benchmarks: statistics, process-tree sampling, formatting.

Imported as a top-level module (``bench/`` is ``sys.path[0]`` when a benchmark runs as a script).
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psutil
from rich import box
from rich.console import Console
from rich.table import Table

__all__ = [
    "Row",
    "TreeSampler",
    "compare_table",
    "child_pids",
    "fmt",
    "make_console",
    "median",
    "new_children",
    "percentile",
    "tree_cpu_seconds",
    "tree_rss",
]


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no samples (so a failed phase shows as ``nan`` instead of crashing the run)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 1]; NaN for no samples."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def fmt(value: float, digits: int = 2) -> str:
    """Fixed-point text for a table cell; ``-`` for NaN."""
    return "-" if value != value else f"{value:.{digits}f}"


def make_console(min_width: int = 120) -> Console:
    """A rich console at least ``min_width`` wide, so table rows never wrap when stdout is a pipe."""
    console = Console()
    return console if console.width >= min_width else Console(width=min_width)


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_rss(pid: int) -> int:
    """Resident set size in bytes of a process and all its descendants (0 if it is gone)."""
    total = 0
    try:
        procs = _tree(pid)
    except psutil.NoSuchProcess:
        return 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue  # a child exited between listing and reading: it no longer uses memory
    return total


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its live descendants."""
    total = 0.0
    try:
        procs = _tree(pid)
    except psutil.NoSuchProcess:
        return 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


class TreeSampler:
    """Samples the RSS of named process trees on a background thread and keeps the peak per name.

    A thread (not a task) so that reading /proc never runs on the event loop being measured.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peaks: dict[str, int] = {}
        self._roots: dict[str, set[int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        """Start sampling the tree rooted at ``pid`` under ``name`` (several roots per name are summed)."""
        with self._lock:
            self._roots.setdefault(name, set()).add(pid)
        self._sample_once()

    def unwatch(self, name: str, pid: int) -> None:
        """Stop sampling a tree (its peak so far is kept)."""
        self._sample_once()
        with self._lock:
            self._roots.get(name, set()).discard(pid)

    def sample(self) -> None:
        """Take one sample now (also done automatically every ``interval`` seconds)."""
        self._sample_once()

    def _sample_once(self) -> None:
        with self._lock:
            roots = {name: set(pids) for name, pids in self._roots.items()}
        for name, pids in roots.items():
            rss = sum(tree_rss(pid) for pid in pids)
            with self._lock:
                self.peaks[name] = max(self.peaks.get(name, 0), rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample_once()

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def new_children(before: Iterable[int]) -> list[int]:
    """PIDs of this process's direct children that are not in ``before``."""
    known = set(before)
    return [p.pid for p in psutil.Process().children() if p.pid not in known]


def child_pids() -> set[int]:
    """PIDs of this process's direct children."""
    return {p.pid for p in psutil.Process().children()}


@dataclass(frozen=True)
class Row:
    """One line of a direct-vs-gateway table. ``added_scale`` converts (b - a) to the unit in ``added_unit``."""

    metric: str
    a: float
    b: float
    digits: int = 2
    added_unit: str = "ms"
    added_scale: float = 1.0
    target: str = ""


def compare_table(title: str, rows: Sequence[Row], a_label: str = "direct", b_label: str = "via gateway") -> Table:
    """A rich table: metric, a, b, ratio (b/a), added ((b - a) scaled, with its unit) and a target verdict."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("metric")
    table.add_column(a_label, justify="right")
    table.add_column(b_label, justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("added", justify="right")
    table.add_column("target")
    for row in rows:
        ratio = row.b / row.a if row.a else float("nan")
        added = "" if not row.added_unit else f"{fmt((row.b - row.a) * row.added_scale)} {row.added_unit}"
        table.add_row(row.metric, fmt(row.a, row.digits), fmt(row.b, row.digits), f"{fmt(ratio)}x", added, row.target)
    return table
