"""`mcp-gateway upstreams ...`: list, add, remove, enable, disable, import and check upstream MCP servers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
from gateway.config.edit import EditResult, add_upstream, remove_upstream, set_enabled
from gateway.config.importer import apply_import, read_client_config
from gateway.config.loader import LoadedConfig
from gateway.config.models import StdioUpstream
from gateway.config.status import read_status
from gateway.errors import ConfigError

app = typer.Typer(help="Register, inspect and check upstream MCP servers.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Upstream name (lowercase letters, digits and '-').", show_default=False)]


def _path(config: Path | None) -> Path:
    return config or default_config_path()


def _upstream_rows(loaded: LoadedConfig) -> tuple[bool, list[dict[str, Any]]]:
    status = read_status(loaded.state_dir)
    rows: list[dict[str, Any]] = []
    for name, up in loaded.file.upstreams.items():
        live = status.upstreams.get(name) if status else None
        if isinstance(up, StdioUpstream):
            target = " ".join([up.command, *up.args])
        else:
            target = up.url.split("?", 1)[0]  # a query string may carry a token
        if name in loaded.disabled_reasons:
            state, why = "disabled", loaded.disabled_reasons[name]
        elif not up.enabled:
            state, why = "disabled", "disabled in config"
        elif status is None:
            state, why = "not running", None
        elif live is None:
            state, why = "not loaded", "the gateway has not reloaded the config yet"
        else:
            state, why = live.state, live.error
        rows.append(
            {
                "name": name,
                "transport": up.transport,
                "enabled": up.enabled,
                "target": target,
                "prefix": up.namespace(name),
                "state": state,
                "tools": live.tools if live else None,
                "protocol": live.protocol if live else None,
                "pid": live.pid if live else None,
                "error": why,
            }
        )
    return status is not None, rows


@app.command("list")
def list_upstreams(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """List upstreams with live state and tool counts when a gateway is running."""
    loaded = load_or_exit(config)
    running, rows = _upstream_rows(loaded)
    if json_out:
        print_json({"config": str(loaded.path), "gateway_running": running, "upstreams": rows})
        return
    if not rows:
        out_console.print(f"No upstreams in {loaded.path}. Add one with `mcp-gateway upstreams add`.")
        return
    table = Table(title=f"Upstreams in {loaded.path}" + ("" if running else " (gateway not running)"))
    for column in ("name", "transport", "enabled", "state", "tools", "target", "note"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state_style = {"ready": "green", "failed": "red", "disabled": "dim"}.get(row["state"], "yellow")
        table.add_row(
            row["name"],
            row["transport"],
            "yes" if row["enabled"] else "no",
            f"[{state_style}]{row['state']}[/]",
            "-" if row["tools"] is None else str(row["tools"]),
            row["target"],
            row["error"] or "",
        )
    out_console.print(table)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option} expects KEY=VALUE, got '{item}'")
        out[key] = value
    return out


def _report(result: EditResult[Any], message: str) -> None:
    if result.changed:
        out_console.print(f"{message} in {result.config.path}. A running gateway reloads it automatically.")
    else:
        out_console.print(f"{message}; {result.config.path} needed no change.")


@app.command("add")
def add(
    name: NameArg,
    command: Annotated[str | None, typer.Option("--command", help="Executable of a stdio server.")] = None,
    arg: Annotated[list[str] | None, typer.Option("--arg", help="Argument for --command (repeat).")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="K=V environment variable (repeat).")] = None,
    cwd: Annotated[str | None, typer.Option("--cwd", help="Working directory of the stdio server.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Streamable HTTP endpoint.")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", help="K=V HTTP header (repeat).")] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help='Tool name prefix ("none": no prefix).')] = None,
    secret_env: Annotated[
        list[str] | None, typer.Option("--secret-env", help="K=SECRETNAME: env var from the keyring (repeat).")
    ] = None,
    secret_header: Annotated[
        list[str] | None,
        typer.Option("--secret-header", help="K=SECRETNAME[:TEMPLATE], e.g. 'Authorization=gh:Bearer {secret}'."),
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an upstream of the same name.")] = False,
    extra_args: Annotated[
        list[str] | None, typer.Argument(help="Arguments after `--` are passed to --command.", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Add a stdio (--command) or HTTP (--url) upstream; secrets are stored by reference, never in the file."""
    if (command is None) == (url is None):
        fail("pass exactly one of --command CMD (stdio server) or --url URL (HTTP server)")
    spec: dict[str, Any] = {}
    if command is not None:
        if header or secret_header:
            fail("--header/--secret-header are for HTTP upstreams (--url)")
        spec["command"] = command
        if arg or extra_args:
            spec["args"] = [*(arg or []), *(extra_args or [])]
        values: dict[str, Any] = dict(_pairs(env or [], "--env"))
        values.update({k: {"secret": v} for k, v in _pairs(secret_env or [], "--secret-env").items()})
        if values:
            spec["env"] = values
        if cwd:
            spec["cwd"] = cwd
    else:
        if arg or extra_args or env or secret_env or cwd:
            fail("--arg/--env/--secret-env/--cwd are for stdio upstreams (--command)")
        spec["url"] = url
        values = dict(_pairs(header or [], "--header"))
        for key, ref in _pairs(secret_header or [], "--secret-header").items():
            secret, sep, template = ref.partition(":")
            values[key] = {"secret": secret, "template": template} if sep else {"secret": secret}
        if values:
            spec["headers"] = values
    if prefix is not None:
        spec["prefix"] = prefix
    try:
        result = add_upstream(_path(config), name, spec, replace=replace)
    except ConfigError as exc:
        fail(str(exc))
    _report(result, f"Added upstream '{name}'")


