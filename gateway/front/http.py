"""Serving the gateway over Streamable HTTP at ``/mcp``, with ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.front.server import FrontServer

__all__ = ["build_http_app", "parse_listen", "serve_http"]


def parse_listen(value: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[V6]:PORT``; the host defaults to 127.0.0.1 (never all interfaces by accident)."""
    host, port_text = "127.0.0.1", value
    if value.startswith("["):
        host, _, port_text = value[1:].partition("]:")
    elif ":" in value:
        host, _, port_text = value.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(
            f"invalid --http value {value!r}: expected PORT or HOST:PORT, e.g. 8765 or 127.0.0.1:8765"
        ) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"invalid port {port}: must be 0-65535")
    return host, port


def _security(host: str, port: int) -> TransportSecuritySettings:
    # DNS-rebinding protection stays on for every bind: only Host/Origin values naming this listener are accepted.
    hosts = {host, "localhost", "127.0.0.1", "[::1]"}
    if ":" in host:  # an IPv6 literal appears bracketed in Host headers
        hosts.add(f"[{host}]")
    allowed_hosts = [f"{h}:*" for h in sorted(hosts)] + sorted(hosts)
    allowed_origins = [f"http://{h}:*" for h in sorted(hosts)] + [f"https://{h}:*" for h in sorted(hosts)]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
    )


def build_http_app(
    front: FrontServer, host: str, port: int, max_message_bytes: int, *, require_tokens: bool = False
) -> Starlette:
    """The ASGI app; with ``require_tokens`` every /mcp request needs ``Authorization: Bearer <token>`` (else 401)."""
    pool = front.gw.pool

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        status = pool.status()
        starting = [n for n, s in status.items() if s["state"] == "starting"]
        ready = not starting
        body: dict[str, Any] = {
            "status": "ready" if ready else "starting",
            "upstreams": {n: s["state"] for n, s in status.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    auth: dict[str, Any] = {}
    if require_tokens:
        from gateway.identity.http_auth import GatewayTokenVerifier, auth_settings
        from gateway.identity.tokens import TokenStore

        base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        auth = {
            "auth": auth_settings(base),
            "token_verifier": GatewayTokenVerifier(TokenStore(front.gw.config.state_dir)),
        }
    return front.server.streamable_http_app(
        streamable_http_path="/mcp",
        host=host,
        transport_security=_security(host, port),
        max_request_body_size=max_message_bytes,
        custom_starlette_routes=[Route("/healthz", healthz), Route("/readyz", readyz)],
        **auth,
    )


async def serve_http(
    front: FrontServer,
    host: str,
    port: int,
    max_message_bytes: int,
    *,
    ready: anyio.Event | None = None,
    bound: list[int] | None = None,
    require_tokens: bool = False,
) -> None:
    """Serve until cancelled. ``bound`` receives the real port (useful with port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    real_port = sock.getsockname()[1]
    if bound is not None:
        bound.append(real_port)
    app = build_http_app(front, host, real_port, max_message_bytes, require_tokens=require_tokens)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=2)
    server = _Server(config)
    done = anyio.Event()

    async def run_server() -> None:
        # Shielded: uvicorn shuts down gracefully when asked (should_exit), not by cancellation mid-lifespan.
        with anyio.CancelScope(shield=True):
            try:
                await server.serve([sock])
            finally:
                done.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            while not server.started and not done.is_set():  # noqa: ASYNC110 - uvicorn exposes only a flag
                await anyio.sleep(0.01)
            if ready is not None:
                ready.set()
            try:
                await anyio.sleep_forever()
            finally:
                server.should_exit = True
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await done.wait()
    finally:
        sock.close()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the CLI owns SIGINT/SIGTERM for every front."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()
