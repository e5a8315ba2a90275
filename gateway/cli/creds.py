"""`mcp-gateway creds ...`: store, list, delete and check credentials in the OS keyring (never printing values)."""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import typer
from rich.table import Table

from gateway.cli.common import (
    ConfigOption,
    JsonOption,
    default_config_path,
    err_console,
    fail,
    load_or_exit,
    out_console,
    print_json,
)
from gateway.config.loader import LoadedConfig
from gateway.config.models import all_secret_refs
from gateway.config.secrets import SECRET_NAME_PATTERN
from gateway.credentials.backend import set_command
from gateway.credentials.lint import find_literal_secrets
from gateway.credentials.store import CredentialStore
from gateway.errors import ConfigError, CredentialError

app = typer.Typer(help="Manage credentials stored in the OS keyring.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Credential name, as used in {secret: NAME} in upstreams.yaml.")]
T = TypeVar("T")


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return anyio.run(fn)
    except CredentialError as exc:
        fail(exc.public_message)


def _open(config: Path | None, *, required: bool) -> tuple[LoadedConfig | None, CredentialStore]:
    """The config (when there is one) and a store using its settings and state directory."""
    loaded: LoadedConfig | None = None
    if config is not None or required or default_config_path().exists():
        loaded = load_or_exit(config)
    try:
        store = CredentialStore.from_config(loaded) if loaded is not None else CredentialStore()
    except ConfigError as exc:
        fail(str(exc))
    return loaded, store


def _users(loaded: LoadedConfig | None) -> dict[str, list[str]]:
    """Credential name -> upstreams referencing it."""
    users: dict[str, list[str]] = {}
    if loaded is None:
        return users
    for upstream, refs in all_secret_refs(loaded.file).items():
        for ref in refs:
            names = users.setdefault(ref.secret, [])
            if upstream not in names:
                names.append(upstream)
    return users


async def _problem(store: CredentialStore, name: str) -> str | None:
    try:
        await store.get(name)
    except CredentialError as exc:
        return exc.public_message
    return None


def _read_secret(name: str) -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True)
        return value
    # Piped: exactly one trailing newline (from echo or a file) is not part of the secret.
    return re.sub(r"\r?\n\Z", "", sys.stdin.read())


@app.command("set")
def set_(name: NameArg, config: ConfigOption = None) -> None:
    """Store or replace a credential. The value is read from a hidden prompt, or from stdin when piped."""
    if not re.fullmatch(SECRET_NAME_PATTERN, name):
        fail(f"invalid credential name {name!r}: use letters, digits, '.', '_' and '-' (e.g. github-token)")
    loaded, store = _open(config, required=False)
    value = _read_secret(name)
    if not value:
        fail(f'empty value; pipe the secret on stdin (e.g. `printf %s "$TOKEN" | {set_command(name)}`)')
    replaced = _run(lambda: store.set(name, value))
    users = _users(loaded).get(name, [])
    verb = "Replaced" if replaced else "Stored"
    err_console.print(f"{verb} credential [bold]{name}[/].", highlight=False)
    if loaded is None:
        err_console.print("No upstreams.yaml found: a running gateway is not notified (pass --config).")
    elif users:
        err_console.print(f"Used by: {', '.join(users)}. A running gateway picks up the new value.", highlight=False)
    else:
        err_console.print(f"Not referenced in {loaded.path}; use it as {{secret: {name}}}.", highlight=False)


@app.command("delete")
def delete(name: NameArg, config: ConfigOption = None) -> None:
    """Remove a credential from the keyring."""
    loaded, store = _open(config, required=False)
    if not _run(lambda: store.delete(name)):
        fail(f"no credential named {name!r} is stored (see: mcp-gateway creds list)")
    users = _users(loaded).get(name, [])
    note = f" Still referenced by: {', '.join(users)}." if users else ""
    err_console.print(f"Deleted credential [bold]{name}[/].{note}", highlight=False)


@app.command("list")
def list_(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Stored and referenced credentials: which upstreams use each and whether it resolves (never values)."""
    loaded, store = _open(config, required=False)
    users = _users(loaded)

    async def gather() -> list[dict[str, Any]]:
        stored = set(await store.names())
        rows = []
        for name in sorted(stored | set(users)):
            problem = await _problem(store, name)
            rows.append(
                {
                    "name": name,
                    "used_by": users.get(name, []),
                    "stored": name in stored,
                    "resolves": problem is None,
                    "problem": problem,
                }
            )
        return rows

    rows = _run(gather)
    if json_output:
        print_json(rows)
        return
    if not rows:
        out_console.print("No credentials stored or referenced.")
        return
    table = Table("NAME", "USED BY", "STATUS")
    for row in rows:
        status = "[green]ok[/]" if row["resolves"] else f"[red]missing[/]: {set_command(row['name'])}"
        table.add_row(row["name"], ", ".join(row["used_by"]) or "-", status)
    out_console.print(table)


@app.command("check")
def check(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Check that every credential the config references resolves, and that no literal secrets are in it.

    Exits 1 when something is missing.
    """
    loaded, store = _open(config, required=True)
    if loaded is None:  # required=True loads or exits; this narrows the type
        fail("no configuration loaded")
    users = _users(loaded)

    async def gather() -> list[dict[str, Any]]:
        missing = []
        for name in sorted(users):
            problem = await _problem(store, name)
            if problem is not None:
                missing.append({"name": name, "used_by": users[name], "problem": problem, "fix": set_command(name)})
        return missing

    missing = _run(gather)
    literals = [{"location": i.location, "message": i.message} for i in find_literal_secrets(loaded.file)]
    ok = not missing and not literals
    if json_output:
        print_json({"ok": ok, "checked": sorted(users), "missing": missing, "literal_secrets": literals})
    else:
        for item in missing:
            out_console.print(
                f"[red]missing[/] {item['name']} (used by {', '.join(item['used_by'])}): {item['problem']}",
                highlight=False,
            )
        for lit in literals:
            out_console.print(f"[red]literal secret[/] {lit['message']}", highlight=False)
        if ok:
            out_console.print(f"All {len(users)} referenced credential(s) resolve.")
    if not ok:
        raise typer.Exit(1)
