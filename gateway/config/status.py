"""``<state_dir>/status.json``: what the running gateway reports about itself and its upstreams.

The gateway rewrites the file atomically whenever an upstream changes state; the CLI reads it to show live state.
A status whose ``pid`` is no longer alive is stale (the gateway crashed or was killed): ``read_status`` returns
None for it, as if no gateway were running, unless asked for stale records.
"""

from __future__ import annotations

import errno
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.config.edit import atomic_write_text

__all__ = [
    "STATUS_FILE",
    "GatewayStatus",
    "UpstreamState",
    "UpstreamStatus",
    "pid_alive",
    "read_status",
    "status_path",
    "write_status",
]

STATUS_FILE = "status.json"

UpstreamState = Literal["starting", "ready", "failed", "restarting", "disabled", "stopped"]


class UpstreamStatus(BaseModel):
    """One upstream as the running gateway sees it."""

    model_config = ConfigDict(extra="forbid")

    state: UpstreamState
    transport: Literal["stdio", "http"]
    tools: int = Field(default=0, ge=0, description="Tools exposed (after enabled/disabled filters).")
    error: str | None = Field(default=None, description="Why it failed or is disabled; safe to show (no secrets).")
    protocol: str | None = Field(default=None, description="Negotiated MCP protocol version.")
    pid: int | None = Field(default=None, description="The stdio server's process id.")


class GatewayStatus(BaseModel):
    """The whole of ``status.json``."""

    model_config = ConfigDict(extra="forbid")

    pid: int
    started: datetime
    updated: datetime = Field(default_factory=lambda: datetime.now(UTC))
    upstreams: dict[str, UpstreamStatus] = Field(default_factory=dict)
    stale: bool = Field(default=False, exclude=True, description="Set by read_status: the pid is not alive.")


def status_path(state_dir: Path) -> Path:
    """Where the status file lives inside ``state_dir``."""
    return state_dir / STATUS_FILE


def write_status(state_dir: Path, status: GatewayStatus) -> None:
    """Write ``status`` atomically (blocking: call via ``anyio.to_thread.run_sync`` from the gateway)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(status_path(state_dir), status.model_dump_json(indent=2) + "\n", mode=0o600)


def read_status(state_dir: Path, *, include_stale: bool = False) -> GatewayStatus | None:
    """The running gateway's status, or None when no gateway is running.

    None also for a missing or unreadable file. A file left by a dead gateway is returned with ``stale=True``
    only when ``include_stale``.
    """
    try:
        raw = status_path(state_dir).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return None  # unreadable (permissions): the CLI shows "not running" rather than guessing
    try:
        status = GatewayStatus.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None  # written by another gateway version or truncated by hand; treat as absent
    if not pid_alive(status.pid):
        if not include_stale:
            return None
        status.stale = True
    return status


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True
