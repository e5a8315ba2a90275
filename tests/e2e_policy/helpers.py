"""Helpers for the policy/approval end-to-end tests: a test policy, a scripted approver, CLI and record access.

Each test gets its own folder (config, ``policies/``, state dir, the fixture's call record), and talks to a real
``mcp-gateway serve`` spawned over stdio by the SDK ``Client``. Every client is pinned to an era (``ERAS``).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client import ClientRequestContext

from tests.support.gateway_proc import GATEWAY_BIN, fixture_upstream, read_record, write_config

__all__ = [
    "ADD_WHY",
    "DELETE_WHY",
    "ERAS",
    "SECRET_WHY",
    "POLICY",
    "Answerer",
    "PolicyEnv",
    "cli",
    "cli_json",
    "connect",
    "make_env",
    "new_tag",
    "result_text",
    "visible_tools",
]

ERAS = ["legacy", "2026-07-28"]
WAIT_SECONDS = 30.0

ADD_WHY = "Adding numbers in this test needs a person's approval."
DELETE_WHY = "Deleting everything is never allowed in this test."
SECRET_WHY = "Files ending in .secret are off limits in this test."

# prompt for `add`, deny `delete_all` outright (hidden), deny `write_file` only for *.secret (visible),
# allow `echo`. The justifications are distinctive so tests can find them in results.
POLICY = f"""\
default_decision: allow
rules:
  - id: add-needs-approval
    match: {{upstream: fx, tool: add}}
    decision: prompt
    justification: {ADD_WHY}
  - id: no-delete-all
    match: {{upstream: fx, tool: delete_all}}
    decision: deny
    justification: {DELETE_WHY}
  - id: no-secret-files
    match:
      upstream: fx
      tool: write_file
      arguments:
        path: {{glob: "*.secret"}}
    decision: deny
    justification: {SECRET_WHY}
  - id: echo-flows
    match: {{upstream: fx, tool: echo}}
    decision: allow
    justification: Echo is harmless.
"""


@dataclass(frozen=True)
class PolicyEnv:
    """One gateway folder: config, ``policies/``, state dir and the fixture's call record.

    ``url`` is set when a gateway serves it over HTTP; otherwise each client spawns its own gateway over stdio.
    """

    config: Path
    record: Path
    url: str | None = None

    @property
    def state_dir(self) -> Path:
        return self.config.parent / "state"

    @property
    def always_file(self) -> Path:
        return self.state_dir / "always-allow.yaml"

    def calls(self, tool: str | None = None, tag: int | str | None = None) -> list[dict[str, Any]]:
        """The tools/calls the fixture received: of ``tool``, with an argument equal to ``tag`` (or its text)."""
        out = []
        for c in read_record(self.record):
            args = c.get("arguments") or {}
            if tool is not None and c.get("tool") != tool:
                continue
            if tag is not None and not {tag, str(tag)} & {v for v in args.values() if isinstance(v, int | str)}:
                continue
            out.append(c)
        return out

    def params(self) -> StdioServerParameters:
        """The gateway over stdio, as an IDE would spawn it."""
        return StdioServerParameters(
            command=GATEWAY_BIN, args=["serve", "--config", str(self.config), "--log-level", "warning"]
        )


def make_env(tmp_path: Path, approvals: dict[str, Any] | None = None, policy: str = POLICY) -> PolicyEnv:
    """Write ``upstreams.yaml`` (the fixture as ``fx``, with a call record) and ``policies/test.yaml``."""
    record = tmp_path / "record.jsonl"
    gateway: dict[str, Any] = {}
    if approvals is not None:
        gateway["approvals"] = approvals
    config = write_config(tmp_path / "upstreams.yaml", {"fx": fixture_upstream(record=record)}, gateway, policy=policy)
    return PolicyEnv(config=config, record=record)


_tags = itertools.count(1000)


def new_tag() -> int:
    """A number no other test in this run uses: put it in the arguments to find this test's calls in a record."""
    return next(_tags)


@dataclass
class Answerer:
    """An elicitation callback that answers every approval question the same scripted way, and counts them."""

    decision: str = "allow_once"
    action: str = "accept"
    reason: str | None = None
    whole_tool: bool = False
    questions: list[str] = field(default_factory=list)

    async def __call__(self, ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.questions.append(params.message)
        if self.action != "accept":
            return types.ElicitResult(action=self.action)  # type: ignore[arg-type]
        content: dict[str, Any] = {"decision": self.decision, "whole_tool": self.whole_tool}
        if self.reason is not None:
            content["reason"] = self.reason
        return types.ElicitResult(action="accept", content=content)

    @property
    def asked(self) -> int:
        return len(self.questions)


@asynccontextmanager
async def connect(env: PolicyEnv, mode: str, answerer: Answerer | None = None) -> AsyncIterator[Client]:
    """A client of ``mode`` (over HTTP if ``env.url``, else on a fresh stdio gateway).

    Without ``answerer`` the client declares no elicitation, so the gateway cannot ask it.
    """
    kwargs: dict[str, Any] = {}
    if answerer is not None:
        kwargs["elicitation_callback"] = answerer
    # A distinct client name per client: a modern HTTP client's session is its identity + client info.
    info = types.Implementation(name=f"e2e-policy-{uuid.uuid4().hex[:8]}", version="1.0")
    target: str | StdioServerParameters = env.url if env.url is not None else env.params()
    async with Client(target, mode=mode, cache=None, client_info=info, **kwargs) as client:
        await visible_tools(client, wait_for="fx__echo")
        yield client


async def visible_tools(client: Client, wait_for: str | None = None) -> list[str]:
    """Every tool name the client sees; with ``wait_for``, poll until that tool appears (upstreams start late)."""
    with anyio.fail_after(WAIT_SECONDS):
        while True:
            names: list[str] = []
            cursor: str | None = None
            while True:
                page = await client.list_tools(cursor=cursor, cache_mode="refresh")
                names += [t.name for t in page.tools]
                cursor = page.next_cursor
                if cursor is None:
                    break
            if wait_for is None or wait_for in names:
                return names
            await anyio.sleep(0.1)


def result_text(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def cli(env: PolicyEnv, *args: str, check: bool = True) -> str:
    """Run ``mcp-gateway <args> --config CFG`` in another process (without blocking the loop); its stdout."""
    proc = await anyio.run_process(
        [GATEWAY_BIN, *args, "--config", str(env.config)], cwd=str(env.config.parent), check=False
    )
    out = proc.stdout.decode("utf-8", errors="replace")
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", errors="replace")
        raise AssertionError(f"mcp-gateway {' '.join(args)} exited {proc.returncode}:\n{out}\n{err}")
    return out


async def cli_json(env: PolicyEnv, *args: str) -> Any:
    return json.loads(await cli(env, *args, "--json"))
