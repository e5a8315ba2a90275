"""The reference npm MCP server (@modelcontextprotocol/server-everything) for end-to-end tests.

It is installed once into ``tests/.npm/`` (git-ignored) with the ordinary npm client. A missing node or npm is a
test failure with a message saying what to install: CI has them, and skipping would hide a broken setup.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["EVERYTHING_PACKAGE", "NPM_DIR", "everything_entry", "everything_http_command", "everything_stdio"]

NPM_DIR = Path(__file__).resolve().parents[1] / ".npm"
REPO_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
EVERYTHING_PACKAGE = "@modelcontextprotocol/server-everything"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"'{tool}' is not on PATH: install Node.js 18+ with npm (e.g. `apt-get install nodejs npm` or "
            f"https://nodejs.org) to run the server-everything end-to-end tests",
            pytrace=False,
        )
    return path


def everything_entry() -> Path:
    """Path of server-everything's ``dist/index.js``: the one `./run setup` installed (package.json), else
    installed into tests/.npm/ on first use."""
    _need("node")
    pinned = REPO_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    if pinned.exists():
        return pinned
    node_dir = NPM_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything"
    entry = node_dir / "dist" / "index.js"
    if not entry.exists():
        npm = _need("npm")
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_DIR), EVERYTHING_PACKAGE],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not entry.exists():
            pytest.fail(
                f"`npm install {EVERYTHING_PACKAGE}` into {NPM_DIR} failed (exit {done.returncode}); "
                f"check network access to the npm registry:\n{done.stderr[-2000:]}",
                pytrace=False,
            )
    return entry


def everything_stdio() -> dict[str, object]:
    """An upstreams.yaml spec running server-everything over stdio."""
    node = _need("node")
    return {"command": node, "args": [str(everything_entry()), "stdio"]}


def everything_http_command() -> list[str]:
    """The command line that serves server-everything over Streamable HTTP at http://127.0.0.1:$PORT/mcp."""
    node = _need("node")
    return [node, str(everything_entry()), "streamableHttp"]
