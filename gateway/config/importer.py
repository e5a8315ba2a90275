"""Import MCP server definitions from client configs (Claude Desktop, Cursor, VS Code) into ``upstreams.yaml``.

Understood shapes:

- ``{"mcpServers": {name: {command, args, env, cwd} | {url, headers}}}``: Claude Desktop, Claude Code, Cursor;
- ``{"servers": {name: {type: "stdio"|"http"|"sse", ...}}, "inputs": [...]}``: VS Code ``.vscode/mcp.json``;
- ``{"mcp": {"servers": {...}}}``: VS Code ``settings.json``.

Secret-looking literals (env keys like ``*TOKEN*``, ``*KEY*``, ``*SECRET*``, ``*PASSWORD*``; ``Authorization`` and
other credential headers; VS Code ``${input:...}`` prompts) are never copied: they become
``{secret: <upstream>-<key>}`` references and the plan lists the ``mcp-gateway creds set`` commands to run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from gateway.config.edit import EditResult, edit_config, set_key, to_yaml_node
from gateway.config.loader import normalize_upstream_name
from gateway.errors import ConfigError

__all__ = [
    "ImportOutcome",
    "ImportPlan",
    "SecretToSet",
    "apply_import",
    "looks_secret",
    "parse_client_config",
    "read_client_config",
]

_SECRET_KEY = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|SESSION", re.IGNORECASE)
_BEARER = re.compile(r"^(Bearer|Basic|Token|Bot)\s+(\S.*)$", re.IGNORECASE)
_INPUT_REF = re.compile(r"\$\{input:([^}]+)\}")
_STDIO_KEYS = {"type", "command", "args", "env", "cwd"}
_HTTP_KEYS = {"type", "url", "headers"}
# Keys clients use for their own purposes; dropping them changes nothing about how the server runs.
_CLIENT_ONLY_KEYS = {"autoApprove", "alwaysAllow", "disabledTools", "timeout", "transportType", "gallery", "version"}


@dataclass(frozen=True, slots=True)
class SecretToSet:
    """A credential the user must store: ``mcp-gateway creds set <secret>``."""

    secret: str
    upstream: str
    where: str
    note: str = ""

    @property
    def command(self) -> str:
        return f"mcp-gateway creds set {self.secret}"


@dataclass(slots=True)
class ImportPlan:
    """The upstreams an import would add, and everything the user should know about the conversion."""

    source: str
    upstreams: dict[str, dict[str, Any]] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    secrets: list[SecretToSet] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What ``apply_import`` did: names added, names replaced, names skipped (with why), and the edit itself."""

    added: list[str]
    replaced: list[str]
    skipped: dict[str, str]
    edit: EditResult[None] | None


def looks_secret(key: str) -> bool:
    """True for env/header names whose values are credentials."""
    return bool(_SECRET_KEY.search(key))


