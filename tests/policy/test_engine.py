"""Matching, combination, fallbacks, approval modes and hiding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types as types
import pytest

from gateway.intercept.call import Identity, ToolCall
from gateway.policy import PolicyRequest, PolicySet

from .helpers import policy, req


def _rule(rid: str, decision: str = "deny", **match: Any) -> dict[str, Any]:
    return {"id": rid, "match": match, "decision": decision, "justification": f"because {rid}"}


# (argument condition, arguments, matches?)
ARG_CASES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    ({"x": {"equals": 1}}, {"x": 1}, True),
    ({"x": {"equals": 1}}, {"x": True}, False),
    ({"x": {"equals": 1}}, {"x": "1"}, False),
    ({"x": {"equals": None}}, {"x": None}, True),
    ({"x": {"equals": None}}, {}, False),
    ({"x": {"equals": {"a": [1, 2]}}}, {"x": {"a": [1, 2]}}, True),
    ({"x": {"one_of": ["a", "b"]}}, {"x": "b"}, True),
    ({"x": {"one_of": ["a", "b"]}}, {"x": "c"}, False),
    ({"x": {"glob": "*.py"}}, {"x": "src/a.py"}, True),
    ({"x": {"glob": ["*.md", "*.txt"]}}, {"x": "a.py"}, False),
    ({"x": {"regex": "^rm\\b"}}, {"x": "rm -rf"}, True),
    ({"x": {"regex": "^rm\\b"}}, {"x": "echo rm"}, False),
    ({"x": {"regex": "a"}}, {"x": 5}, False),
    ({"n": {"gt": 10}}, {"n": 11}, True),
    ({"n": {"gt": 10}}, {"n": 10}, False),
    ({"n": {"ge": 10, "le": 20}}, {"n": 20}, True),
    ({"n": {"lt": 0}}, {"n": "-1"}, False),
    ({"n": {"lt": 5}}, {"n": True}, False),
    ({"x": {"present": True}}, {"x": 0}, True),
    ({"x": {"present": False}}, {"x": 0}, False),
    ({"x": {"present": False}}, {"y": 0}, True),
    ({"*path*": {"path_under": ["/etc"]}}, {"filePath": "/etc/passwd"}, True),
    ({"*path*|target": {"path_under": ["/etc"]}}, {"target": "/etc/hosts"}, True),
    ({"*path*": {"path_under": ["/etc"]}}, {"name": "/etc/passwd"}, False),
    ({"p": {"path_under": ["/etc"]}}, {"p": ["/tmp/a", "/etc/b"]}, True),
    ({"p": {"path_not_under": ["/work"]}}, {"p": "/work/../etc"}, True),
    ({"p": {"path_not_under": ["/work"]}}, {"p": "/work/a/./b"}, False),
    ({"p": {"path_not_under": ["/work"]}}, {"p": 3}, False),
    ({"u": {"url_host": ["private"]}}, {"u": "http://10.0.0.1/"}, True),
    ({"u": {"url_host_not": ["github.com"]}}, {"u": "https://gitlab.com/"}, True),
    ({"u": {"url_host_not": ["github.com"]}}, {"u": "https://GitHub.com./x"}, False),
    ({"c": {"command_prefix": [["git", "push", "--force"]]}}, {"c": "git push --force origin"}, True),
    ({"c": {"command_prefix": [["git", "push", "--force"]]}}, {"c": ["git", "push", "--force"]}, True),
    ({"c": {"command_prefix": [["git", "push", "--force"]]}}, {"c": "ls && git push --force"}, True),
    ({"c": {"command_prefix": [["git", "push", "--force"]]}}, {"c": "git push"}, False),
    ({"c": {"command_prefix": [["git"]]}}, {"c": 7}, False),
]


@pytest.mark.parametrize(("cond", "arguments", "expected"), ARG_CASES)
def test_argument_conditions(tmp_path: Path, cond: dict[str, Any], arguments: dict[str, Any], expected: bool) -> None:
    ps = policy(tmp_path, [_rule("r", arguments=cond)])
    d = ps.evaluate(req(arguments=arguments, cwd="/work"))
    assert (d.source == "rule") is expected
    if expected:
        assert d.decision == "deny" and d.rule_id == "r"


def test_allow_rules_require_all_values_deny_rules_any(tmp_path: Path) -> None:
    ps = policy(
        tmp_path,
        [
            _rule("ok-in-work", "allow", arguments={"*path*": {"path_under": ["/work"]}}),
            _rule("ssh", "deny", arguments={"*path*": {"path_under": ["~/.ssh"]}}),
        ],
    )
    both_inside = ps.evaluate(req(arguments={"src_path": "/work/a", "dst_path": "/work/b"}))
    assert both_inside.decision == "allow"
    one_outside = ps.evaluate(req(arguments={"src_path": "/work/a", "dst_path": "/etc/b"}))
    assert one_outside.source != "rule", "an allow rule must not fire when one path escapes"
    one_ssh = ps.evaluate(req(arguments={"src_path": "/work/a", "dst_path": "~/.ssh/config"}))
    assert one_ssh.decision == "deny"


def test_strictest_wins_and_all_matches_reported(tmp_path: Path) -> None:
    ps = policy(
        tmp_path,
        [
            _rule("a-allow", "allow", tool="write_*"),
            _rule("b-deny", "deny", tool="write_file"),
            _rule("c-prompt", "prompt"),
            _rule("d-other", "deny", tool="read_*"),
        ],
    )
    d = ps.evaluate(req("write_file"))
    assert d.decision == "deny" and d.source == "rule" and d.rule_id == "b-deny"
    assert [m.id for m in d.matched] == ["b-deny", "c-prompt", "a-allow"]
    assert d.justification == "because b-deny"
    assert d.matched[0].file.endswith("p.yaml")
    assert d.policy_version.startswith("sha256:")


def test_match_on_upstream_identity_group(tmp_path: Path) -> None:
    ps = policy(
        tmp_path,
        [
            _rule("gh", "deny", upstream="github", tool="delete_*"),
            _rule("ops", "allow", identity=["alice", "bob"], group="ops-*"),
        ],
    )
    assert ps.evaluate(req("delete_repo", "github")).decision == "deny"
    assert ps.evaluate(req("delete_repo", "gitlab")).source != "rule"
    assert ps.evaluate(req(identity="alice", groups=("ops-eu",))).decision == "allow"
    assert ps.evaluate(req(identity="alice", groups=("dev",))).source != "rule"
    assert ps.evaluate(req(identity="eve", groups=("ops-eu",))).source != "rule"


def test_no_other_arguments(tmp_path: Path) -> None:
    ps = policy(tmp_path, [{**_rule("exact", "allow", arguments={"q": {"equals": "x"}}, no_other_arguments=True)}])
    assert ps.evaluate(req(arguments={"q": "x"})).decision == "allow"
    assert ps.evaluate(req(arguments={"q": "x", "extra": 1})).source != "rule"


HINTS = [None, True, False]


@pytest.mark.parametrize("read_only", HINTS)
@pytest.mark.parametrize("destructive", HINTS)
@pytest.mark.parametrize("open_world", HINTS)
def test_annotation_fallback_table(read_only: bool | None, destructive: bool | None, open_world: bool | None) -> None:
    hints = {
        k: v
        for k, v in {"readOnlyHint": read_only, "destructiveHint": destructive, "openWorldHint": open_world}.items()
        if v is not None
    }
    d = PolicySet(default_decision="deny").evaluate(req(annotations=hints))
    if not hints:
        expected, source = "deny", "default"
    elif destructive is True:
        expected, source = "prompt", "annotations"
    elif read_only is True:
        expected, source = "allow", "annotations"
    elif destructive is False and open_world is False:
        expected, source = "allow", "annotations"
    else:
        expected, source = "prompt", "annotations"
    assert (d.decision, d.source, d.fallback) == (expected, source, source)
    assert d.matched == ()


def test_tool_annotations_model_accepted() -> None:
    ann = types.ToolAnnotations(read_only_hint=True, destructive_hint=True)
    d = PolicySet().evaluate(req(annotations=ann))
    assert d.decision == "prompt" and "destructiveHint" in d.justification


def test_rule_hint_defaults(tmp_path: Path) -> None:
    ps = policy(tmp_path, [_rule("destructive", "prompt", annotations={"destructiveHint": True})])
    # No annotations: MCP says destructive by default. Read-only tools are not destructive by default.
    assert ps.evaluate(req()).source == "rule"
    assert ps.evaluate(req(annotations={"readOnlyHint": True})).source == "annotations"
    assert ps.evaluate(req(annotations={"readOnlyHint": True, "destructiveHint": True})).source == "rule"


@pytest.mark.parametrize(
    ("mode", "rule_decision", "expected", "source"),
    [
        ("auto", "allow", "allow", "rule"),
        ("auto", "prompt", "prompt", "rule"),
        ("prompt", "allow", "prompt", "mode"),
        ("prompt", "deny", "deny", "rule"),
        ("never", "prompt", "deny", "mode"),
        ("never", "allow", "allow", "rule"),
        ("never", "deny", "deny", "rule"),
        ("approve", "prompt", "allow", "mode"),
        ("approve", "deny", "deny", "rule"),
    ],
)
def test_approval_modes(tmp_path: Path, mode: str, rule_decision: str, expected: str, source: str) -> None:
    ps = policy(tmp_path, [_rule("r", rule_decision)], approval_modes=[{"upstream": "u", "mode": mode}])
    d = ps.evaluate(req())
    assert (d.decision, d.source, d.mode) == (expected, source, mode)
    assert d.matched[0].id == "r"
    if mode == "never" and rule_decision == "prompt":
        assert "unattended" in d.justification


def test_most_specific_mode_wins(tmp_path: Path) -> None:
    ps = policy(
        tmp_path,
        [],
        approval_modes=[
            {"upstream": "*", "mode": "never"},
            {"upstream": "gh", "mode": "prompt"},
            {"upstream": "gh", "tool": "get_*", "mode": "approve"},
            {"upstream": "gh", "tool": "get_secret", "mode": "never"},
        ],
    )
    assert ps.mode_for("other", "x") == "never"
    assert ps.mode_for("gh", "create") == "prompt"
    assert ps.mode_for("gh", "get_issue") == "approve"
    assert ps.mode_for("gh", "get_secret") == "never"


def test_hidden(tmp_path: Path) -> None:
    ps = policy(
        tmp_path,
        [
            _rule("no-delete", "deny", tool="delete_*"),
            _rule("no-admin-for-guests", "deny", tool="admin_*", group="guests"),
            _rule("args-only", "deny", tool="write", arguments={"p": {"path_under": ["/etc"]}}),
            _rule("prompt-only", "prompt", tool="exec"),
        ],
    )
    assert ps.hidden("u", "delete_repo")
    assert ps.hidden("u", "admin_panel", groups=("guests",))
    assert not ps.hidden("u", "admin_panel", groups=("staff",))
    assert not ps.hidden("u", "write"), "a deny that depends on arguments must not hide the tool"
    assert not ps.hidden("u", "exec")


def test_from_call() -> None:
    call = ToolCall(
        call_id="1",
        session_id="s",
        identity=Identity(name="me", groups=("g",)),
        upstream="fs",
        tool="read",
        exposed_name="fs__read",
        arguments={"path": "x"},
        annotations=types.ToolAnnotations(read_only_hint=True),
        upstream_cwd="/srv",
    )
    r = PolicyRequest.from_call(call)
    assert (r.upstream, r.tool, r.identity, r.groups, r.cwd) == ("fs", "read", "me", ("g",), "/srv")
    assert PolicySet().evaluate(r).decision == "allow"


def test_empty_policy_default() -> None:
    d = PolicySet().evaluate(req())
    assert (d.decision, d.source) == ("prompt", "default")


def test_a_decision_reused_across_calls_follows_argument_values_and_callers(tmp_path: Path) -> None:
    """Decisions are reused only where no candidate rule looks at argument values; every input still counts."""
    ps = policy(
        tmp_path,
        [
            _rule("rm-root", "deny", tool="shell", arguments={"cmd": {"command_prefix": [["rm", "-rf", "/"]]}}),
            _rule("writes", "prompt", annotations={"readOnlyHint": False}),
            _rule("bob", "deny", tool="echo", identity="bob"),
        ],
    )
    read_only = types.ToolAnnotations(read_only_hint=True)
    writes = types.ToolAnnotations(read_only_hint=False)
    shell = [ps.evaluate(req("shell", arguments={"cmd": c}, annotations=writes)) for c in ("ls", "rm -rf /", "ls")]
    assert [d.decision for d in shell] == ["prompt", "deny", "prompt"]
    echo = [
        ps.evaluate(req("echo", arguments={"text": t}, annotations=read_only, identity=who))
        for t, who in (("a", "alice"), ("b", "alice"), ("a", "bob"), ("a", "alice"))
    ]
    assert [d.decision for d in echo] == ["allow", "allow", "deny", "allow"]
    assert echo[0] is echo[1]  # reused: same tool, caller and argument names
    # Annotations are part of the key, by identity: another object with other hints is decided afresh.
    assert ps.evaluate(req("echo", arguments={"text": "a"}, annotations=writes, identity="alice")).decision == "prompt"
    # A plain mapping may change between calls: never reused.
    hints: dict[str, Any] = {"readOnlyHint": True}
    assert ps.evaluate(req("echo", annotations=hints)).decision == "allow"
    hints["readOnlyHint"] = False
    assert ps.evaluate(req("echo", annotations=hints)).decision == "prompt"
