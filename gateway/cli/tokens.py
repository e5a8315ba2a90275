"""`mcp-gateway tokens ...`: bearer tokens for HTTP clients (only a hash is stored; the token is shown once)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gateway.cli.common import ConfigOption, JsonOption, fail, load_or_exit, out_console, print_json
from gateway.errors import ConfigError
from gateway.identity.tokens import TokenStore

app = typer.Typer(help="Bearer tokens for clients of the HTTP front.", no_args_is_help=True)

StateDirOption = Annotated[
    Path | None, typer.Option("--state-dir", help="State directory (default: from the config).", show_default=False)
]


def _store(config: Path | None, state_dir: Path | None) -> TokenStore:
    return TokenStore(state_dir if state_dir is not None else load_or_exit(config).state_dir)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who the token is for (shown in audit records).")],
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="A group (repeatable), for policy rules.")
    ] = None,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token. It is printed once; only its hash is stored."""
    try:
        token = _store(config, state_dir).create(name, list(group or []))
    except ConfigError as exc:
        fail(str(exc))
    if as_json:
        print_json({"name": name, "groups": sorted(set(group or [])), "token": token})
        return
    typer.echo(token)
    typer.echo(f"token for '{name}' created; it is not shown again.", err=True)
    typer.echo("Clients send it as: Authorization: Bearer <token>", err=True)


@app.command("list")
def list_tokens(config: ConfigOption = None, state_dir: StateDirOption = None, as_json: JsonOption = False) -> None:
    """List tokens (names, groups, state; never the tokens)."""
    try:
        records = _store(config, state_dir).load()
    except ConfigError as exc:
        fail(str(exc))
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "groups": r.groups,
            "created": datetime.fromtimestamp(r.created, UTC).isoformat(timespec="seconds"),
            "state": "revoked" if r.revoked is not None else "active",
        }
        for name, r in sorted(records.items())
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "groups", "created", "state")
    for row in rows:
        table.add_row(str(row["name"]), ", ".join(row["groups"]) or "-", str(row["created"]), str(row["state"]))
    out_console.print(table)


@app.command("revoke")
def revoke(name: str, config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """Revoke a token; a running gateway refuses it from the next request on."""
    try:
        _store(config, state_dir).revoke(name)
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(f"revoked token '{name}'")