@app.command("remove")
def remove(name: NameArg, config: ConfigOption = None) -> None:
    """Remove an upstream from the config."""
    try:
        result = remove_upstream(_path(config), name)
    except ConfigError as exc:
        fail(str(exc))
    _report(result, f"Removed upstream '{name}'")


def _toggle(name: str, config: Path | None, enabled: bool) -> None:
    try:
        result = set_enabled(_path(config), name, enabled)
    except ConfigError as exc:
        fail(str(exc))
    word = "enabled" if enabled else "disabled"
    _report(result, f"Upstream '{name}' {word}" if result.value != enabled else f"Upstream '{name}' was already {word}")


@app.command("enable")
def enable(name: NameArg, config: ConfigOption = None) -> None:
    """Enable an upstream (the gateway starts it on reload)."""
    _toggle(name, config, True)


@app.command("disable")
def disable(name: NameArg, config: ConfigOption = None) -> None:
    """Disable an upstream without removing it (the gateway stops it on reload)."""
    _toggle(name, config, False)


@app.command("import")
def import_servers(
    file: Annotated[
        Path, typer.Argument(help="Claude Desktop, Cursor or VS Code MCP JSON config.", show_default=False)
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resulting YAML; change nothing.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite upstreams with the same names.")] = False,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import servers from a client's mcpServers/servers JSON; secret-looking values become keyring references."""
    try:
        plan = read_client_config(file)
        outcome = apply_import(_path(config), plan, replace=replace, dry_run=dry_run)
    except ConfigError as exc:
        fail(str(exc))
    if json_out:
        print_json(
            {
                "dry_run": dry_run,
                "added": outcome.added,
                "replaced": outcome.replaced,
                "skipped": outcome.skipped,
                "renamed": plan.renames,
                "warnings": plan.warnings,
                "secrets": [{"secret": s.secret, "upstream": s.upstream, "where": s.where} for s in plan.secrets],
                "yaml": outcome.edit.text if (dry_run and outcome.edit) else None,
            }
        )
        return
    for old, new in plan.renames.items():
        out_console.print(f"renamed '{old}' -> '{new}' (upstream names are lowercase letters, digits and '-')")
    for name, why in outcome.skipped.items():
        out_console.print(f"[yellow]skipped[/] '{name}': {why}")
    for warning in plan.warnings:
        out_console.print(f"[yellow]warning:[/] {warning}")
    imported = [*outcome.added, *outcome.replaced]
    if dry_run and outcome.edit is not None:
        out_console.print(f"# dry run: {_path(config)} would become:", highlight=False)
        out_console.print(outcome.edit.text, markup=False, highlight=False, end="")
    elif imported:
        out_console.print(
            f"Imported {len(imported)} upstream(s) into {outcome.edit.config.path if outcome.edit else ''}"
        )
    else:
        out_console.print("Nothing imported.")
    needed = [s for s in plan.secrets if s.upstream in imported]
    if needed:
        out_console.print("\nStore these credentials in the OS keyring (values were not copied into the config):")
        for s in needed:
            note = f"   # {s.upstream} {s.where}" + (f"; {s.note}" if s.note else "")
            out_console.print(f"  {s.command}{note}", markup=False, highlight=False)


@app.command("check")
def check(name: NameArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Start one upstream, list its tools and report problems (exit 1 if it does not come up)."""
    from gateway.assemble import resolver_for
    from gateway.upstreams.check import check_upstream

    loaded = load_or_exit(config)

    async def run() -> Any:
        return await check_upstream(loaded, name, resolver=await resolver_for(loaded))

    try:
        report = anyio.run(run)
    except ConfigError as exc:
        fail(str(exc))
    if as_json:
        print_json(report.as_dict())
    elif report.ok:
        out_console.print(
            f"[green]ok[/] {name}: {report.server or 'server'} over {report.transport}, protocol {report.protocol}, "
            f"{len(report.tools)} tools, {report.prompts} prompts, {report.resources} resources",
            highlight=False,
        )
        for tool in report.tools:
            out_console.print(f"  {tool}", highlight=False)
        if report.hidden_tools:
            hidden = ", ".join(report.hidden_tools)
            out_console.print(f"  hidden by enabled_tools/disabled_tools: {hidden}", highlight=False)
    else:
        err_console.print(f"[red]failed[/] {name}: {report.error or report.state}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
