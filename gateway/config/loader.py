"""Reading ``upstreams.yaml``: YAML -> validated models, with errors that say where and what to fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gateway.config.models import GatewaySettings, UpstreamsFile, resolve_path
from gateway.errors import ConfigError

__all__ = ["LoadedConfig", "format_validation_error", "load_config", "load_config_async", "read_yaml"]

_FIELD_HINTS = {
    "extra_forbidden": "unknown key; check the spelling (see the upstreams.yaml reference in README.md)",
    "missing": "this key is required",
}


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config plus where it came from."""

    path: Path
    file: UpstreamsFile

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def settings(self) -> GatewaySettings:
        return self.file.gateway

    @property
    def state_dir(self) -> Path:
        return resolve_path(self.base_dir, self.settings.state_dir) or (self.base_dir / ".mcp-gateway")

    @property
    def audit_dir(self) -> Path:
        return resolve_path(self.base_dir, self.settings.audit_dir) or (self.state_dir / "audit")

    def upstream_cwd(self, name: str) -> Path:
        up = self.file.upstreams[name]
        cwd = getattr(up, "cwd", None)
        return resolve_path(self.base_dir, cwd) or self.base_dir


def read_yaml(path: Path) -> Any:
    """Parse a YAML file safely; a syntax error becomes a ConfigError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found; pass --config PATH or create it", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", path=str(path)) from None
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {problem}", path=str(path), location=where) from None


def _loc_to_str(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        # Discriminated-union tags ("stdio"/"http") and str|SecretRef branches are noise for a reader.
        if item in ("stdio", "http", "str", "SecretRef", "function-after[_check_prefix(), str]"):
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def format_validation_error(exc: ValidationError, path: Path, kind: str = "upstream") -> ConfigError:
    """One ConfigError listing every problem, each with its location and a hint."""
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        where = _loc_to_str(loc)
        if kind == "upstream" and len(loc) >= 2 and loc[0] == "upstreams":
            rest = _loc_to_str(loc[2:])
            where = f"upstream '{loc[1]}'" + (f", field '{rest}'" if rest else "")
        msg = _FIELD_HINTS.get(err["type"], err["msg"])
        line = f"{where}: {msg}" if where else msg
        # A str|SecretRef union reports the same spot twice; one line says it.
        if err["type"] in ("string_type", "model_type", "dict_type") and where in seen:
            continue
        if err["type"] == "model_type" and "SecretRef" in str(err.get("loc")):
            line = f"{where}: expected a string or {{secret: NAME}}"
        seen.add(where)
        lines.append(line)
    body = "\n  ".join(lines)
    return ConfigError(f"invalid configuration:\n  {body}", path=str(path))


def load_config(path: Path) -> LoadedConfig:
    """Load and validate ``upstreams.yaml``. Raises ConfigError with every problem found."""
    path = path.expanduser().resolve()
    data = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping with an 'upstreams:' key", path=str(path))
    try:
        file = UpstreamsFile.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, path) from None
    _check_namespaces(file, path)
    return LoadedConfig(path=path, file=file)


async def load_config_async(path: Path) -> LoadedConfig:
    return await anyio.to_thread.run_sync(load_config, path)


def _check_namespaces(file: UpstreamsFile, path: Path) -> None:
    owners: dict[str, str] = {}
    for name, up in file.upstreams.items():
        ns = up.namespace(name)
        if ns is None:
            continue
        if ns in owners:
            raise ConfigError(
                f"upstreams '{owners[ns]}' and '{name}' both use the prefix '{ns}'; give one a different 'prefix:'",
                path=str(path),
            )
        owners[ns] = name
