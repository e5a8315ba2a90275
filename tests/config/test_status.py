"""status.json: atomic write, read back, stale detection."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from gateway.config.status import GatewayStatus, UpstreamStatus, read_status, status_path, write_status


def make_status(pid: int) -> GatewayStatus:
    now = datetime.now(UTC)
    return GatewayStatus(
        pid=pid,
        started=now,
        updated=now,
        upstreams={
            "git": UpstreamStatus(state="ready", transport="stdio", tools=12, protocol="2025-11-25", pid=4242),
            "web": UpstreamStatus(state="failed", transport="http", error="connection refused"),
        },
    )


def test_round_trip_for_live_pid(tmp_path: Path) -> None:
    write_status(tmp_path / "state", make_status(os.getpid()))
    status = read_status(tmp_path / "state")
    assert status is not None and not status.stale
    assert status.upstreams["git"].tools == 12
    assert status.upstreams["web"].error == "connection refused"
    assert "stale" not in status_path(tmp_path / "state").read_text()


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(proc.stdout)


def test_dead_pid_is_stale(tmp_path: Path) -> None:
    write_status(tmp_path, make_status(dead_pid()))
    assert read_status(tmp_path) is None
    stale = read_status(tmp_path, include_stale=True)
    assert stale is not None and stale.stale


def test_missing_or_corrupt_is_none(tmp_path: Path) -> None:
    assert read_status(tmp_path) is None
    status_path(tmp_path).write_text("{not json")
    assert read_status(tmp_path) is None
    status_path(tmp_path).write_text('{"pid": 1, "bogus": true}')
    assert read_status(tmp_path) is None
