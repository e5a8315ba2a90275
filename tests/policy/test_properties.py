"""Property tests: a deny rule never loosens a decision; rule and file order never change one."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy import Decision, PolicyRequest, PolicySet
from gateway.policy.engine import SEVERITY, CompiledRule
from gateway.policy.loader import _LoadedFile, _merge
from gateway.policy.models import PolicyFile, RuleSpec

TOOLS = ["read", "write", "delete", "fetch"]
UPSTREAMS = ["fs", "web"]
globs = st.sampled_from(["*", "fs", "web", "read", "write", "del*", "f*"])

conditions = st.one_of(
    st.fixed_dictionaries({"equals": st.sampled_from(["a", "b", 1])}),
    st.fixed_dictionaries({"glob": st.sampled_from(["*.py", "a*", "*"])}),
    st.fixed_dictionaries({"path_under": st.sampled_from([["/etc"], ["/work"], ["*/.git"]])}),
    st.fixed_dictionaries({"url_host": st.sampled_from([["private"], ["loopback"], ["example.com"]])}),
    st.fixed_dictionaries({"present": st.booleans()}),
)
matches = st.fixed_dictionaries(
    {},
    optional={
        "upstream": globs,
        "tool": globs,
        "annotations": st.dictionaries(st.sampled_from(["readOnlyHint", "destructiveHint"]), st.booleans()),
        "arguments": st.dictionaries(st.sampled_from(["p", "url", "*"]), conditions, max_size=2),
        "identity": st.sampled_from(["alice", "b*"]),
    },
)


def rule_st(decision: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "match": matches,
            "decision": st.sampled_from(["allow", "prompt", "deny"]) if decision is None else decision,
            "justification": st.just("j"),
        }
    )


rule_lists = st.lists(rule_st(), max_size=8)
mode_lists = st.lists(
    st.fixed_dictionaries(
        {"upstream": globs, "mode": st.sampled_from(["auto", "prompt", "never", "approve"])},
        optional={"tool": globs},
    ),
    max_size=3,
)
requests = st.builds(
    lambda up, tool, args, ann, ident: PolicyRequest(
        upstream=up, tool=tool, arguments=args, annotations=ann, identity=ident, cwd="/work"
    ),
    st.sampled_from(UPSTREAMS),
    st.sampled_from(TOOLS),
    st.dictionaries(
        st.sampled_from(["p", "url", "x"]),
        st.sampled_from(["a", "b", 1, "/etc/passwd", "/work/.git/x", "http://10.0.0.1", "http://example.com", "x.py"]),
        max_size=3,
    ),
    st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["readOnlyHint", "destructiveHint", "openWorldHint"]), st.booleans())
    ),
    st.sampled_from(["alice", "bob", ""]),
)


def build(files: list[list[dict[str, Any]]], modes: list[dict[str, Any]], default: str = "prompt") -> PolicySet:
    loaded = []
    n = 0
    for i, rules in enumerate(files):
        specs = []
        for r in rules:
            specs.append(RuleSpec.model_validate({**r, "id": f"r{n}"}))
            n += 1
        spec = PolicyFile(rules=specs, approval_modes=modes if i == 0 else [], default_decision=default)  # type: ignore[arg-type]
        loaded.append(
            _LoadedFile(Path(f"f{i}.yaml"), spec, tuple(CompiledRule.compile(s, f"f{i}.yaml") for s in specs))
        )
    return _merge(loaded)


def key(d: Decision) -> tuple[Any, ...]:
    return (d.decision, d.source, d.justification, d.matched, d.mode, d.fallback, d.policy_version)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rule_lists, extra=rule_st(st.just("deny")), modes=mode_lists, request=requests)
def test_adding_a_deny_rule_never_loosens(
    rules: list[dict[str, Any]], extra: dict[str, Any], modes: list[dict[str, Any]], request: PolicyRequest
) -> None:
    before = build([rules], modes).evaluate(request)
    after = build([[*rules, extra]], modes).evaluate(request)
    assert SEVERITY[after.decision] >= SEVERITY[before.decision], (before, after)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(rule_lists, min_size=1, max_size=3), modes=mode_lists, request=requests, seed=st.integers())
def test_rule_and_file_order_never_change_a_decision(
    files: list[list[dict[str, Any]]], modes: list[dict[str, Any]], request: PolicyRequest, seed: int
) -> None:
    rng = random.Random(seed)
    # Give rules stable ids and files stable names first, then shuffle both orders.
    numbered = [[{**r, "id": f"f{i}r{j}"} for j, r in enumerate(rules)] for i, rules in enumerate(files)]
    original = _build_named(numbered, modes).evaluate(request)
    shuffled_files = [rng.sample(rules, len(rules)) for rules in numbered]
    order = list(range(len(shuffled_files)))
    rng.shuffle(order)
    shuffled = _build_named([shuffled_files[i] for i in order], modes, names=[f"f{i}.yaml" for i in order])
    assert key(shuffled.evaluate(request)) == key(original)


def _build_named(
    files: list[list[dict[str, Any]]], modes: list[dict[str, Any]], names: list[str] | None = None
) -> PolicySet:
    loaded = []
    rng_modes = list(modes)
    for i, rules in enumerate(files):
        name = names[i] if names else f"f{i}.yaml"
        specs = [RuleSpec.model_validate(r) for r in rules]
        spec = PolicyFile(rules=specs, approval_modes=rng_modes if i == 0 else [])  # type: ignore[arg-type]
        loaded.append(_LoadedFile(Path(name), spec, tuple(CompiledRule.compile(s, name) for s in specs)))
    return _merge(loaded)
