"""Small pieces of the upstream connection: its catalogue and how it is listed, live HTTP headers, paging, error
wording."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
import mcp_types as types
import structlog
from mcp import Client, MCPError

from gateway.errors import CredentialError

__all__ = ["Catalogue", "LiveHeaders", "StderrLog", "all_pages", "describe", "dump", "list_catalogue"]

log = structlog.get_logger("gateway.upstreams")

STDERR_BURST = 50


@dataclass(slots=True)
class Catalogue:
    """What an upstream offers, as last listed."""

    tools: list[types.Tool] = field(default_factory=list)
    resources: list[types.Resource] = field(default_factory=list)
    templates: list[types.ResourceTemplate] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)


class LiveHeaders(httpx2.Auth):
    """Sets the configured headers on every request from the connection's current values (rotation-safe)."""

    def __init__(self, values: Callable[[], Mapping[str, str]]) -> None:
        self._values = values

    def auth_flow(self, request: httpx2.Request) -> Any:
        for key, value in self._values().items():
            request.headers[key] = value
        yield request


async def all_pages(fetch: Callable[..., Awaitable[Any]], attr: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await fetch(cursor=cursor)
        items.extend(getattr(page, attr))
        cursor = page.next_cursor
        if not cursor:
            break
    return items


async def list_catalogue(client: Client) -> Catalogue:
    """Everything an upstream offers (all pages of each list it declares)."""
    caps = client.server_capabilities
    # A pinned 2026-07-28 connection skips discovery, so the server declared nothing: ask for every list and
    # take "method not found" as "not offered".
    unknown = caps is None or caps == types.ServerCapabilities()

    async def listed(fetch: Callable[..., Awaitable[Any]], attr: str, offered: bool) -> list[Any]:
        if not (offered or unknown):
            return []
        try:
            return await all_pages(fetch, attr)
        except MCPError as exc:
            if unknown and exc.code == types.METHOD_NOT_FOUND:
                return []
            raise

    cat = Catalogue()
    cat.tools = await listed(client.list_tools, "tools", caps is not None and caps.tools is not None)
    has_resources = caps is not None and caps.resources is not None
    cat.resources = await listed(client.list_resources, "resources", has_resources)
    cat.templates = await listed(client.list_resource_templates, "resource_templates", has_resources)
    cat.prompts = await listed(client.list_prompts, "prompts", caps is not None and caps.prompts is not None)
    return cat


def dump(answer: Any) -> Any:
    return answer.model_dump(by_alias=True, exclude_none=True) if hasattr(answer, "model_dump") else answer


def describe(exc: BaseException) -> str:
    """A short, log-safe description of why an upstream failed."""
    if isinstance(exc, CredentialError):
        return exc.public_message
    if isinstance(exc, TimeoutError):
        return "did not finish starting in time (startup_timeout)"
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename}"
    if isinstance(exc, MCPError):
        return f"{exc.message} (code {exc.code})"
    text = str(exc) or type(exc).__name__
    return text[:300]


class StderrLog:
    """An upstream's stderr in the gateway log, at most ``STDERR_BURST`` lines a second (a chatty upstream
    must not flood it); how many were dropped is logged once a second."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._window = 0.0
        self._count = 0
        self._dropped = 0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        if now - self._window >= 1.0:
            if self._dropped:
                log.warning("upstream stderr lines suppressed", upstream=self.upstream, count=self._dropped)
            self._window, self._count, self._dropped = now, 0, 0
        self._count += 1
        if self._count <= STDERR_BURST:
            log.info("upstream stderr", upstream=self.upstream, line=line)
        else:
            self._dropped += 1
