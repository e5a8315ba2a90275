"""Pure policy evaluation: ``PolicySet.evaluate(PolicyRequest) -> Decision``.

Order of reasoning (mirrors Codex's execpolicy + MCP approval modes):

1. Every rule that matches is collected; the strictest decision wins (deny > prompt > allow) whatever the order.
2. No rule matched: the tool's annotations decide (destructive -> prompt, even if also read-only; read-only ->
   allow; destructive and open-world both explicitly false -> allow; other hints -> prompt); a tool with no hints
   gets the configured default.
3. The approval mode for the upstream/tool adjusts the result: ``auto`` keeps it, ``prompt`` asks unless denied,
   ``never`` turns prompt into deny (unattended runs), ``approve`` turns prompt into allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import mcp_types as types

from gateway.policy.conditions import ArgumentMatcher, EvalContext, compile_globs
from gateway.policy.models import ApprovalMode, ApprovalModeEntry, DecisionValue, RuleSpec
from gateway.policy.paths import is_glob

if TYPE_CHECKING:
    import re

    from gateway.intercept.call import ToolCall

__all__ = [
    "SEVERITY",
    "CompiledRule",
    "Decision",
    "DecisionSource",
    "MatchedRule",
    "PolicyRequest",
    "PolicySet",
    "effective_hint",
    "effective_hints",
    "explicit_hints",
    "fallback_decision",
]

DecisionSource = Literal["rule", "annotations", "default", "mode"]
SEVERITY: dict[str, int] = {"allow": 0, "prompt": 1, "deny": 2}
_MODE_STRICTNESS: dict[str, int] = {"approve": 0, "auto": 1, "prompt": 2, "never": 3}
# MCP's documented defaults for hints a tool leaves out; rules on hints compare against these.
# destructiveHint only means something for tools that are not read-only, so a read-only tool defaults to false.
_HINT_DEFAULTS: dict[str, bool] = {
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}


def effective_hint(hints: Mapping[str, bool], name: str) -> bool:
    """A hint's value, explicit or MCP's default (``destructiveHint`` defaults to ``not readOnlyHint``)."""
    value = hints.get(name)
    if value is not None:
        return value
    if name == "destructiveHint":
        return not hints.get("readOnlyHint", False)
    return _HINT_DEFAULTS[name]


def _effective_from(hints: Mapping[str, bool]) -> dict[str, bool]:
    return {name: effective_hint(hints, name) for name in _HINT_DEFAULTS}


_HINT_ATTRS = {
    "readOnlyHint": "read_only_hint",
    "destructiveHint": "destructive_hint",
    "idempotentHint": "idempotent_hint",
    "openWorldHint": "open_world_hint",
}
_CACHE_LIMIT = 8192

Annotations = Mapping[str, Any] | types.ToolAnnotations | None
_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    """Store in one of the per-set caches, starting it afresh when full (bounded: a hostile caller can vary keys)."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


_DecisionKey = tuple[str, str, int, str, tuple[str, ...], tuple[str, ...]]


def explicit_hints(annotations: Annotations) -> dict[str, bool]:
    """The hints a tool actually declares (camelCase keys); snake_case dict keys are accepted too."""
    if not annotations:
        return {}
    out: dict[str, bool] = {}
    is_map = isinstance(annotations, Mapping)
    for camel, snake in _HINT_ATTRS.items():
        if is_map:
            value = annotations.get(camel)  # type: ignore[union-attr]
            if value is None:
                value = annotations.get(snake)  # type: ignore[union-attr]
        else:
            value = getattr(annotations, snake, None)
        if value is True or value is False:
            out[camel] = value
    return out


def effective_hints(annotations: Annotations) -> dict[str, bool]:
    """All four hints: declared values, else MCP's defaults (see ``effective_hint``)."""
    return _effective_from(explicit_hints(annotations))


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRequest:
    """Everything a decision depends on. ``cwd`` anchors relative paths (the upstream's working directory)."""

    upstream: str
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    annotations: Annotations = None
    identity: str = ""
    groups: tuple[str, ...] = ()
    cwd: str | None = None

    @classmethod
    def from_call(cls, call: ToolCall) -> PolicyRequest:
        """The request for a tool call as the interception chain sees it."""
        return cls(
            upstream=call.upstream,
            tool=call.tool,
            arguments=call.arguments,
            annotations=call.annotations,
            identity=call.identity.name,
            groups=call.identity.groups,
            cwd=call.upstream_cwd,
        )


