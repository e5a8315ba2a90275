"""Serving the gateway over Streamable HTTP at ``/mcp``, with ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import ipaddress
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
    try:
        if ipaddress.ip_address(host).version == 6:
            hosts.add(f"[{host}]")
    except ValueError:
        pass
    allowed_hosts = [f"{h}:*" for h in sorted(hosts)] + sorted(hosts)
    allowed_origins = [f"http://{h}:*" for h in sorted(hosts)] + [f"https://{h}:*" for h in sorted(hosts)]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
    )


def build_http_app(front: FrontServer, host: str, port: int, max_message_bytes: int) -> Starlette:
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

    return front.server.streamable_http_app(
        streamable_http_path="/mcp",
        host=host,
        transport_security=_security(host, port),
        max_request_body_size=max_message_bytes,
        custom_starlette_routes=[Route("/healthz", healthz), Route("/readyz", readyz)],
    )


async def serve_http(
    front: FrontServer,
    host: str,
    port: int,
    max_message_bytes: int,
    *,
    ready: anyio.Event | None = None,
    bound: list[int] | None = None,
) -> None:
    """Serve until cancelled. ``bound`` receives the real port (useful with port 0)."""
    app = build_http_app(front, host, port, max_message_bytes)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    if bound is not None:
        bound.append(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    server.capture_signals = _no_signals  # type: ignore[method-assign,assignment]  # the CLI owns signals
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
                await anyio.sleep(0.01)
            if ready is not None:
                ready.set()
            try:
                await anyio.sleep_forever()
            finally:
                server.should_exit = True
    finally:
        sock.close()


class _NoSignals:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _no_signals() -> _NoSignals:
    return _NoSignals()
