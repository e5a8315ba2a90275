"""Process hygiene: when the gateway goes (SIGTERM, SIGINT, stdin closed) every upstream process tree goes too."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.gateway_proc import RawStdio, fixture_upstream, pids_gone, start_gateway, time_upstream, write_config

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "stdin-closed"])
def test_shutdown_leaves_no_processes(tmp_path: Path, how: str) -> None:
    """Upstream pids (from status.json) and a grandchild from fx__spawn_child are all gone after shutdown."""
    cfg = write_config(
        tmp_path / "upstreams.yaml", {"fx": fixture_upstream(), "fy": fixture_upstream(), "time": time_upstream()}
    )
    gw = start_gateway(cfg)
    try:
        rpc = RawStdio(gw)
        rpc.initialize()
        status = gw.wait_settled()
        upstream_pids = [u["pid"] for u in status["upstreams"].values()]
        assert all(isinstance(p, int) for p in upstream_pids), status
        reply = rpc.call_tool("fx__spawn_child", {})
        grandchild = int(reply["result"]["content"][0]["text"])
        if how == "stdin-closed":
            assert gw.proc.stdin is not None
            gw.proc.stdin.close()
        else:
            gw.signal(getattr(signal, how))
        pids_gone([*upstream_pids, grandchild], timeout=15)
        if how == "stdin-closed":
            assert gw.wait_exit(timeout=20) == 0, gw.tail()
    finally:
        gw.stop()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "stdin-closed"])
def test_stdio_gateway_exits(tmp_path: Path, how: str) -> None:
    """The stdio gateway process itself exits promptly, even while the client still holds its stdin open."""
    cfg = write_config(tmp_path / "upstreams.yaml", {})
    gw = start_gateway(cfg)
    try:
        rpc = RawStdio(gw)
        rpc.initialize()
        assert "result" in rpc.request("tools/list", {})  # a full round trip: the stdin reader is idle again
        if how == "stdin-closed":
            assert gw.proc.stdin is not None
            gw.proc.stdin.close()
        else:
            gw.signal(getattr(signal, how))
        try:
            code = gw.wait_exit(timeout=6)
        except Exception as exc:
            raise AssertionError(f"the gateway did not exit 6 s after {how}; stderr:\n{gw.tail()}") from exc
        assert code == 0, f"exit code {code}; stderr:\n{gw.tail()}"
    finally:
        gw.stop()


def test_http_gateway_exits_on_sigterm(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "upstreams.yaml", {"fx": fixture_upstream()})
    gw = start_gateway(cfg, http=True)
    try:
        status = gw.wait_settled()
        pid = status["upstreams"]["fx"]["pid"]
        gw.signal(signal.SIGTERM)
        assert gw.wait_exit(timeout=15) == 0, gw.tail()
        pids_gone([pid], timeout=5)
    finally:
        gw.stop()
