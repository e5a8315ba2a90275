"""Loading ``policies/*.yaml`` into a ``PolicySet``, with errors naming the file, rule id and field.

Synchronous on purpose (file I/O and ``realpath``); async callers wrap it in ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.loader import read_mapping
from gateway.errors import ConfigError
from gateway.policy.engine import SEVERITY, CompiledRule, PolicyRequest, PolicySet
from gateway.policy.models import DecisionValue, ExampleCall, PolicyFile, RuleSpec

__all__ = ["LintReport", "lint_policies", "load_policies", "load_policy_file", "policy_files"]

_HINTS = {
    "extra_forbidden": "unknown key; check the spelling",
    "missing": "this key is required",
}


@dataclass(frozen=True, slots=True)
class _LoadedFile:
    path: Path
    spec: PolicyFile
    rules: tuple[CompiledRule, ...]


@dataclass(slots=True)
class LintReport:
    """What ``mcp-gateway policy lint`` found."""

    files: list[Path] = field(default_factory=list)
    rules: int = 0
    examples: int = 0
    errors: list[ConfigError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def policy_files(directory: Path | None, extra_files: Sequence[Path] = ()) -> list[Path]:
    """The policy files to load: ``*.yaml``/``*.yml`` in ``directory`` sorted by name, then existing ``extra_files``."""
    found: list[Path] = []
    if directory is not None and directory.is_dir():
        found = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    for extra in extra_files:
        # A missing extra file is normal: the user's "always allow" file appears on first use.
        if extra not in found and extra.exists():
            found.append(extra)
    return found


def _rule_label(raw: Any, index: int) -> str:
    rules = raw.get("rules") if isinstance(raw, dict) else None
    rule_id = None
    if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
        rule_id = rules[index].get("id")
    return f"rule '{rule_id}' (rules[{index}])" if rule_id else f"rules[{index}] (no id)"


def _format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        elif item in ("str", "list[str]", "list[union[str,list[str]]]") or item.startswith("function-"):
            continue  # union branch names are noise for a reader
        else:
            out += ("." if out else "") + item
    return out


def _validation_error(exc: ValidationError, path: Path, raw: Any) -> ConfigError:
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rest = _format_loc(loc[2:])
            where = _rule_label(raw, loc[1]) + (f", field '{rest}'" if rest else "")
        else:
            where = f"field '{_format_loc(loc)}'" if loc else "top level"
        msg = _HINTS.get(err["type"], err["msg"]).removeprefix("Value error, ")
        line = f"{where}: {msg}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return ConfigError("invalid policy file:\n  " + "\n  ".join(lines), path=str(path))


def _example_request(rule: RuleSpec, call: ExampleCall) -> PolicyRequest:
    def first(patterns: str | list[str]) -> str:
        # A rule's first pattern with wildcards filled in is a name the rule's glob accepts.
        p = patterns if isinstance(patterns, str) else (patterns[0] if patterns else "x")
        return p.replace("*", "x").replace("?", "x")

    return PolicyRequest(
        upstream=call.upstream if call.upstream is not None else first(rule.match.upstream),
        tool=call.tool if call.tool is not None else first(rule.match.tool),
        arguments=call.arguments,
        annotations={str(k): v for k, v in call.annotations.items()} if call.annotations is not None else None,
        identity=call.identity,
        groups=tuple(call.groups),
        cwd=call.cwd,
    )


def _check_examples(compiled: CompiledRule, path: Path, index: int) -> int:
    spec = compiled.spec
    if spec.examples is None:
        return 0
    count = 0
    for kind, calls, expected in (("match", spec.examples.match, True), ("not_match", spec.examples.not_match, False)):
        for i, call in enumerate(calls):
            count += 1
            request = _example_request(spec, call)
            if compiled.matches(request) != expected:
                verb = "should match the rule but does not" if expected else "should not match the rule but does"
                shown = json.dumps(
                    {"upstream": request.upstream, "tool": request.tool, "arguments": call.arguments}, default=str
                )
                raise ConfigError(
                    f"example {verb}: {shown}; fix the rule's match or the example",
                    path=str(path),
                    location=f"rule '{spec.id}' (rules[{index}]), field 'examples.{kind}[{i}]'",
                )
    return count


def load_policy_file(path: Path, *, check_examples: bool = True) -> tuple[PolicyFile, list[CompiledRule], int]:
    """Parse, validate and compile one file; returns (spec, compiled rules, examples checked)."""
    raw = read_mapping(path, "a mapping with a 'rules:' list")
    try:
        spec = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(exc, path, raw) from None
    compiled: list[CompiledRule] = []
    examples = 0
    seen: dict[str, int] = {}
    for index, rule in enumerate(spec.rules):
        if rule.id in seen:
            raise ConfigError(
                f"duplicate rule id (also rules[{seen[rule.id]}]); give each rule a unique id",
                path=str(path),
                location=f"rule '{rule.id}' (rules[{index}]), field 'id'",
            )
        seen[rule.id] = index
        try:
            rule_c = CompiledRule.compile(rule, str(path))
        except (ValueError, TypeError) as exc:
            raise ConfigError(str(exc), path=str(path), location=f"rule '{rule.id}' (rules[{index}])") from None
        if check_examples:
            examples += _check_examples(rule_c, path, index)
        compiled.append(rule_c)
    return spec, compiled, examples


def _version(files: list[_LoadedFile], default: DecisionValue) -> str:
    # Independent of file and rule order (they never change a decision), dependent on every rule's content.
    rules = sorted((r.spec.model_dump(mode="json") for f in files for r in f.rules), key=lambda d: str(d["id"]))
    modes = sorted(json.dumps(m.model_dump(mode="json"), sort_keys=True) for f in files for m in f.spec.approval_modes)
    blob = json.dumps({"rules": rules, "modes": modes, "default": default}, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def _merge(loaded: list[_LoadedFile]) -> PolicySet:
    owners: dict[str, Path] = {}
    for lf in loaded:
        for rule in lf.rules:
            if rule.id in owners:
                raise ConfigError(
                    f"rule id '{rule.id}' is also defined in {owners[rule.id]}; rule ids must be unique across files",
                    path=str(lf.path),
                    location=f"rule '{rule.id}', field 'id'",
                )
            owners[rule.id] = lf.path
    defaults = [lf.spec.default_decision for lf in loaded if lf.spec.default_decision is not None]
    # Several files setting a default: the strictest wins, like rules, so file order never matters.
    default: DecisionValue = max(defaults, key=lambda d: SEVERITY[d]) if defaults else "prompt"
    return PolicySet(
        [r for lf in loaded for r in lf.rules],
        default_decision=default,
        approval_modes=[m for lf in loaded for m in lf.spec.approval_modes],
        policy_version=_version(loaded, default),
        files=tuple(lf.path for lf in loaded),
    )


def load_policies(directory: Path | None, extra_files: Sequence[Path] = ()) -> PolicySet:
    """Load every policy file (inline examples checked); a missing or empty directory gives an empty set.

    Raises ConfigError on the first problem, naming file, rule id and field.
    """
    loaded = []
    for path in policy_files(directory, extra_files):
        spec, rules, _ = load_policy_file(path)
        loaded.append(_LoadedFile(path, spec, tuple(rules)))
    return _merge(loaded)


def lint_policies(directory: Path | None, extra_files: Sequence[Path] = ()) -> LintReport:
    """Validate every file and run every inline example, collecting all problems instead of stopping."""
    report = LintReport(files=policy_files(directory, extra_files))
    loaded = []
    for path in report.files:
        try:
            spec, rules, examples = load_policy_file(path)
        except ConfigError as exc:
            report.errors.append(exc)
            continue
        report.rules += len(rules)
        report.examples += examples
        loaded.append(_LoadedFile(path, spec, tuple(rules)))
    try:
        _merge(loaded)
    except ConfigError as exc:
        report.errors.append(exc)
    return report
