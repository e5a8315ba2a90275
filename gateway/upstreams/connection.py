"""One upstream MCP server: connect, keep its catalogue, forward requests, restart it when it fails."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx2
import mcp_types as types
import structlog
from mcp import Client, MCPError
from mcp.client import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from gateway import __version__
from gateway._tasks import cancel_scope
from gateway.config.models import HttpUpstream, StdioUpstream
from gateway.config.secrets import SecretOrLiteral
from gateway.credentials.resolve import build_child_env
from gateway.errors import CredentialError, UpstreamTimeoutError, UpstreamUnavailableError
from gateway.upstreams._support import Catalogue, LiveHeaders, StderrLog, describe, dump, list_catalogue
from gateway.upstreams.asker import Asker, NoAsker, UpstreamRequest
from gateway.upstreams.probe import ProbeCache
from gateway.upstreams.process import StdioProcess
from gateway.upstreams.secrets import LiteralResolver, SecretResolver
from gateway.upstreams.tool_call import call_params, send_round

__all__ = ["Catalogue", "UpstreamConnection", "UpstreamState"]

log = structlog.get_logger("gateway.upstreams")

UpstreamState = Literal["starting", "ready", "failed", "restarting", "disabled", "stopped"]
ChangeCallback = Callable[["UpstreamConnection"], Awaitable[None]]

BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
HTTP_PING_INTERVAL = 15.0


@dataclass(eq=False, slots=True)
class _InFlight:
    asker: Asker
    scope: anyio.CancelScope
    crashed: bool = False


class UpstreamConnection:
    """Supervises one upstream. ``run()`` never raises: failures become state, with backoff restarts."""

    def __init__(
        self,
        name: str,
        spec: StdioUpstream | HttpUpstream,
        *,
        cwd: Path,
        on_change: ChangeCallback,
        resolver: SecretResolver | None = None,
        probe_cache: ProbeCache | None = None,
        on_event: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.cwd = cwd
        self._on_change = on_change
        self._on_event = on_event
        self._resolver: SecretResolver = resolver or LiteralResolver()
        self._probe = probe_cache or ProbeCache(None)
        self.state: UpstreamState = "starting" if spec.enabled else "disabled"
        self.error: str | None = None
        self.protocol: str | None = None
        self.server_info: types.Implementation | None = None
        self.capabilities: types.ServerCapabilities | None = None
        self.instructions: str | None = None
        self.catalogue = Catalogue()
        self.pid: int | None = None
        self.restarts = 0
        self.credentials_used: list[str] = []
        self._client: Client | None = None
        self._stop = anyio.Event()
        self._reconnect = anyio.Event()
        self._ready = anyio.Event()
        self._settled = anyio.Event()
        self._inflight: dict[int, _InFlight] = {}
        self._ids = itertools.count()
        self._header_values: dict[str, str] = {}
        self._proc: StdioProcess | None = None
        self._stderr = StderrLog(name)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        return self.state == "ready"

    @property
    def transport(self) -> str:
        return "stdio" if isinstance(self.spec, StdioUpstream) else "http"

    async def wait_settled(self) -> None:
        """Wait until the first start attempt has either succeeded or failed."""
        await self._settled.wait()

    def stop(self) -> None:
        self._stop.set()

    def request_restart(self) -> None:
        """Reconnect (e.g. a credential it uses was rotated)."""
        self._reconnect.set()

    async def run(self) -> None:
        if not self.spec.enabled:
            self._settled.set()
            return
        backoff = BACKOFF_INITIAL
        while not self._stop.is_set():
            self._reconnect = anyio.Event()
            if self.restarts == 0:
                self.state = "starting"  # on restarts the state stays "failed" (with why) until it is up again
            try:
                async with self._connected() as exited:
                    backoff = BACKOFF_INITIAL
                    await self._set_state("ready", None)
                    await self._wait_until_done(exited)
            except* (CredentialError, UpstreamUnavailableError, MCPError, OSError, TimeoutError, RuntimeError) as group:
                err = group.exceptions[0]
                while isinstance(err, BaseExceptionGroup):
                    err = err.exceptions[0]
                await self._set_state("failed", self._why_failed(err))
            finally:
                self._client = None
                self._fail_inflight()
            if self._stop.is_set():
                break
            if self.is_ready:  # ended without an error: crashed or asked to reconnect
                reason = "restart requested" if self._reconnect.is_set() else "the upstream exited"
                await self._set_state("failed", reason)
            if self.spec.max_restarts is not None and self.restarts >= self.spec.max_restarts:
                log.error("upstream given up", upstream=self.name, restarts=self.restarts)
                break
            delay = 0.0 if self._reconnect.is_set() else backoff
            backoff = min(backoff * 2, BACKOFF_MAX)
            with anyio.move_on_after(delay):
                await self._stop.wait()
            if not self._stop.is_set():
                self.restarts += 1
                await self._emit("upstream_restarted", {"restarts": self.restarts})
        self.state = "stopped"
        self._settled.set()

    def _why_failed(self, err: BaseException) -> str:
        proc = self._proc
        if isinstance(err, TimeoutError):
            return describe(err)  # we stopped it: its exit code says nothing
        if proc is not None and proc.returncode is not None and self.state != "ready":
            return f"exited with code {proc.returncode} during startup (its stderr is in the gateway log)"
        return describe(err)

    async def _wait_until_done(self, exited: anyio.Event | None) -> None:
        async with anyio.create_task_group() as tg:

            async def watch(ev: anyio.Event) -> None:
                await ev.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(watch, self._stop)
            tg.start_soon(watch, self._reconnect)
            if exited is not None:
                tg.start_soon(watch, exited)
            else:
                tg.start_soon(self._ping_loop)

    async def _ping_loop(self) -> None:
        while True:
            await anyio.sleep(HTTP_PING_INTERVAL)
            client = self._client
            if client is None:
                return
            try:
                with anyio.fail_after(self.spec.connect_timeout if isinstance(self.spec, HttpUpstream) else 10):
                    await client.session.send_ping()
            except (MCPError, OSError, TimeoutError):
                log.warning("upstream ping failed", upstream=self.name)
                self._reconnect.set()
                return

    async def _set_state(self, state: UpstreamState, error: str | None) -> None:
        previous = self.state
        self.state = state
        self.error = error
        if state != "ready":
            self.catalogue = Catalogue()
        if state == "ready":
            log.info(
                "upstream ready",
                upstream=self.name,
                protocol=self.protocol,
                tools=len(self.catalogue.tools),
                pid=self.pid,
            )
            await self._emit("upstream_started", {"protocol": self.protocol, "tools": len(self.catalogue.tools)})
        elif state == "failed":
            log.error("upstream failed", upstream=self.name, error=error)
            await self._emit("upstream_crashed", {"error": error, "previous_state": previous})
        self._settled.set()
        if previous != state or state == "ready":
            await self._on_change(self)

    async def _emit(self, event: str, fields: dict[str, Any]) -> None:
        if self._on_event is not None:
            await self._on_event(event, {"upstream": self.name, **fields})

    # -- connecting ---------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[anyio.Event | None]:
        # The startup deadline must wrap the client's own task group, so it is a scope around the whole
        # connection that is lifted once the upstream is up (fail_after around __aenter__ alone can't nest).
        startup = anyio.CancelScope(deadline=anyio.current_time() + self.spec.startup_timeout)
        started = False
        with startup:
            async with AsyncExitStack() as stack:
                transport, exited = await self._transport(stack)
                mode = await self._mode()
                client = Client(
                    transport,
                    mode=mode,
                    cache=None,
                    client_info=types.Implementation(name="mcp-gateway", version=__version__),
                    elicitation_callback=self._on_elicitation,
                    sampling_callback=self._on_sampling,
                    list_roots_callback=self._on_roots,
                    logging_callback=self._on_log,
                    # 2026-07-28 servers only log for requests that opt in; opt in so logs can be forwarded.
                    log_level="info",
                    message_handler=self._on_message,
                )
                await stack.enter_async_context(client)
                self.pid = self._proc.pid if self._proc is not None else None
                self.protocol = client.protocol_version
                self.server_info = client.server_info
                self.capabilities = client.server_capabilities
                self.instructions = client.instructions
                await self._probe.remember(self.name, self._identity(), self.protocol)
                self._client = client
                await self.refresh()
                startup.deadline = math.inf
                started = True
                if self.protocol in MODERN_PROTOCOL_VERSIONS:
                    tg = await stack.enter_async_context(anyio.create_task_group())
                    tg.start_soon(self._listen, client)
                    stack.callback(tg.cancel_scope.cancel)
                yield exited
        if not started:
            raise TimeoutError("startup timed out")

    async def _mode(self) -> Literal["auto", "legacy", "2026-07-28"]:
        wanted = self.spec.protocol
        if wanted == "auto":
            remembered = await self._probe.lookup(self.name, self._identity())
            if remembered is not None and remembered not in MODERN_PROTOCOL_VERSIONS:
                return "legacy"  # this server once failed the probe: don't pay its timeout again
            return "auto"
        if wanted == "2026-07-28":
            return "2026-07-28"
        return "legacy"

    def _identity(self) -> str:
        if isinstance(self.spec, StdioUpstream):
            return "\0".join([self.spec.command, *self.spec.args])
        return self.spec.url

    async def _transport(self, stack: AsyncExitStack) -> tuple[Any, anyio.Event | None]:
        if isinstance(self.spec, StdioUpstream):
            resolved = await self._resolve(self.spec.env)
            env = build_child_env(resolved, self.spec.inherit_env)
            proc = StdioProcess(
                argv=[self.spec.command, *self.spec.args],
                env=env,
                cwd=str(self.cwd),
                on_stderr=self._stderr,
                on_garbage=self._garbage_line,
                on_log=self._on_log,
            )
            self._header_values = {}
            self._proc = proc
            # Spawning fails fast (e.g. command not found) as OSError, which run() reports.
            return proc, proc.exited
        resolved = await self._resolve(self.spec.headers)
        self._header_values = resolved
        http = httpx2.AsyncClient(
            auth=LiveHeaders(lambda: self._header_values),
            timeout=httpx2.Timeout(self.spec.connect_timeout, read=self.spec.call_timeout + 30),
            follow_redirects=False,
        )
        await stack.enter_async_context(http)
        return streamable_http_client(self.spec.url, http_client=http), None

    async def _resolve(self, values: Mapping[str, SecretOrLiteral]) -> dict[str, str]:
        resolved, used = await self._resolver.resolve(values)
        self.credentials_used = sorted(set(self.credentials_used) | set(used))
        return resolved

    async def refresh_headers(self) -> None:
        """Re-resolve HTTP header secrets (rotation): the next request uses the new value."""
        if isinstance(self.spec, HttpUpstream):
            self._header_values = await self._resolve(self.spec.headers)

    def _garbage_line(self, line: str) -> None:
        log.warning("upstream wrote non-protocol output to stdout", upstream=self.name, line=line[:200])

    async def refresh(self) -> None:
        """Re-list everything the upstream offers (all pages)."""
        client = self._client
        if client is None:
            return
        self.catalogue = await list_catalogue(client)

    async def _listen(self, client: Client) -> None:
        try:
            async with client.listen(
                tools_list_changed=True, prompts_list_changed=True, resources_list_changed=True
            ) as sub:
                async for _event in sub:
                    await self._changed()
        except (MCPError, RuntimeError, OSError) as exc:
            log.debug("upstream has no change stream", upstream=self.name, error=type(exc).__name__)

    async def _changed(self) -> None:
        try:
            await self.refresh()
        except (MCPError, OSError) as exc:
            log.warning("re-listing after list_changed failed", upstream=self.name, error=describe(exc))
            return
        await self._on_change(self)

    # -- upstream -> client ---------------------------------------------------------------------------------------

    async def _on_message(self, message: Any) -> None:
        if isinstance(
            message,
            types.ToolListChangedNotification
            | types.PromptListChangedNotification
            | types.ResourceListChangedNotification,
        ):
            await self._changed()
        elif isinstance(message, Exception):
            log.warning("upstream transport error", upstream=self.name, error=describe(message))

    def _current_asker(self) -> Asker:
        # Which call a pushed request belongs to is not on the wire: with one call in flight it is that one;
        # with several, the oldest is the best guess (modern upstreams return questions with the call instead).
        if not self._inflight:
            return NoAsker()
        return self._inflight[min(self._inflight)].asker

    async def _ask_one(self, request: UpstreamRequest) -> Any:
        answers = await self._current_asker().ask({"upstream": request})
        return answers["upstream"]

    async def _on_elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        answer = await self._ask_one(types.ElicitRequest(params=params))
        return answer if isinstance(answer, types.ErrorData) else types.ElicitResult.model_validate(dump(answer))

    async def _on_sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        answer = await self._ask_one(types.CreateMessageRequest(params=params))
        if isinstance(answer, types.ErrorData | types.CreateMessageResult | types.CreateMessageResultWithTools):
            return answer
        return types.CreateMessageResult.model_validate(dump(answer))

    async def _on_roots(self, context: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        answer = await self._ask_one(types.ListRootsRequest())
        return answer if isinstance(answer, types.ErrorData) else types.ListRootsResult.model_validate(dump(answer))

    async def _on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        if self._inflight:
            await self._current_asker().log(params)
        else:
            log.info("upstream log", upstream=self.name, level=params.level, logger=params.logger, data=params.data)

    # -- client -> upstream ---------------------------------------------------------------------------------------

    def _require_client(self) -> Client:
        if self._client is None or self.state != "ready":
            raise UpstreamUnavailableError(
                f"Upstream '{self.name}' is not available right now ({self.state}).", detail=self.error
            )
        return self._client

    @asynccontextmanager
    async def _tracked(self, asker: Asker) -> AsyncIterator[_InFlight]:
        key = next(self._ids)
        entry = _InFlight(asker=asker, scope=anyio.CancelScope())
        self._inflight[key] = entry
        try:
            with entry.scope:
                yield entry
        finally:
            del self._inflight[key]
        if entry.crashed:
            raise UpstreamUnavailableError(f"Upstream '{self.name}' stopped while handling the request.")

    def _fail_inflight(self) -> None:
        for entry in self._inflight.values():
            entry.crashed = True
            entry.scope.cancel()

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        asker: Asker,
        meta: Mapping[str, Any] | None = None,
    ) -> types.CallToolResult:
        """Call a tool, answering any questions the upstream asks through ``asker``; progress resets the timeout."""
        client = self._require_client()
        timeout = self.spec.call_timeout
        responses: dict[str, Any] | None = None
        state: str | None = None
        # One scope is the call's deadline and the handle a crash cancels it by (the hot path: no context manager).
        now = asyncio.get_running_loop().time  # anyio.current_time() on asyncio, without its backend lookup
        entry = _InFlight(asker=asker, scope=cancel_scope(now() + timeout))
        key = next(self._ids)
        self._inflight[key] = entry
        scope = entry.scope
        raw = self._proc.raw if self._proc is not None else None

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            scope.deadline = now() + timeout
            await asker.progress(progress, total, message)

        try:
            with scope:
                for _round in range(20):
                    params = call_params(name, arguments, meta, responses, state)
                    result = await send_round(client, raw, params, on_progress)
                    if isinstance(result, types.InputRequiredResult):
                        # The human's answer time does not count against the upstream.
                        scope.deadline = math.inf
                        responses = await asker.ask(dict(result.input_requests or {}))
                        scope.deadline = now() + timeout
                        state = result.request_state
                        continue
                    if not isinstance(result, types.CallToolResult):
                        raise UpstreamUnavailableError(f"Upstream '{self.name}' returned an unexpected result.")
                    return result
                raise UpstreamUnavailableError(f"Upstream '{self.name}' asked too many follow-up questions.")
        finally:
            del self._inflight[key]
            if entry.crashed:
                raise UpstreamUnavailableError(f"Upstream '{self.name}' stopped while handling the request.")
        raise UpstreamTimeoutError(f"Upstream '{self.name}' did not answer '{name}' within {timeout:g} s.")

    async def read_resource(self, uri: str, *, asker: Asker) -> types.ReadResourceResult:
        client = self._require_client()
        async with self._tracked(asker):
            with anyio.fail_after(self.spec.call_timeout):
                return await client.session.read_resource(uri)

    async def get_prompt(self, name: str, arguments: dict[str, str] | None, *, asker: Asker) -> types.GetPromptResult:
        client = self._require_client()
        async with self._tracked(asker):
            with anyio.fail_after(self.spec.call_timeout):
                return await client.session.get_prompt(name, arguments)

    async def complete(
        self,
        ref: types.PromptReference | types.ResourceTemplateReference,
        argument: dict[str, str],
        context_arguments: dict[str, str] | None,
    ) -> types.CompleteResult:
        client = self._require_client()
        with anyio.fail_after(self.spec.call_timeout):
            return await client.complete(ref, argument, context_arguments)
