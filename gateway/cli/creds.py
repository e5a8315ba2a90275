"""`mcp-gateway creds ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="creds commands.", no_args_is_help=True)
