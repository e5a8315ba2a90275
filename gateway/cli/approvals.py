"""`mcp-gateway approvals ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="approvals commands.", no_args_is_help=True)
