"""``mcp-gateway upstreams check NAME``: start one upstream on its own, list what it offers, report problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio

from gateway.config.loader import LoadedConfig
from gateway.errors import ConfigError
from gateway.upstreams.catalog import expose, tool_visible
from gateway.upstreams.connection import UpstreamConnection
from gateway.upstreams.secrets import SecretResolver

__all__ = ["CheckReport", "check_upstream"]


@dataclass(slots=True)
class CheckReport:
    name: str
    ok: bool
    transport: str
    state: str
    error: str | None = None
    protocol: str | None = None
    server: str | None = None
    tools: list[str] = field(default_factory=list)
    hidden_tools: list[str] = field(default_factory=list)
    prompts: int = 0
    resources: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


async def check_upstream(config: LoadedConfig, name: str, resolver: SecretResolver | None = None) -> CheckReport:
    """Connect once (no restarts), list everything, disconnect. Never raises for upstream problems."""
    spec = config.file.upstreams.get(name)
    if spec is None:
        known = ", ".join(sorted(config.file.upstreams)) or "none"
        raise ConfigError(f"no upstream named '{name}' (known upstreams: {known})", path=str(config.path))
    spec = spec.model_copy(update={"enabled": True, "max_restarts": 1})
    changed = anyio.Event()

    async def on_change(conn: UpstreamConnection) -> None:
        changed.set()

    conn = UpstreamConnection(name, spec, cwd=config.upstream_cwd(name), on_change=on_change, resolver=resolver)
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.run)
        with anyio.move_on_after(spec.startup_timeout + 2):
            await conn.wait_settled()
        report = CheckReport(
            name=name,
            ok=conn.state == "ready",
            transport=conn.transport,
            state=conn.state,
            error=conn.error,
            protocol=conn.protocol,
            server=f"{conn.server_info.name} {conn.server_info.version}" if conn.server_info else None,
        )
        if conn.state == "ready":
            ns = spec.namespace(name)
            for tool in conn.catalogue.tools:
                (report.tools if tool_visible(spec, tool.name) else report.hidden_tools).append(expose(ns, tool.name))
            report.prompts = len(conn.catalogue.prompts)
            report.resources = len(conn.catalogue.resources) + len(conn.catalogue.templates)
        elif conn.state == "starting":
            report.error = "did not finish starting in time (startup_timeout)"
        conn.stop()
        tg.cancel_scope.cancel()
    return report
