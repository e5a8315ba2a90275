"""Who is on the other end of each request: session keys, identities, and captured legacy sessions."""

from __future__ import annotations

import functools
import getpass
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import structlog
from mcp.server import ServerRequestContext

from gateway.front.bridge import is_modern
from gateway.intercept.call import Identity

__all__ = ["ClientSession", "SessionTracker", "local_identity"]

log = structlog.get_logger("gateway.sessions")

MAX_SESSIONS = 10_000


@functools.cache
def local_identity() -> Identity:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Identity(name=user, kind="os-user")


@dataclass(slots=True)
class ClientSession:
    id: str
    identity: Identity
    client_name: str | None
    client_version: str | None
    protocol_version: str
    transport: str


IdentityFn = Callable[[ServerRequestContext[Any]], Identity]
StartFn = Callable[[ClientSession], Awaitable[None]]


class SessionTracker:
    """Maps each request to a ``ClientSession``; remembers legacy sessions so list_changed can be pushed."""

    def __init__(self, transport: str, identify: IdentityFn | None = None, on_start: StartFn | None = None) -> None:
        self.transport = transport
        self._identify = identify or (lambda ctx: local_identity())
        self._on_start = on_start
        self._sessions: dict[str, ClientSession] = {}
        self.legacy: dict[str, Any] = {}
        self._stdio_id = f"stdio-{uuid.uuid4().hex[:12]}"

    def _key(self, ctx: ServerRequestContext[Any], identity: Identity) -> str:
        if self.transport == "stdio":
            return self._stdio_id
        req = ctx.request
        header = req.headers.get("mcp-session-id") if req is not None else None
        if header:
            return f"http-{header}"
        # Modern HTTP is sessionless: one client instance (identity + client info) is one session.
        info = (ctx.meta or {}).get(types.CLIENT_INFO_META_KEY) or {}
        raw = f"{identity.name}|{info.get('name')}|{info.get('version')}" if isinstance(info, dict) else identity.name
        return "http-" + hashlib.sha256(raw.encode()).hexdigest()[:16]

    async def get(self, ctx: ServerRequestContext[Any]) -> ClientSession:
        identity = self._identify(ctx)
        key = self._key(ctx, identity)
        if not is_modern(ctx):
            self._remember_legacy(key, ctx.session)
        return await self._session(key, identity, ctx.protocol_version, lambda: _client_info(ctx))

    async def get_stdio(
        self, protocol_version: str, client_info: tuple[str | None, str | None], pusher: Any = None
    ) -> ClientSession:
        """The stdio client's session, for requests the stdio front handles itself (the local OS user).

        ``pusher`` is what list_changed notifications are sent through for a handshake-era client (anything with
        ``send_tool_list_changed`` and friends).
        """
        session = self._sessions.get(self._stdio_id)
        if session is not None and (pusher is None or self._stdio_id in self.legacy):
            return session  # every call after the first
        if pusher is not None:
            self._remember_legacy(self._stdio_id, pusher)
        return await self._session(self._stdio_id, local_identity(), protocol_version, lambda: client_info)

    def _remember_legacy(self, key: str, pusher: Any) -> None:
        if key not in self.legacy:
            self.legacy[key] = pusher
            if len(self.legacy) > MAX_SESSIONS:
                self.legacy.pop(next(iter(self.legacy)))  # the oldest; a live one re-registers on its next request

    async def _session(
        self,
        key: str,
        identity: Identity,
        protocol_version: str,
        client_info: Callable[[], tuple[str | None, str | None]],
    ) -> ClientSession:
        session = self._sessions.get(key)
        if session is None:
            name, version = client_info()
            session = ClientSession(
                id=key,
                identity=identity,
                client_name=name,
                client_version=version,
                protocol_version=protocol_version,
                transport=self.transport,
            )
            self._sessions[key] = session
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            if self._on_start is not None:
                await self._on_start(session)
        return session

    async def broadcast_legacy(self, kinds: set[str]) -> None:
        for key, sess in list(self.legacy.items()):
            try:
                if "tools" in kinds:
                    await sess.send_tool_list_changed()
                if "prompts" in kinds:
                    await sess.send_prompt_list_changed()
                if "resources" in kinds:
                    await sess.send_resource_list_changed()
            except Exception as exc:  # noqa: BLE001 - a gone client must not stop the others
                log.debug("dropping unreachable legacy session", session=key, error=type(exc).__name__)
                self.legacy.pop(key, None)


def _client_info(ctx: ServerRequestContext[Any]) -> tuple[str | None, str | None]:
    params = ctx.session.client_params
    if params is not None:
        return params.client_info.name, params.client_info.version
    info = (ctx.meta or {}).get(types.CLIENT_INFO_META_KEY)
    if isinstance(info, dict):
        return info.get("name"), info.get("version")
    return None, None