@dataclass(frozen=True, slots=True)
class MatchedRule:
    """A rule that matched the call, as reported to users, models and auditors."""

    id: str
    decision: DecisionValue
    justification: str
    file: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "decision": self.decision, "justification": self.justification, "file": self.file}


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one call.

    ``source`` says what decided: a ``rule``, the tool's ``annotations``, the ``default``, or the approval ``mode``.
    ``fallback`` names the fallback used when no rule matched (None otherwise). ``policy_version`` identifies the
    loaded policy content, so an approval can be bound to it.
    """

    decision: DecisionValue
    source: DecisionSource
    justification: str
    matched: tuple[MatchedRule, ...]
    policy_version: str
    mode: ApprovalMode = "auto"
    fallback: str | None = None

    @property
    def rule_id(self) -> str | None:
        """The id of the first rule with the winning decision, if a rule decided."""
        for rule in self.matched:
            if rule.decision == self.decision:
                return rule.id
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "source": self.source,
            "justification": self.justification,
            "mode": self.mode,
            "fallback": self.fallback,
            "matched": [m.to_dict() for m in self.matched],
            "policy_version": self.policy_version,
        }


def _literals(patterns: str | list[str]) -> frozenset[str] | None:
    items = [patterns] if isinstance(patterns, str) else patterns
    return None if any(is_glob(p) for p in items) else frozenset(items)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRule:
    """A rule ready to match: globs and regexes compiled, argument conditions built."""

    spec: RuleSpec
    file: str
    severity: int
    upstream_re: re.Pattern[str]
    tool_re: re.Pattern[str]
    tool_literals: frozenset[str] | None
    identity_re: re.Pattern[str] | None
    group_re: re.Pattern[str] | None
    arguments: tuple[ArgumentMatcher, ...]
    closed_names: tuple[ArgumentMatcher, ...] | None
    hint_items: tuple[tuple[str, bool], ...]
    report: MatchedRule

    @classmethod
    def compile(cls, spec: RuleSpec, file: str) -> CompiledRule:
        m = spec.match
        # Allow rules must hold for every value they look at; prompt/deny rules fire on any one (safe default).
        require_all = spec.decision == "allow"
        args = tuple(ArgumentMatcher.compile(k, c, require_all) for k, c in m.arguments.items())
        return cls(
            spec=spec,
            file=file,
            severity=SEVERITY[spec.decision],
            upstream_re=compile_globs(m.upstream),
            tool_re=compile_globs(m.tool),
            tool_literals=_literals(m.tool),
            identity_re=compile_globs(m.identity) if m.identity is not None else None,
            group_re=compile_globs(m.group) if m.group is not None else None,
            arguments=args,
            closed_names=args if m.no_other_arguments else None,
            hint_items=tuple(m.annotations.items()),
            report=MatchedRule(spec.id, spec.decision, spec.justification, file),
        )

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def has_argument_conditions(self) -> bool:
        return bool(self.arguments) or self.closed_names is not None

    def applies_to(self, upstream: str, tool: str) -> bool:
        return self.upstream_re.match(upstream) is not None and self.tool_re.match(tool) is not None

    def matches_caller(self, effective: Mapping[str, bool], identity: str, groups: tuple[str, ...]) -> bool:
        """Annotations (``effective`` = ``effective_hints(...)``), identity and group conditions."""
        for hint, wanted in self.hint_items:
            if effective[hint] != wanted:
                return False
        if self.identity_re is not None and self.identity_re.match(identity) is None:
            return False
        group_re = self.group_re
        return group_re is None or any(group_re.match(g) is not None for g in groups)

    def names_possible(self, names: tuple[str, ...]) -> bool:
        """Could the argument conditions hold for a call with these (lower-cased) argument names?"""
        for matcher in self.arguments:
            if matcher.present is not False and not any(matcher.names_match(n) for n in names):
                return False
        closed = self.closed_names
        return closed is None or all(any(c.names_match(n) for c in closed) for n in names)

    def matches_arguments(self, ctx: EvalContext) -> bool:
        if self.closed_names is not None:
            names = self.closed_names
            if not all(any(n.names_match(k) for n in names) for k, _ in ctx.items):
                return False
        for matcher in self.arguments:
            if not matcher(ctx):
                return False
        return True

    def matches(self, request: PolicyRequest) -> bool:
        """Does this rule match the whole request?"""
        return (
            self.applies_to(request.upstream, request.tool)
            and self.matches_caller(effective_hints(request.annotations), request.identity, request.groups)
            and self.matches_arguments(EvalContext(request.arguments, request.cwd))
        )

    def reported(self) -> MatchedRule:
        return self.report


@dataclass(frozen=True, slots=True)
class _ModeEntry:
    upstream_re: re.Pattern[str]
    tool_re: re.Pattern[str] | None
    rank: tuple[int, int, int, int]
    mode: ApprovalMode

    @classmethod
    def compile(cls, entry: ApprovalModeEntry) -> _ModeEntry:
        tool = entry.tool
        # Most specific wins: a tool entry beats an upstream-wide one, literals beat globs, then the strictest mode.
        rank = (
            int(tool is not None),
            int(tool is not None and not is_glob(tool)),
            int(not is_glob(entry.upstream)),
            _MODE_STRICTNESS[entry.mode],
        )
        return cls(compile_globs(entry.upstream), compile_globs(tool) if tool else None, rank, entry.mode)

    def applies_to(self, upstream: str, tool: str) -> bool:
        if self.upstream_re.match(upstream) is None:
            return False
        return self.tool_re is None or self.tool_re.match(tool) is not None


def fallback_decision(hints: Mapping[str, bool], default: DecisionValue) -> tuple[DecisionValue, str, str]:
    """(decision, source, justification) when no rule matched: the annotation heuristic, then the default."""
    if not ({"readOnlyHint", "destructiveHint", "openWorldHint"} & hints.keys()):
        return default, "default", f"No rule matches and the tool declares no hints; the default is '{default}'."
    if hints.get("destructiveHint") is True:
        return "prompt", "annotations", "The tool declares destructiveHint=true, so a person must approve the call."
    if hints.get("readOnlyHint") is True:
        return "allow", "annotations", "The tool declares readOnlyHint=true; read-only calls run without asking."
    if hints.get("destructiveHint") is False and hints.get("openWorldHint") is False:
        return "allow", "annotations", "The tool declares it is neither destructive nor open-world."
    return "prompt", "annotations", "The tool may change data or reach outside systems, so a person must approve."


class PolicySet:
    """An immutable, compiled set of rules plus settings. Thread-safe; build with ``load_policies``."""

    def __init__(
        self,
        rules: list[CompiledRule] | None = None,
        *,
        default_decision: DecisionValue = "prompt",
        approval_modes: list[ApprovalModeEntry] | None = None,
        policy_version: str = "empty",
        files: tuple[Path, ...] = (),
    ) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules or ())
        self.default_decision: DecisionValue = default_decision
        self.approval_modes: tuple[ApprovalModeEntry, ...] = tuple(approval_modes or ())
        self.policy_version = policy_version
        self.files = files
        self._modes = tuple(_ModeEntry.compile(e) for e in self.approval_modes)
        self._by_tool: dict[str, list[CompiledRule]] = {}
        self._wild: list[CompiledRule] = []
        for rule in self.rules:
            if rule.tool_literals is None:
                self._wild.append(rule)
            else:
                for name in rule.tool_literals:
                    self._by_tool.setdefault(name, []).append(rule)
        # (upstream, tool) -> rules whose upstream/tool globs match; the set of tools is small, so this pays off.
        self._candidates: dict[tuple[str, str], tuple[CompiledRule, ...]] = {}
        # ... narrowed further by the argument names present (rules needing an absent argument can't match).
        self._by_names: dict[tuple[str, str, tuple[str, ...]], tuple[CompiledRule, ...]] = {}
        self._mode_cache: dict[tuple[str, str], ApprovalMode] = {}
        # hidden() is asked on every list and call; its answer depends only on these keys (bounded: tools x callers).
        # (upstream, tool, id(annotations), identity, groups) -> (the annotations object, hidden?)
        self._hidden: dict[tuple[str, str, int, str, tuple[str, ...]], tuple[Annotations, bool]] = {}
        # Decisions that cannot depend on argument values (no candidate rule looks at one), per argument names.
        self._decided: dict[_DecisionKey, tuple[Annotations, Decision]] = {}

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, upstream: str, tool: str) -> tuple[CompiledRule, ...]:
        """The rules whose upstream and tool globs match (cached)."""
        key = (upstream, tool)
        found = self._candidates.get(key)
        if found is None:
            pool = self._by_tool.get(tool, []) + self._wild
            found = tuple(r for r in pool if r.applies_to(upstream, tool))
            _remember(self._candidates, key, found)
        return found

    def _candidates_for_names(self, upstream: str, tool: str, names: tuple[str, ...]) -> tuple[CompiledRule, ...]:
        key = (upstream, tool, names)
        found = self._by_names.get(key)
        if found is None:
            found = tuple(r for r in self.candidates(upstream, tool) if r.names_possible(names))
            _remember(self._by_names, key, found)
        return found

    def mode_for(self, upstream: str, tool: str) -> ApprovalMode:
        """The approval mode for this upstream/tool (``auto`` when none is configured)."""
        key = (upstream, tool)
        mode = self._mode_cache.get(key)
        if mode is None:
            hits = [e for e in self._modes if e.applies_to(upstream, tool)]
            mode = max(hits, key=lambda e: e.rank).mode if hits else "auto"
            _remember(self._mode_cache, key, mode)
        return mode

    def evaluate(self, request: PolicyRequest) -> Decision:
        """Decide one call. Pure apart from ``realpath`` on path arguments."""
        annotations = request.annotations
        identity, groups = request.identity, request.groups
        names = tuple(sorted(set(map(str.lower, request.arguments))))  # the lower-cased names (EvalContext.items)
        # The everyday call (no rule for it looks at argument values) is decided once per tool, caller and argument
        # names. Only for annotations that stay put: a catalogue's ToolAnnotations (checked by identity) or none.
        key: _DecisionKey | None = None
        if annotations is None or type(annotations) is types.ToolAnnotations:
            key = (request.upstream, request.tool, id(annotations), identity, groups, names)
            known = self._decided.get(key)
            if known is not None and known[0] is annotations:
                return known[1]
        candidates = self._candidates_for_names(request.upstream, request.tool, names)
        ctx = EvalContext(request.arguments, request.cwd)
        hints = explicit_hints(annotations)
        effective = _effective_from(hints)
        matched = [r for r in candidates if r.matches_caller(effective, identity, groups) and r.matches_arguments(ctx)]
        fallback: str | None = None
        if matched:
            matched.sort(key=lambda r: (-r.severity, r.spec.id))
            decision = matched[0].spec.decision
            source: DecisionSource = "rule"
            winners = dict.fromkeys(r.spec.justification for r in matched if r.spec.decision == decision)
            justification = " ".join(winners)
        else:
            decision, fb_source, justification = fallback_decision(hints, self.default_decision)
            source = "annotations" if fb_source == "annotations" else "default"
            fallback = source
        mode = self.mode_for(request.upstream, request.tool)
        decision, source, justification = _apply_mode(mode, decision, source, justification)
        result = Decision(
            decision=decision,
            source=source,
            justification=justification,
            matched=tuple(r.reported() for r in matched),
            policy_version=self.policy_version,
            mode=mode,
            fallback=fallback,
        )
        if key is not None and not any(r.arguments for r in candidates):
            _remember(self._decided, key, (annotations, result))
        return result

    def hidden(
        self,
        upstream: str,
        tool: str,
        annotations: Annotations = None,
        identity: str = "",
        groups: tuple[str, ...] = (),
    ) -> bool:
        """True when the tool is denied outright for this caller, whatever the arguments (hide it from lists)."""
        # Asked for every listed tool and every call: keyed by the annotations object (a tool's stay the same
        # object until its upstream's catalogue is refreshed), checked by identity so a reused id never matches.
        key = (upstream, tool, id(annotations), identity, groups)
        known = self._hidden.get(key)
        if known is not None and known[0] is annotations:
            return known[1]
        effective = effective_hints(annotations)
        hidden = any(
            r.spec.decision == "deny"
            and not r.has_argument_conditions
            and r.matches_caller(effective, identity, groups)
            for r in self.candidates(upstream, tool)
        )
        _remember(self._hidden, key, (annotations, hidden))
        return hidden

    def rule(self, rule_id: str) -> CompiledRule | None:
        """The rule with this id, if loaded."""
        return next((r for r in self.rules if r.spec.id == rule_id), None)


def _apply_mode(
    mode: ApprovalMode, decision: DecisionValue, source: DecisionSource, justification: str
) -> tuple[DecisionValue, DecisionSource, str]:
    if mode == "prompt" and decision == "allow":
        return "prompt", "mode", f"Approval mode 'prompt' asks before every call of this tool. ({justification})"
    if mode == "never" and decision == "prompt":
        return (
            "deny",
            "mode",
            "Approval would be needed, but approval mode 'never' is set for unattended runs, so the call is denied. "
            f"({justification})",
        )
    if mode == "approve" and decision == "prompt":
        return "allow", "mode", f"Approval mode 'approve' trusts this tool. ({justification})"
    return decision, source, justification
