"""``mcp-gateway``: the top-level command and its sub-commands."""

from __future__ import annotations

import typer

from gateway import __version__
from gateway.cli import approvals, audit, creds, policy, serve, tokens, upstreams

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


@app.command("version")
def version() -> None:
    """Print the gateway's version."""
    typer.echo(__version__)


def main() -> None:
    from gateway.logging import configure_logging

    # Commands other than `serve` log only warnings, on stderr (stdout is for their output).
    configure_logging("warning")
    app()
