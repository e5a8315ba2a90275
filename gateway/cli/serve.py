"""``mcp-gateway serve``: run the gateway over stdio (default) or Streamable HTTP."""

from __future__ import annotations

import importlib.util
import signal
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import anyio
import structlog
import typer

from gateway.cli.common import AuditDirOption, ConfigOption, fail, load_or_exit
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config.loader import LoadedConfig
    from gateway.runtime import Gateway

log = structlog.get_logger("gateway.serve")


def serve(
    config: ConfigOption = None,
    policies: Annotated[
        Path | None, typer.Option("--policies", help="Policy directory (default: policies/ beside the config).")
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            metavar="[HOST:]PORT",
            help="Serve Streamable HTTP at /mcp instead of stdio (host defaults to 127.0.0.1).",
        ),
    ] = None,
    audit_dir: AuditDirOption = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str, typer.Option("--log-format", help="console or json (both on stderr).")] = "console",
) -> None:
    """Serve the gateway: stdio by default (IDEs spawn it), or Streamable HTTP with --http."""
    from gateway.assemble import assemble
    from gateway.logging import configure_logging

    if log_format not in ("console", "json"):
        fail("--log-format must be 'console' or 'json'")
    fmt: Literal["console", "json"] = "json" if log_format == "json" else "console"
    from gateway.front.http import parse_listen

    listen: tuple[str, int] | None = None
    if http is not None:
        try:
            listen = parse_listen(http)
        except ValueError as exc:
            fail(str(exc))
    loaded = load_or_exit(config)
    configure_logging(log_level, fmt)
    # Logging and sampling are deprecated in 2026-07-28 but still forwarded for clients that use them.
    from mcp.shared.exceptions import MCPDeprecationWarning

    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    try:
        args = (loaded, policies, listen, audit_dir, assemble, (log_level, fmt))
        anyio.run(_serve, *args, backend_options=_loop_options())
    except ConfigError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None  # interrupted before the signal handler was in place


async def _serve(
    loaded: LoadedConfig,
    policies: Path | None,
    listen: tuple[str, int] | None,
    audit_dir: Path | None,
    assemble: Callable[..., Awaitable[Gateway]],
    log_opts: tuple[str, Literal["console", "json"]],
) -> None:
    from gateway.credentials.redact import structlog_processor
    from gateway.front.http import serve_http
    from gateway.front.stdio import serve_stdio
    from gateway.logging import configure_logging

    parts = await assemble(loaded, policies_dir=policies, audit_dir=audit_dir)
    configure_logging(log_opts[0], log_opts[1], redact=structlog_processor(parts.redactor))
    async with parts.running() as gateway, anyio.create_task_group() as tg:
        tg.start_soon(_signals, tg.cancel_scope)
        tg.start_soon(_report_startup, gateway)
        if listen is None:
            front = gateway.front("stdio")
            await serve_stdio(front, loaded.settings.max_message_bytes)
            tg.cancel_scope.cancel()  # stdin closed: the client is gone
        else:
            front = gateway.front("http")
            bound: list[int] = []
            ready = anyio.Event()
            require_tokens = await _tokens_required(gateway)
            tg.start_soon(
                lambda: serve_http(
                    front,
                    listen[0],
                    listen[1],
                    loaded.settings.max_message_bytes,
                    ready=ready,
                    bound=bound,
                    require_tokens=require_tokens,
                )
            )
            await ready.wait()
            log.info("serving Streamable HTTP", url=f"http://{_fmt_host(listen[0])}:{bound[0]}/mcp")


async def _tokens_required(gateway: Gateway) -> bool:
    from gateway.identity.tokens import TokenStore

    if gateway.config.settings.require_tokens:
        return True
    # Once an admin has created a token, anonymous access would defeat it: require tokens.
    store = TokenStore(gateway.config.state_dir)
    required = await anyio.to_thread.run_sync(store.active)
    if not required:
        log.warning("HTTP clients are not authenticated; create tokens with `mcp-gateway tokens create NAME`")
    return required


def _fmt_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _signals(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for sig in signals:
            log.info("shutting down", signal=signal.Signals(sig).name)
            scope.cancel()
            return


async def _report_startup(gateway: Gateway) -> None:
    limit = max((u.startup_timeout for u in gateway.config.file.upstreams.values()), default=1.0) + 1
    await gateway.pool.wait_settled(limit)
    for name, info in gateway.pool.status().items():
        if info["state"] == "ready":
            log.info("upstream up", upstream=name, tools=info["tools"], protocol=info["protocol"])
        elif info["state"] == "disabled":
            log.info("upstream disabled", upstream=name)
        else:
            log.warning("upstream not up", upstream=name, state=info["state"], reason=info["error"])


def _loop_options() -> dict[str, bool]:
    """uvloop where it is installed (a dependency on Linux and macOS): a C event loop takes a measurable share of
    the gateway's per-call cost off the table (see bench/). The standard loop otherwise."""
    return {"use_uvloop": True} if importlib.util.find_spec("uvloop") is not None else {}
