"""`mcp-gateway config ...`: the effective configuration after layers, profiles and requirements, and why."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gateway.admin import Effective, load_effective
from gateway.admin.explain import BUILT_IN
from gateway.cli.common import ConfigOption, JsonOption, default_config_path, err_console, fail, print_json
from gateway.errors import ConfigError

__all__ = ["ProfileOption", "SystemDirOption", "UserDirOption", "app", "effective_or_exit"]

app = typer.Typer(help="Show the effective configuration and explain where values come from.", no_args_is_help=True)

SystemDirOption = Annotated[
    Path | None,
    typer.Option(
        "--system-dir",
        envvar="MCP_GATEWAY_SYSTEM_DIR",
        help="System directory with managed.yaml, requirements.yaml and policies/ (default: /etc/mcp-gateway).",
        show_default=False,
    ),
]
UserDirOption = Annotated[
    Path | None,
    typer.Option(
        "--user-dir",
        help="User config directory (default: $XDG_CONFIG_HOME/mcp-gateway or ~/.config/mcp-gateway).",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        envvar="MCP_GATEWAY_PROFILE",
        help="Named overlay from 'profiles:' in any layer file.",
        show_default=False,
    ),
]


def effective_or_exit(
    config: Path | None, system_dir: Path | None, user_dir: Path | None, profile: str | None
) -> Effective:
    """Load the effective configuration, or print the ConfigError and exit 2."""
    try:
        return load_effective(
            config or default_config_path(), system_dir=system_dir, user_dir=user_dir, profile=profile
        )
    except ConfigError as exc:
        fail(str(exc))


def _print_notices(effective: Effective) -> None:
    for notice in effective.notices:
        err_console.print(f"[yellow]notice:[/] {notice}", highlight=False, markup=True, soft_wrap=True)


def _commented(value: Any, prefix: tuple[str, ...], effective: Effective) -> Any:
    if isinstance(value, dict):
        node = CommentedMap()
        for key, item in value.items():
            here = (*prefix, str(key))
            node[key] = _commented(item, here, effective)
            dotted = ".".join(here)
            if not isinstance(item, dict) or not item:
                node.yaml_add_eol_comment(f"# {effective.origins.get(dotted, BUILT_IN)}", key)
            elif len(here) == 2 and here[0] == "upstreams" and str(key) in effective.disabled:
                node.yaml_set_comment_before_after_key(key, before=effective.disabled[str(key)], indent=2)
        return node
    if isinstance(value, list):
        return CommentedSeq(value)
    return value


def _yaml(data: Any) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


@app.command("show")
def show(
    origin: Annotated[bool, typer.Option("--origin", help="Annotate each value with the file it came from.")] = False,
    config: ConfigOption = None,
    system_dir: SystemDirOption = None,
    user_dir: UserDirOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the effective configuration (YAML): every layer merged, the profile applied, requirements enforced."""
    effective = effective_or_exit(config, system_dir, user_dir, profile)
    data = effective.file.model_dump(mode="json")
    if as_json:
        print_json(
            {
                "config": data,
                "origins": effective.origins if origin else None,
                "profile": effective.profile,
                "disabled": effective.disabled,
                "notices": effective.notices,
                "require_tokens": effective.require_tokens,
                "allowed_approval_modes": effective.allowed_approval_modes,
                "approval_modes": effective.profile_policy.get("approval_modes", []),
                "requirement_policy": effective.requirement_policy,
                "layers": [str(p) for p in effective.layer_files],
            }
        )
        return
    _print_notices(effective)
    sys.stdout.write(_yaml(_commented(data, (), effective) if origin else data))


@app.command("explain")
def explain(
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. gateway.audit.fsync or upstreams.time.command.")],
    config: ConfigOption = None,
    system_dir: SystemDirOption = None,
    user_dir: UserDirOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Say why KEY has its value: the file that set it, every layer that tried, and the requirement bounding it."""
    effective = effective_or_exit(config, system_dir, user_dir, profile)
    try:
        text = effective.explain(key)
    except ConfigError as exc:
        fail(str(exc))
    if as_json:
        related = {k: v for k, v in effective.history.items() if k == key or k.startswith(key + ".")}
        print_json(
            {
                "key": key,
                "explanation": text,
                "origins": {k: v for k, v in effective.origins.items() if k == key or k.startswith(key + ".")},
                "history": {k: [{"file": f, "value": v} for f, v in items] for k, items in related.items()},
                "constraints": {k: v for k, v in effective.constraints.items() if k == key or key.startswith(k + ".")},
            }
        )
        return
    sys.stdout.write(text + "\n")
