"""Reading ``upstreams.yaml``: YAML -> validated models, with errors that say where and what to fix."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gateway.config.models import GatewaySettings, HttpUpstream, StdioUpstream, UpstreamsFile, resolve_path
from gateway.errors import ConfigError

__all__ = [
    "LoadedConfig",
    "format_validation_error",
    "load_config",
    "load_config_async",
    "normalize_upstream_name",
    "read_yaml",
    "validate_config_data",
]

_BRANCH_TAGS = {"stdio", "http", "str", "SecretRef"}


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config plus where it came from."""

    path: Path
    file: UpstreamsFile
    # Upstreams turned off by the admin's requirements, with the reason shown in `upstreams list` and status.
    disabled_reasons: Mapping[str, str] = field(default_factory=dict)
    # Every file the effective configuration was (or would be) read from: what hot reload watches.
    sources: tuple[Path, ...] = ()
    notices: tuple[str, ...] = ()
    _cwd_text: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

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

    def upstream_cwd_text(self, name: str) -> str:
        """``upstream_cwd`` as text, computed once per loaded config (it is asked on every tool call)."""
        text = self._cwd_text.get(name)
        if text is None:
            text = self._cwd_text[name] = str(self.upstream_cwd(name))
        return text


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


def read_mapping(path: Path, shape: str) -> dict[str, Any]:
    """``read_yaml`` for a file whose top level must be a mapping; an empty file is an empty mapping.

    ``shape`` says what the top level should be, for the error, e.g. "a mapping with a 'rules:' list".
    """
    raw = read_yaml(path)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"the top level must be {shape}", path=str(path))
    return raw


def normalize_upstream_name(raw: str) -> str:
    """The nearest valid upstream name: lowercase, ``_``/spaces/dots -> ``-``, other characters dropped."""
    name = re.sub(r"[\s_.]+", "-", raw.strip().lower())
    name = re.sub(r"[^a-z0-9-]", "", name)
    name = re.sub(r"-{2,}", "-", name).strip("-")[:63].rstrip("-")
    return name or "server"


def format_validation_error(exc: ValidationError, path: Path, kind: str = "upstream") -> ConfigError:
    """One ConfigError listing every problem, each with its location and what to fix."""
    errors = exc.errors(include_url=False)
    cleaned = [_clean_loc(err["loc"]) for err in errors]
    # A `str | {secret: ...}` value reports one error per branch; say it once, and prefer the specific one.
    union_spots = {tuple(c) for err, c in zip(errors, cleaned, strict=True) if _is_str_branch(err)}
    deeper = {s for s in union_spots if any(len(c) > len(s) and tuple(c[: len(s)]) == s for c in cleaned)}
    lines: list[str] = []
    for err, loc in zip(errors, cleaned, strict=True):
        spot = tuple(loc)
        if _is_str_branch(err) or (spot in deeper and err["type"] == "model_type"):
            continue
        if spot in union_spots and err["type"] == "model_type":
            message = "expected a string or {secret: NAME}"
        else:
            message = _hint(err, loc)
        where = _where(loc) if kind == "upstream" else _dotted(loc)
        line = f"{where}: {message}" if where else message
        if line not in lines:
            lines.append(line)
    body = "\n  ".join(lines)
    return ConfigError(f"invalid configuration:\n  {body}", path=str(path))


def _is_str_branch(err: ErrorDetails) -> bool:
    return bool(err["loc"]) and err["loc"][-1] == "str" and err["type"] == "string_type"


def _clean_loc(loc: Sequence[int | str]) -> list[int | str]:
    # Discriminated-union tags ("stdio"/"http") and str|SecretRef branch names are noise for a reader.
    return [item for item in loc if item not in _BRANCH_TAGS and not str(item).startswith("function-")]


def _dotted(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        parts.append(f"[{item}]" if isinstance(item, int) else ("." if parts else "") + str(item))
    return "".join(parts)


def _where(loc: list[int | str]) -> str:
    if len(loc) >= 2 and loc[0] == "upstreams":
        if len(loc) == 3 and loc[2] == "[key]":
            return f"upstream name '{loc[1]}'"
        rest = _dotted(loc[2:])
        return f"upstream '{loc[1]}'" + (f", field '{rest}'" if rest else "")
    if len(loc) >= 2 and loc[0] == "gateway":
        return f"gateway, field '{_dotted(loc[1:])}'"
    return _dotted(loc)


def _hint(err: ErrorDetails, loc: list[int | str]) -> str:
    kind = err["type"]
    last = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        return _unknown_key_hint(err, loc)
    if kind == "missing":
        return "this key is required"
    if kind == "union_tag_not_found":
        return "set 'command' (a local stdio server) or 'url' (a Streamable HTTP server)"
    if kind == "union_tag_invalid":
        return "'type' must be 'stdio' or 'http'"
    if kind == "model_attributes_type" and len(loc) == 2 and loc[0] == "upstreams":
        return "expected a mapping with 'command' (stdio) or 'url' (HTTP)"
    if kind == "string_pattern_mismatch":
        if last == "[key]" and loc[0] == "upstreams":
            suggestion = normalize_upstream_name(str(loc[1]))
            return (
                "use lowercase letters, digits and '-' (1-63 characters, starting with a letter or digit), "
                f"e.g. '{suggestion}'"
            )
        if last == "url":
            return "must be an http:// or https:// URL, e.g. http://127.0.0.1:3001/mcp"
        if last == "secret":
            return "a secret name uses letters, digits, '.', '_' and '-' (at most 128 characters), e.g. github-token"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


def _unknown_key_hint(err: ErrorDetails, loc: list[int | str]) -> str:
    key = str(loc[-1]) if loc else ""
    raw = err["loc"]
    if len(loc) == 1:
        return "unknown top-level key; the file has a 'gateway:' section and an 'upstreams:' mapping"
    if "SecretRef" in raw:
        return "unknown key in a secret reference; write {secret: NAME} or {secret: NAME, template: 'Bearer {secret}'}"
    known: set[str] = set()
    if loc[0] == "gateway" and len(loc) == 2:
        known = set(GatewaySettings.model_fields)
    elif loc[0] == "upstreams" and len(loc) == 3:
        this, other = (StdioUpstream, HttpUpstream) if "stdio" in raw else (HttpUpstream, StdioUpstream)
        known = set(this.model_fields)
        if key in other.model_fields:
            return (
                f"'{key}' belongs to {'HTTP' if other is HttpUpstream else 'stdio'} upstreams; "
                "an upstream has either 'command' (stdio) or 'url' (HTTP), not both"
            )
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.7)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    if known:
        return f"unknown key; valid keys are: {', '.join(sorted(known))}"
    return "unknown key; check the spelling (see the upstreams.yaml reference in README.md)"


def validate_config_data(data: Any, path: Path) -> UpstreamsFile:
    """Validate parsed YAML (plain dicts/lists) as ``upstreams.yaml``. Raises ConfigError naming every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping with an 'upstreams:' key", path=str(path))
    try:
        file = UpstreamsFile.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, path) from None
    _check_namespaces(file, path)
    return file


def load_config(path: Path) -> LoadedConfig:
    """Load and validate ``upstreams.yaml``. Raises ConfigError with every problem found."""
    path = path.expanduser().resolve()
    return LoadedConfig(path=path, file=validate_config_data(read_yaml(path), path))


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
