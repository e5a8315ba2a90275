"""`mcp-gateway upstreams ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="upstreams commands.", no_args_is_help=True)
