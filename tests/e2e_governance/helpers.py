"""Small helpers for the governance end-to-end tests: env, CLI runs, approval answers, audit and leak scans."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.client import ClientRequestContext

from tests.support.gateway_proc import GATEWAY_BIN

__all__ = [
    "Answers",
    "audit_records",
    "cli",
    "connect",
    "creds_set",
    "files_containing",
    "run_audit_cli",
    "text_of",
]


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``mcp-gateway <args>`` with the test's environment plus ``env``; output captured."""
    return subprocess.run(
        [GATEWAY_BIN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "300", **(env or {})},
    )


def run_audit_cli(*args: str) -> tuple[int, str, str]:
    """``mcp-gateway audit <args>`` in-process (typer's CliRunner): (exit code, stdout, stderr).

    The audit commands only read files, so this is the real command without a second of interpreter start-up.
    """
    from typer.testing import CliRunner

    from gateway.cli.app import app

    result = CliRunner().invoke(app, ["audit", *args], env={"COLUMNS": "300"})
    return result.exit_code, result.stdout, result.stderr


def creds_set(config: Path, name: str, value: str, env: dict[str, str]) -> None:
    """``mcp-gateway creds set NAME --config CFG`` with the value on stdin, as a person would pipe it."""
    done = cli("creds", "set", name, "--config", str(config), env=env, stdin=value)
    assert done.returncode == 0, done.stderr


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


@dataclass
class Answers:
    """An elicitation callback that answers approval forms from a queue of decisions (FIFO)."""

    decisions: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    async def elicit(self, ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        if not self.decisions:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"decision": self.decisions.pop(0)})


@asynccontextmanager
async def connect(url: str, mode: str, answers: Answers | None = None) -> AsyncIterator[Client]:
    """A Client in ``mode`` whose elicitations are answered by ``answers`` (declined when it runs out)."""
    ans = answers or Answers()
    async with Client(url, mode=mode, elicitation_callback=ans.elicit, cache=None) as client:  # type: ignore[arg-type]
        yield client


def audit_records(directory: Path) -> list[dict[str, Any]]:
    """Every complete JSON record in the audit files of ``directory`` (torn lines skipped)."""
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def files_containing(needle: str, paths: list[Path]) -> list[str]:
    """Which of ``paths`` (files, or every file under a directory) contain ``needle`` as bytes."""
    hits: list[str] = []
    raw = needle.encode()
    for p in paths:
        files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
        hits += [str(f) for f in files if f.exists() and raw in f.read_bytes()]
    return hits
