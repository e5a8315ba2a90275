""" "Always allow": append one deduplicated allow rule to the user's policy file.

Comments and formatting survive (ruamel.yaml round-trip), concurrent writers are serialised with a file lock
(``<file>.lock``), and the file is replaced atomically, so a crash never leaves half a policy behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from filelock import FileLock, Timeout
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from gateway._files import atomic_write_text
from gateway.errors import ConfigError
from gateway.policy.engine import CompiledRule
from gateway.policy.models import RuleSpec

__all__ = ["always_rule_id", "append_always_rule", "append_always_rule_async"]

_HEADER = (
    'Rules added by mcp-gateway when you answer "always allow".\n'
    "Each one allows exactly one upstream tool (and, when listed, exactly those arguments).\n"
    "Edit or delete them freely; the gateway reloads this file."
)


def _glob_escape(name: str) -> str:
    # Tool names are literal; a '*' or '[' in one must not widen the rule.
    return re.sub(r"([*?\[])", r"[\1]", name)


def always_rule_id(upstream: str, tool: str, arguments: Mapping[str, Any] | None, identity: str | None = None) -> str:
    """The id an "always" rule gets: readable, and unique per (upstream, tool, exact arguments, identity)."""
    args = None if arguments is None else dict(arguments)
    canon = json.dumps([upstream, tool, args, identity], sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canon.encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{upstream}.{tool}").strip("-.")[:80] or "tool"
    return f"always-{readable}-{'args-' if arguments is not None else ''}{digest}"


def _build_rule(
    rule_id: str,
    upstream: str,
    tool: str,
    arguments: Mapping[str, Any] | None,
    identity: str | None,
    justification: str | None,
) -> CommentedMap:
    match = CommentedMap()
    match["upstream"] = _glob_escape(upstream)
    match["tool"] = _glob_escape(tool)
    if identity is not None:
        match["identity"] = _glob_escape(identity)
    if arguments is not None:
        args = CommentedMap()
        for name, value in arguments.items():
            if re.search(r"[*?\[|]", name):
                raise ConfigError(
                    f"argument name '{name}' contains glob characters; allow the whole tool instead",
                    location=f"rule '{rule_id}'",
                )
            args[name] = {"equals": value}
        match["arguments"] = args
        match["no_other_arguments"] = True
    rule = CommentedMap()
    rule["id"] = rule_id
    rule["match"] = match
    rule["decision"] = "allow"
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    rule["justification"] = justification or f"Always allowed by {identity or 'the user'} on {when}."
    return rule


def _plain(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def append_always_rule(
    path: Path,
    upstream: str,
    tool: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    identity: str | None = None,
    justification: str | None = None,
    lock_timeout: float = 10.0,
) -> str:
    """Append an allow rule for exactly ``upstream``/``tool`` (and exactly ``arguments`` if given) to ``path``.

    Creates the file if missing; returns the rule id; a rule with the same id already present is left alone.
    Blocking: call through ``append_always_rule_async`` from the event loop. Raises ConfigError.
    """
    rule_id = always_rule_id(upstream, tool, arguments, identity)
    rule = _build_rule(rule_id, upstream, tool, arguments, identity, justification)
    try:
        # Never write a rule the loader would reject.
        CompiledRule.compile(RuleSpec.model_validate(_plain(rule)), str(path))
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"cannot build an always-allow rule: {exc}", path=str(path)) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 4096
    try:
        with FileLock(str(path) + ".lock", timeout=lock_timeout):
            data = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
            if data is None:
                data = CommentedMap()
                data.yaml_set_start_comment(_HEADER)
            if not isinstance(data, CommentedMap):
                raise ConfigError("the top level must be a mapping with a 'rules:' list", path=str(path))
            rules = data.get("rules")
            if rules is None:
                rules = CommentedSeq()
                data["rules"] = rules
            if not isinstance(rules, CommentedSeq):
                raise ConfigError("'rules' must be a list", path=str(path), location="field 'rules'")
            if any(isinstance(r, Mapping) and r.get("id") == rule_id for r in rules):
                return rule_id
            rules.append(rule)
            buf = io.StringIO()
            yaml.dump(data, buf)
            atomic_write_text(path, buf.getvalue())
    except Timeout:
        raise ConfigError(
            f"another process holds {path}.lock; try again, or delete the lock file if no gateway is running",
            path=str(path),
        ) from None
    except YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {getattr(exc, 'problem', None) or exc}", path=str(path)) from None
    return rule_id


async def append_always_rule_async(
    path: Path,
    upstream: str,
    tool: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    identity: str | None = None,
    justification: str | None = None,
) -> str:
    """``append_always_rule`` in a worker thread (file lock and disk I/O stay off the event loop)."""
    fn = partial(append_always_rule, path, upstream, tool, arguments, identity=identity, justification=justification)
    return await anyio.to_thread.run_sync(fn)
