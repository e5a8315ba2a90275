"""All upstreams of one gateway: started in parallel, supervised independently, reloaded by diff."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import structlog

from gateway.config.loader import LoadedConfig
from gateway.errors import UnknownToolError
from gateway.upstreams.catalog import Catalog, UpstreamView, build_catalog
from gateway.upstreams.connection import UpstreamConnection
from gateway.upstreams.probe import ProbeCache
from gateway.upstreams.secrets import SecretResolver

__all__ = ["UpstreamPool"]

log = structlog.get_logger("gateway.pool")

EventCallback = Callable[[str, dict[str, Any]], Awaitable[None]]


class UpstreamPool:
    """Owns one ``UpstreamConnection`` per enabled upstream and the merged ``Catalog``."""

    def __init__(
        self,
        config: LoadedConfig,
        *,
        resolver: SecretResolver | None = None,
        on_catalog_change: Callable[[set[str]], Awaitable[None]] | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.config = config
        self._resolver = resolver
        self._on_catalog_change = on_catalog_change
        self._on_event = on_event
        self._probe = ProbeCache(config.state_dir)
        self.connections: dict[str, UpstreamConnection] = {}
        self.catalog = Catalog()
        self._tg: anyio.abc.TaskGroup | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[UpstreamPool]:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for name in self.config.file.upstreams:
                self._start(name)
            try:
                yield self
            finally:
                for conn in self.connections.values():
                    conn.stop()
                self._tg = None

    def _start(self, name: str) -> None:
        assert self._tg is not None
        spec = self.config.file.upstreams[name]
        conn = UpstreamConnection(
            name,
            spec,
            cwd=self.config.upstream_cwd(name),
            on_change=self._connection_changed,
            resolver=self._resolver,
            probe_cache=self._probe,
            on_event=self._on_event,
        )
        self.connections[name] = conn
        self._tg.start_soon(conn.run, name=f"upstream:{name}")

    async def wait_settled(self, limit: float) -> None:
        """Wait (bounded) until every upstream has come up or failed once."""
        with anyio.move_on_after(limit):
            for conn in list(self.connections.values()):
                await conn.wait_settled()

    def get(self, name: str) -> UpstreamConnection:
        conn = self.connections.get(name)
        if conn is None:
            raise UnknownToolError(f"Unknown upstream: {name}")
        return conn

    async def _connection_changed(self, conn: UpstreamConnection) -> None:
        await self.rebuild()

    async def rebuild(self) -> None:
        views = [
            UpstreamView(
                name=c.name,
                spec=c.spec,
                tools=c.catalogue.tools,
                prompts=c.catalogue.prompts,
                resources=c.catalogue.resources,
                templates=c.catalogue.templates,
            )
            for c in self.connections.values()
            if c.state == "ready"
        ]
        old = self.catalog
        new = build_catalog(views)
        self.catalog = new
        kinds: set[str] = set()
        if _tool_sig(old) != _tool_sig(new):
            kinds.add("tools")
        if {k: v[2] for k, v in old.prompts.items()} != {k: v[2] for k, v in new.prompts.items()}:
            kinds.add("prompts")
        if old.resources.keys() != new.resources.keys() or [t[2] for t in old.templates] != [
            t[2] for t in new.templates
        ]:
            kinds.add("resources")
        if self._on_catalog_change is not None:
            await self._on_catalog_change(kinds)

    async def apply(self, config: LoadedConfig) -> dict[str, list[str]]:
        """Hot reload: start added upstreams, stop removed ones, restart changed ones."""
        async with self._lock:
            old = self.config.file.upstreams
            new = config.file.upstreams
            added = [n for n in new if n not in old]
            removed = [n for n in old if n not in new]
            changed = [n for n in new if n in old and new[n] != old[n]]
            self.config = config
            for name in removed + changed:
                conn = self.connections.pop(name, None)
                if conn is not None:
                    conn.stop()
            for name in added + changed:
                self._start(name)
            await self.rebuild()
            return {"added": added, "removed": removed, "changed": changed}

    def status(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, spec in self.config.file.upstreams.items():
            conn = self.connections.get(name)
            tools = sum(1 for r in self.catalog.tools.values() if r.upstream == name)
            out[name] = {
                "state": conn.state if conn else ("disabled" if not spec.enabled else "stopped"),
                "transport": spec.transport,
                "tools": tools,
                "error": self.config.disabled_reasons.get(name) or (conn.error if conn else None),
                "protocol": conn.protocol if conn else None,
                "pid": conn.pid if conn and conn.state == "ready" else None,
            }
        return out


def _tool_sig(cat: Catalog) -> dict[str, Any]:
    return {k: v.tool for k, v in cat.tools.items()}
