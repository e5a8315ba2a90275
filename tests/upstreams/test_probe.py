"""``protocol: auto`` pays the era probe at most once per upstream (the answer is remembered across restarts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.models import StdioUpstream
from gateway.upstreams.connection import UpstreamConnection
from gateway.upstreams.probe import ProbeCache

pytestmark = pytest.mark.anyio


async def _noop(conn: UpstreamConnection) -> None:
    return None


def _conn(tmp_path: Path, cache: ProbeCache, **spec: object) -> UpstreamConnection:
    upstream = StdioUpstream.model_validate({"command": "old-server", "args": ["--x"], **spec})
    return UpstreamConnection("old", upstream, cwd=tmp_path, on_change=_noop, probe_cache=cache)


async def test_auto_remembers_a_handshake_era_server_across_gateway_restarts(tmp_path: Path) -> None:
    """After one connection negotiated 2025-11-25, later connections (even from a new process) skip the probe."""
    cache = ProbeCache(tmp_path)
    assert await _conn(tmp_path, cache)._mode() == "auto"
    await cache.remember("old", "old-server\0--x", "2025-11-25")
    assert await _conn(tmp_path, cache)._mode() == "legacy"
    fresh = ProbeCache(tmp_path)  # what a restarted gateway reads from <state_dir>/protocols.json
    assert await _conn(tmp_path, fresh)._mode() == "legacy"


async def test_a_changed_command_is_probed_again(tmp_path: Path) -> None:
    cache = ProbeCache(tmp_path)
    await cache.remember("old", "old-server\0--x", "2025-11-25")
    other = UpstreamConnection(
        "old", StdioUpstream(command="new-server"), cwd=tmp_path, on_change=_noop, probe_cache=cache
    )
    assert await other._mode() == "auto"


async def test_modern_servers_keep_auto_and_pinned_modes_win(tmp_path: Path) -> None:
    cache = ProbeCache(tmp_path)
    await cache.remember("old", "old-server\0--x", "2026-07-28")
    assert await _conn(tmp_path, cache)._mode() == "auto"
    assert await _conn(tmp_path, cache, protocol="legacy")._mode() == "legacy"
    assert await _conn(tmp_path, cache, protocol="2025-11-25")._mode() == "legacy"
    assert await _conn(tmp_path, cache, protocol="2026-07-28")._mode() == "2026-07-28"
