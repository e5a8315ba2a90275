"""Smoke test: ``bench/bench_core.py --quick --mode legacy`` runs end to end and prints a full table with numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
METRICS = [
    "startup to first tools/list (s)",
    "tools/list median (ms)",
    "call p50 (ms)",
    "call p99 (ms)",
    "throughput, 16 in flight (calls/s)",
    "100 kB result median (ms)",
    "server CPU per call (ms)",
    "peak RSS of server tree (MB)",
]
NUMBER = r"-?\d+(?:\.\d+)?"


def _bench(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<script>`` from the repository root; it must exit 0."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _quick_legacy_run(out_json: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _bench("bench_core.py", "--quick", "--mode", "legacy", "--json", str(out_json), *extra, timeout=180)


@pytest.mark.slow
def test_quick_legacy_run_prints_every_metric_with_numbers(tmp_path: Path) -> None:
    out_json = tmp_path / "result.json"
    proc = _quick_legacy_run(out_json)
    lines = proc.stdout.splitlines()
    for metric in METRICS:
        row = next((line for line in lines if metric in line), None)
        assert row is not None, f"no row for {metric!r} in:\n{proc.stdout}"
        cells = row.split(metric, 1)[1]
        # direct, via gateway and ratio are numbers (not '-' for a phase that measured nothing)
        assert re.match(rf"\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x", cells), f"no numbers in row: {row!r}"
    assert re.search(r"^(PASS|MISS)\s+legacy: p50 added latency per call", proc.stdout, re.M), proc.stdout
    assert re.search(r"^(PASS|MISS)\s+legacy: throughput at 16 in flight", proc.stdout, re.M), proc.stdout

    [result] = json.loads(out_json.read_text(encoding="utf-8"))
    assert result["mode"] == "legacy"
    for side in ("direct", "gateway"):
        summary = result[side]
        assert summary["call_p50_ms"] > 0 and summary["throughput_cps"] > 0, summary
        assert summary["peak_rss_mb"] > 10, "RSS of a Python MCP server tree is well above 10 MB"
    # the gateway tree holds the gateway plus its own copy of the fixture, so it must use more memory
    assert result["gateway"]["peak_rss_mb"] > result["direct"]["peak_rss_mb"]
    assert len(result["raw"]["direct"]["calls"]) == len(result["raw"]["gateway"]["calls"]) == 100


@pytest.mark.slow
def test_byte_relay_stands_in_for_the_gateway(tmp_path: Path) -> None:
    """The floor measurement documented in bench/README.md: the benchmark runs against ``byte_relay.py``."""
    out_json = tmp_path / "relay.json"
    _quick_legacy_run(out_json, "--gateway-cmd", f"{sys.executable} {REPO / 'bench' / 'byte_relay.py'}")
    [result] = json.loads(out_json.read_text(encoding="utf-8"))
    # Every echo answered through the relay, and the relayed tree is the relay plus its own fixture.
    assert len(result["raw"]["gateway"]["calls"]) == 100
    assert result["gateway"]["throughput_cps"] > 0
    assert result["gateway"]["peak_rss_mb"] > result["direct"]["peak_rss_mb"]


def test_instruction_count_harness_answers_calls_in_both_eras() -> None:
    """``count_instructions.py`` drives the in-process gateway (here without valgrind): every call is answered."""
    proc = _bench("count_instructions.py", "--no-count", "--calls", "20", timeout=120)
    assert "legacy: 20 calls answered" in proc.stdout and "2026-07-28: 20 calls answered" in proc.stdout, proc.stdout


@pytest.mark.slow
def test_compare_builds_times_a_tree_against_direct() -> None:
    # "." is the repository (the script runs from its root): a short label the table never wraps
    proc = _bench("compare_builds.py", ".", "--rounds", "2", "--calls", "5", "--warmup", "5", timeout=180)
    rows = {
        line.split()[0]: line.split()[1:]
        for line in proc.stdout.splitlines()
        if line.strip().startswith((". ", "direct"))
    }
    assert set(rows) == {".", "direct"}, proc.stdout
    assert rows["direct"][0] == rows["."][0] == "10"  # 2 rounds x 5 calls on each side
    # the gateway's row: p50, mean, p90 and both added columns are numbers
    assert all(re.fullmatch(NUMBER, cell) for cell in rows["."][1:6]), proc.stdout


@pytest.mark.slow
def test_instances_are_pooled_per_side(tmp_path: Path) -> None:
    """``--instances 2``: two server processes per side, each measured, their samples pooled into one side."""
    out_json = tmp_path / "pooled.json"
    _quick_legacy_run(out_json, "--instances", "2")
    [result] = json.loads(out_json.read_text(encoding="utf-8"))
    assert result["instances"] == 2
    for side in ("direct", "gateway"):
        raw = result["raw"][side]
        assert len(raw["calls"]) == 100, "the quick plan's 100 calls per side, split over both instances"
        assert len(raw["startup"]) == 2, "each instance's own start is timed"
        assert raw["tput_calls"] > 0 and raw["cpu_calls"] == 100
    # Peak memory is per server tree (the largest instance), not the two instances added up.
    assert result["gateway"]["peak_rss_mb"] < 2 * result["direct"]["peak_rss_mb"] + 150