def read_client_config(path: Path) -> ImportPlan:
    """Read a client's JSON (comments and trailing commas allowed, as in VS Code) and plan the import."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found; pass the path of a client's MCP JSON config", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", path=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = json.loads(_strip_jsonc(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", path=str(path), location=f"line {exc.lineno}") from None
    return parse_client_config(data, source=str(path))


def parse_client_config(data: Any, *, source: str = "<input>") -> ImportPlan:
    """Convert a parsed client config into upstream specs (pure: no I/O)."""
    servers = _find_servers(data, source)
    plan = ImportPlan(source=source)
    for raw_name, entry in servers.items():
        name = normalize_upstream_name(str(raw_name))
        base, n = name, 2
        while name in plan.upstreams:  # two client names that normalize alike
            name = f"{base[:60]}-{n}"
            n += 1
        if name != raw_name:
            plan.renames[str(raw_name)] = name
        if not isinstance(entry, Mapping):
            plan.warnings.append(f"'{raw_name}': not an object; skipped")
            continue
        spec = _convert(name, str(raw_name), entry, plan)
        if spec is not None:
            plan.upstreams[name] = spec
    return plan


def apply_import(config_path: Path, plan: ImportPlan, *, replace: bool = False, dry_run: bool = False) -> ImportOutcome:
    """Add the plan's upstreams to ``config_path`` in one validated, atomic edit (creating the file if needed).

    Existing names are skipped unless ``replace``. Nothing is written when every upstream is skipped or on
    ``dry_run``; an invalid result raises ConfigError and writes nothing.
    """
    added: list[str] = []
    replaced: list[str] = []
    skipped: dict[str, str] = {}

    def mutate(doc: CommentedMap) -> None:
        ups = doc.get("upstreams")
        if ups is None:
            ups = doc["upstreams"] = CommentedMap()
        if not isinstance(ups, CommentedMap):
            raise ConfigError("'upstreams:' must be a mapping of name -> settings", path=str(config_path))
        if not ups:
            ups.fa.set_block_style()
        for name, spec in plan.upstreams.items():
            if name in ups and not replace:
                skipped[name] = "an upstream with this name exists (use --replace to overwrite it)"
                continue
            (replaced if name in ups else added).append(name)
            set_key(ups, name, to_yaml_node(spec))

    if not plan.upstreams:
        return ImportOutcome(added, replaced, skipped, None)
    edit = edit_config(config_path, mutate, create=True, dry_run=dry_run)
    return ImportOutcome(added, replaced, skipped, edit)


def _find_servers(data: Any, source: str) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        for candidate in (data.get("mcpServers"), data.get("servers"), (data.get("mcp") or {}).get("servers")):
            if isinstance(candidate, Mapping):
                return candidate
    raise ConfigError(
        "no MCP servers found: expected an 'mcpServers' object (Claude Desktop, Cursor) or 'servers' (VS Code)",
        path=source,
    )


def _convert(name: str, raw: str, entry: Mapping[str, Any], plan: ImportPlan) -> dict[str, Any] | None:
    kind = str(entry.get("type", "")).lower()
    if "command" in entry and kind in ("", "stdio"):
        kind, allowed = "stdio", _STDIO_KEYS
    elif "url" in entry or "serverUrl" in entry:
        if kind == "sse":
            plan.warnings.append(f"'{raw}': SSE server imported as Streamable HTTP; check that its URL serves MCP")
        kind, allowed = "http", _HTTP_KEYS | {"serverUrl"}
    else:
        plan.warnings.append(f"'{raw}': neither 'command' nor 'url'; skipped")
        return None
    spec: dict[str, Any] = {}
    if entry.get("disabled") is True:
        spec["enabled"] = False
    for key in entry:
        if key not in allowed and key != "disabled" and key not in _CLIENT_ONLY_KEYS:
            plan.warnings.append(f"'{raw}': key '{key}' is not supported and was not imported")
    if kind == "stdio":
        spec["command"] = str(entry["command"])
        if entry.get("args"):
            spec["args"] = [str(a) for a in entry["args"]]
        if entry.get("cwd"):
            spec["cwd"] = str(entry["cwd"])
            if "${" in spec["cwd"]:
                plan.warnings.append(f"'{raw}': cwd '{spec['cwd']}' uses a client variable; edit it by hand")
        env = _values(name, "env", entry.get("env"), plan)
        if env:
            spec["env"] = env
    else:
        spec["url"] = str(entry.get("url") or entry.get("serverUrl"))
        headers = _values(name, "headers", entry.get("headers"), plan)
        if headers:
            spec["headers"] = headers
    return spec


def _values(name: str, section: str, values: Any, plan: ImportPlan) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        key, text = str(key), "" if value is None else str(value)
        prompt = _INPUT_REF.search(text)
        if not looks_secret(key) and not prompt:
            out[key] = text
            continue
        secret = f"{name}-{re.sub(r'[^a-z0-9._-]+', '-', key.lower()).strip('-') or 'secret'}"[:128]
        ref: dict[str, str] = {"secret": secret}
        match = _BEARER.match(text)
        if section == "headers" and match:
            ref["template"] = f"{match.group(1)} {{secret}}"
        note = f"VS Code asked for input '{prompt.group(1)}'" if prompt else ""
        if not prompt and re.fullmatch(r"\$\{(env:)?[A-Za-z_][A-Za-z0-9_]*\}", text.strip()):
            note = f"was read from the environment variable in {text.strip()}"
        out[key] = ref
        plan.secrets.append(SecretToSet(secret=secret, upstream=name, where=f"{section}.{key}", note=note))
    return out


def _strip_jsonc(text: str) -> str:
    """Remove // and /* */ comments and trailing commas outside strings (VS Code's JSON with comments)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == "," and re.match(r"\s*[}\]]", text[i + 1 :]):
            i += 1  # trailing comma
        else:
            out.append(ch)
            i += 1
    return "".join(out)
