"""Bearer-token authentication on the HTTP front, through the MCP SDK's own auth middleware (401 + metadata)."""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server import ServerRequestContext
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from gateway.front.sessions import local_identity
from gateway.identity.tokens import TokenStore
from gateway.intercept.call import Identity

__all__ = ["GatewayTokenVerifier", "auth_settings", "http_identity"]


class GatewayTokenVerifier(TokenVerifier):
    def __init__(self, store: TokenStore) -> None:
        self.store = store

    async def verify_token(self, token: str) -> AccessToken | None:
        verified = await anyio.to_thread.run_sync(self.store.verify, token)
        if verified is None:
            return None
        return AccessToken(token="", client_id=verified.name, scopes=[], claims={"groups": list(verified.groups)})


def auth_settings(base_url: str) -> AuthSettings:
    return AuthSettings(
        issuer_url=AnyHttpUrl(base_url),
        resource_server_url=AnyHttpUrl(base_url + "/mcp"),
        required_scopes=[],
        validate_token_resource=False,
    )


def http_identity(ctx: ServerRequestContext[Any]) -> Identity:
    """Who is calling: the token's name and groups; without token auth, an anonymous HTTP client."""
    token = get_access_token()
    if token is not None:
        groups = tuple(str(g) for g in (token.claims or {}).get("groups", []))
        return Identity(name=token.client_id, kind="token", groups=groups)
    if ctx.request is None:
        return local_identity()
    return Identity(name="anonymous", kind="anonymous")
