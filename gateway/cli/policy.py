"""`mcp-gateway policy ...`: check a call against the policies, and lint the policy files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gateway.cli.common import ConfigOption, JsonOption, default_config_path, fail, out_console, print_json
from gateway.errors import ConfigError
from gateway.policy import PolicyRequest, PolicySet, lint_policies, load_policies

app = typer.Typer(help="Check and lint tool-call policies.", no_args_is_help=True)

PoliciesOption = Annotated[
    Path | None,
    typer.Option(
        "--policies",
        "-p",
        help="Policy directory (default: policies/ beside the config file).",
        show_default=False,
    ),
]

_STYLE = {"allow": "green", "prompt": "yellow", "deny": "bold red"}


def _effective_policies(config: Path | None, policies: Path | None, directory: Path) -> PolicySet:
    """What the gateway would enforce: every layer's policies plus the admin's requirements.

    Without a config file (a bare policy directory being checked) only that directory is loaded.
    """
    from gateway.admin.load import load_layered
    from gateway.admin.policies import load_policy_set

    config_path = config or default_config_path()
    if not config_path.exists():
        return load_policies(directory)
    _loaded, eff = load_layered(config_path, policies_dir=policies)
    policy_set, _notices = load_policy_set(eff)
    return policy_set


def _policies_dir(policies: Path | None, config: Path | None) -> Path:
    if policies is not None:
        return policies
    return (config or default_config_path()).parent / "policies"


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f'{option} is not valid JSON ({exc.msg} at position {exc.pos}); e.g. {option} \'{{"path": "a.txt"}}\'')
    if not isinstance(value, dict):
        fail(f'{option} must be a JSON object, e.g. {option} \'{{"path": "a.txt"}}\'')
    return value


@app.command("check")
def check(
    upstream: Annotated[str, typer.Argument(help="Upstream name, as in upstreams.yaml.")],
    tool: Annotated[str, typer.Argument(help="The upstream's own tool name (without the prefix).")],
    args: Annotated[str, typer.Option("--args", "-a", help="Tool arguments as a JSON object.")] = "{}",
    identity: Annotated[str, typer.Option("--identity", "-i", help="Caller identity name.")] = "",
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Caller group (repeatable).")] = None,
    annotations: Annotated[
        str | None, typer.Option("--annotations", help="Tool annotations as JSON, e.g. '{\"readOnlyHint\": true}'.")
    ] = None,
    cwd: Annotated[str | None, typer.Option("--cwd", help="Working directory for relative paths.")] = None,
    policies: PoliciesOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the decision for one call: every matched rule with its justification and file, and the fallback."""
    arguments = _json_object(args, "--args") or {}
    hints = _json_object(annotations, "--annotations")
    directory = _policies_dir(policies, config)
    try:
        policy_set = _effective_policies(config, policies, directory)
    except ConfigError as exc:
        fail(str(exc))
    request = PolicyRequest(
        upstream=upstream,
        tool=tool,
        arguments=arguments,
        annotations=hints,
        identity=identity,
        groups=tuple(group or ()),
        cwd=cwd or str(Path.cwd()),
    )
    decision = policy_set.evaluate(request)
    if as_json:
        print_json({"upstream": upstream, "tool": tool, "policies": str(directory), **decision.to_dict()})
        return
    style = _STYLE[decision.decision]
    out_console.print(f"[{style}]{decision.decision.upper()}[/] {upstream}/{tool}  (decided by: {decision.source})")
    out_console.print(f"  {decision.justification}", highlight=False, markup=False)
    if decision.matched:
        table = Table(show_lines=False)
        table.add_column("rule", no_wrap=True)
        table.add_column("decision")
        table.add_column("file", overflow="fold")
        table.add_column("justification")
        for rule in decision.matched:
            table.add_row(rule.id, f"[{_STYLE[rule.decision]}]{rule.decision}[/]", rule.file, rule.justification)
        out_console.print(table)
    else:
        out_console.print(f"  no rule matched; fallback used: {decision.fallback}")
    if decision.mode != "auto":
        out_console.print(f"  approval mode: {decision.mode}")
    out_console.print(f"  policy version: {decision.policy_version} ({len(policy_set)} rules from {directory})")


@app.command("lint")
def lint(
    policies: PoliciesOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate every policy file and run every inline example; exits 1 if anything is wrong."""
    directory = _policies_dir(policies, config)
    report = lint_policies(directory)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "files": [str(p) for p in report.files],
                "rules": report.rules,
                "examples": report.examples,
                "errors": [str(e) for e in report.errors],
            }
        )
    else:
        for err in report.errors:
            out_console.print(f"[bold red]error:[/] {err}", highlight=False)
        summary = f"{len(report.files)} file(s), {report.rules} rule(s), {report.examples} example(s) checked"
        if report.ok:
            out_console.print(f"[green]ok[/]: {summary} in {directory}")
        else:
            out_console.print(f"[red]{len(report.errors)} problem(s)[/]: {summary} in {directory}")
    if not report.ok:
        raise typer.Exit(1)
