"""Options and helpers shared by every CLI command."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from gateway.config.loader import LoadedConfig
from gateway.errors import ConfigError

__all__ = [
    "AuditDirOption",
    "ConfigOption",
    "JsonOption",
    "default_config_path",
    "err_console",
    "fail",
    "load_or_exit",
    "out_console",
    "print_json",
]

out_console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def default_config_path() -> Path:
    return Path(os.environ.get("MCP_GATEWAY_CONFIG", "upstreams.yaml"))


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to upstreams.yaml (default: $MCP_GATEWAY_CONFIG or ./upstreams.yaml).",
        show_default=False,
    ),
]
AuditDirOption = Annotated[
    Path | None,
    typer.Option("--audit-dir", help="Audit log directory (overrides the config).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error for a person and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def load_or_exit(path: Path | None) -> LoadedConfig:
    """The effective configuration (layers, profile and requirements applied); exits 2 with the reason if invalid."""
    from gateway.admin.load import load_layered

    if path is not None and not path.exists():
        # Layers are optional, but a file named on the command line must exist: a typo is not "no config".
        fail(f"{path}: file not found; pass --config PATH or create it")
    try:
        loaded, _effective = load_layered(path or default_config_path())
    except ConfigError as exc:
        fail(str(exc))
    for notice in loaded.notices:
        err_console.print(f"[yellow]note:[/] {notice}", highlight=False)
    return loaded


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
