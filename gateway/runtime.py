"""The running gateway: upstream pool, interception chain, event sinks, config hot reload, status file."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.abc
import structlog
from mcp.server import ServerRequestContext

from gateway._files import watch_files
from gateway.config.loader import LoadedConfig, load_config
from gateway.config.status import GatewayStatus, UpstreamStatus, write_status
from gateway.errors import AuditError, ConfigError
from gateway.front.bridge import ParkedCalls
from gateway.front.server import FrontServer
from gateway.front.sessions import ClientSession
from gateway.intercept.call import EventSink, Identity, NullEventSink
from gateway.intercept.chain import Step
from gateway.telemetry import Telemetry
from gateway.upstreams.catalog import ToolRoute
from gateway.upstreams.pool import UpstreamPool
from gateway.upstreams.secrets import SecretResolver

__all__ = ["Gateway"]

log = structlog.get_logger("gateway")

RELOAD_POLL_SECONDS = 1.0

VisibleFn = Callable[[ClientSession, ToolRoute], bool]


class Gateway:
    """Everything one gateway process runs. Use ``async with gateway.running():`` then ``gateway.front(...)``."""

    def __init__(
        self,
        config: LoadedConfig,
        *,
        steps: Sequence[Step] = (),
        events: EventSink | None = None,
        resolver: SecretResolver | None = None,
        identify: Callable[[ServerRequestContext[Any]], Identity] | None = None,
        visible: VisibleFn | None = None,
        reload_poll: float | None = RELOAD_POLL_SECONDS,
        loader: Callable[[], LoadedConfig] | None = None,
    ) -> None:
        self.config = config
        self.steps: list[Step] = list(steps)
        self.events: EventSink = events or NullEventSink()
        self.identify = identify
        self._visible = visible
        self._reload_poll = reload_poll
        self._loader = loader or (lambda: load_config(self.config.path))
        self._listeners: list[Callable[[set[str]], Awaitable[None]]] = []
        self.pool = UpstreamPool(config, resolver=resolver, on_catalog_change=self._catalog_changed, on_event=self.emit)
        self._parked: ParkedCalls | None = None
        self._started = datetime.now(UTC)
        self._status_dirty = anyio.Event()
        self.background: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.closers: list[Callable[[], Awaitable[Any]]] = []
        self.redactor: Any = None
        self.telemetry: Telemetry = Telemetry.disabled()

    # -- hooks the front uses ---------------------------------------------------------------------------------

    def tool_visible(self, session: ClientSession, route: ToolRoute) -> bool:
        return self._visible(session, route) if self._visible is not None else True

    def instructions(self) -> str | None:
        return "Tools from several MCP servers, named <server>__<tool>. Calls are checked against policy."

    def add_change_listener(self, listener: Callable[[set[str]], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    async def emit(self, event: str, fields: Mapping[str, Any]) -> None:
        """Record a gateway-level event (sessions, upstreams, reloads); losing one never stops the gateway."""
        try:
            await self.events.emit(event, fields)
        except AuditError as exc:
            log.error("audit record lost", audit_event=event, error=exc.detail)

    async def session_started(self, session: ClientSession) -> None:
        log.info(
            "client session started",
            session=session.id,
            client=session.client_name,
            protocol=session.protocol_version,
            transport=session.transport,
        )
        await self.emit(
            "session_start",
            {
                "session_id": session.id,
                "identity": session.identity.name,
                "identity_kind": session.identity.kind,
                "groups": list(session.identity.groups),
                "client_name": session.client_name,
                "client_version": session.client_version,
                "protocol_version": session.protocol_version,
                "transport": session.transport,
            },
        )

    async def _catalog_changed(self, kinds: set[str]) -> None:
        self._status_dirty.set()
        if kinds:
            for listener in list(self._listeners):
                await listener(kinds)

    # -- lifecycle -------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        async with self.pool.running(), anyio.create_task_group() as tg:
            self._parked = ParkedCalls(tg)
            tg.start_soon(self._status_writer)
            if self._reload_poll:
                tg.start_soon(self._watch_config, self._reload_poll)
            for task in self.background:
                tg.start_soon(task)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await self._parked.aclose()
                    for close in self.closers:
                        await close()

    def front(self, transport: str) -> FrontServer:
        assert self._parked is not None, "use inside `async with gateway.running()`"
        return FrontServer(self, transport, self._parked)

    async def refresh_tool_visibility(self) -> None:
        """Policies changed: which tools are hidden may have changed too."""
        for listener in list(self._listeners):
            await listener({"tools"})

    # -- hot reload ------------------------------------------------------------------------------------------------

    async def _watch_config(self, interval: float) -> None:
        async for _ in watch_files(lambda: [self.config.path, *self.config.sources], interval):
            await self.reload()

    async def reload(self) -> bool:
        """Re-read the config; an invalid file is rejected and the running configuration stays."""
        try:
            new = await anyio.to_thread.run_sync(self._loader)
        except ConfigError as exc:
            log.error("config reload rejected; keeping the running configuration", error=str(exc))
            await self.emit("config_reloaded", {"ok": False, "error": str(exc)})
            return False
        for notice in new.notices:
            log.warning("configuration adjusted by requirements", notice=notice)
        self.config = new
        diff = await self.pool.apply(new)
        log.info("config reloaded", **diff)
        await self.emit("config_reloaded", {"ok": True, **diff})
        self._status_dirty.set()
        return True

    # -- status file ---------------------------------------------------------------------------------------------

    def status(self) -> GatewayStatus:
        return GatewayStatus(
            pid=os.getpid(),
            started=self._started,
            upstreams={name: UpstreamStatus(**info) for name, info in self.pool.status().items()},
        )

    async def _status_writer(self) -> None:
        state_dir = self.config.state_dir
        while True:
            try:
                await anyio.to_thread.run_sync(write_status, state_dir, self.status())
            except OSError as exc:
                log.warning("cannot write status file", dir=str(state_dir), error=exc.strerror)
            await self._status_dirty.wait()
            self._status_dirty = anyio.Event()
            await anyio.sleep(0.2)  # coalesce bursts of state changes into one write
