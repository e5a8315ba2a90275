from __future__ import annotations

from pathlib import Path

import pytest

from tests.admin.helpers import Dirs


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dirs:
    # Never read the real /etc/mcp-gateway or ~/.config while testing.
    monkeypatch.delenv("MCP_GATEWAY_SYSTEM_DIR", raising=False)
    monkeypatch.delenv("MCP_GATEWAY_PROFILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    d = Dirs(tmp_path)
    for p in (d.user, d.project, d.system):
        p.mkdir(parents=True)
    return d
