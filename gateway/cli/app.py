"""``mcp-gateway``: the top-level command and its sub-commands."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gateway import __version__
from gateway.cli import approvals, audit, config, creds, policy, serve, tokens, upstreams

app = typer.Typer(
    name="mcp-gateway",
    help="One governed MCP endpoint in front of many upstream MCP servers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command("serve")(serve.serve)
app.add_typer(upstreams.app, name="upstreams", help="Register, inspect and check upstream MCP servers.")
app.add_typer(policy.app, name="policy", help="Check and lint tool-call policies.")
app.add_typer(approvals.app, name="approvals", help="Answer pending approvals from another terminal.")
app.add_typer(creds.app, name="creds", help="Manage credentials stored in the OS keyring.")
app.add_typer(audit.app, name="audit", help="Read, verify and export the audit trail.")
app.add_typer(tokens.app, name="tokens", help="Bearer tokens for clients of the HTTP front.")
app.add_typer(config.app, name="config", help="Show the effective configuration and explain where values come from.")


@app.callback()
def _global(
    system_dir: Annotated[
        str | None,
        typer.Option(
            "--system-dir",
            help="Managed defaults and requirements.yaml (default: $MCP_GATEWAY_SYSTEM_DIR or /etc/mcp-gateway). "
            "Accepted before or after the command.",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="Profile overlay (default: $MCP_GATEWAY_PROFILE). Before or after the command."),
    ] = None,
) -> None:
    _env_overrides(system_dir, profile)


@app.command("version")
def version() -> None:
    """Print the gateway's version."""
    typer.echo(__version__)


def _env_overrides(system_dir: str | None, profile: str | None) -> None:
    from gateway.admin.load import env_overrides  # lazy: most commands never need the admin layer's imports

    env_overrides(system_dir, profile)


def _take_global_options(argv: list[str]) -> list[str]:
    """``--system-dir`` / ``--profile`` work on every command: take them wherever they appear."""
    out: list[str] = []
    values: dict[str, str] = {}
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        if name in ("--system-dir", "--profile"):
            if not eq:
                value = next(it, "")
            values[name] = value
            continue
        out.append(arg)
    _env_overrides(values.get("--system-dir"), values.get("--profile"))
    return out


def main() -> None:
    from gateway.logging import configure_logging

    # Commands other than `serve` log only warnings, on stderr (stdout is for their output).
    configure_logging("warning")
    app(args=_take_global_options(sys.argv[1:]))
