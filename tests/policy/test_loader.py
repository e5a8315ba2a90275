"""Loading: errors name file, rule id and field; examples run at load; the shipped policies lint clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.policy import PolicyRequest, lint_policies, load_policies

from .helpers import write_policy

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"


def _load_error(tmp_path: Path, text: str) -> str:
    write_policy(tmp_path / "pol", "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_policies(tmp_path / "pol")
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "rules:\n  - id: r1\n    decision: maybe\n    justification: j\n",
            ["bad.yaml", "rule 'r1' (rules[0])", "field 'decision'"],
        ),
        (
            "rules:\n  - id: ok\n    decision: deny\n    justification: j\n"
            "  - id: r2\n    decision: deny\n    justification: j\n    match: {arguments: {p: {regex: '('}}}\n",
            ["bad.yaml", "rule 'r2' (rules[1])", "match.arguments.p.regex", "invalid regex"],
        ),
        (
            "rules:\n  - id: r3\n    decision: deny\n    justification: j\n    match: {tol: x}\n",
            ["rule 'r3'", "match.tol", "unknown key"],
        ),
        (
            "rules:\n  - id: r4\n    decision: deny\n    justification: j\n"
            "    match: {arguments: {u: {url_host: ['10.0.0.0/99']}}}\n",
            ["rule 'r4'", "url_host", "CIDR"],
        ),
        ("rules:\n  - decision: deny\n    justification: j\n", ["rules[0] (no id)", "field 'id'", "required"]),
        ("rules:\n  - id: r5\n    decision: deny\n    justification: j\n    match: {arguments: {p: {}}}\n", ["r5"]),
        ("rules: [\n", ["bad.yaml", "YAML syntax error"]),
        ("- just\n- a list\n", ["bad.yaml", "top level"]),
        ("default_decision: sometimes\n", ["bad.yaml", "default_decision"]),
        (
            "rules:\n  - {id: d, decision: deny, justification: j}\n  - {id: d, decision: allow, justification: j}\n",
            ["rule 'd' (rules[1])", "duplicate rule id", "rules[0]"],
        ),
    ],
)
def test_load_errors_name_file_rule_and_field(tmp_path: Path, text: str, fragments: list[str]) -> None:
    message = _load_error(tmp_path, text)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_failing_example_fails_the_load(tmp_path: Path) -> None:
    text = (
        "rules:\n  - id: no-etc\n    decision: deny\n    justification: j\n"
        "    match: {tool: write, arguments: {path: {path_under: [/etc]}}}\n"
        "    examples:\n      match: [{arguments: {path: /etc/passwd}}]\n"
        "      not_match: [{arguments: {path: /etc/hosts}}]\n"
    )
    message = _load_error(tmp_path, text)
    assert "rule 'no-etc'" in message and "examples.not_match[0]" in message and "should not match" in message


def test_duplicate_ids_across_files_name_both(tmp_path: Path) -> None:
    d = tmp_path / "pol"
    write_policy(d, "a.yaml", {"rules": [{"id": "same", "decision": "deny", "justification": "j"}]})
    write_policy(d, "b.yaml", {"rules": [{"id": "same", "decision": "allow", "justification": "j"}]})
    with pytest.raises(ConfigError) as info:
        load_policies(d)
    assert "a.yaml" in str(info.value) and "b.yaml" in str(info.value) and "'same'" in str(info.value)


def test_missing_and_empty_dirs_give_defaults(tmp_path: Path) -> None:
    ps = load_policies(tmp_path / "nope")
    assert len(ps) == 0 and ps.default_decision == "prompt"
    (tmp_path / "empty").mkdir()
    write_policy(tmp_path / "empty", "blank.yaml", "")
    assert len(load_policies(tmp_path / "empty")) == 0


def test_extra_files_and_strictest_default(tmp_path: Path) -> None:
    d = tmp_path / "pol"
    write_policy(d, "a.yaml", {"default_decision": "allow"})
    extra = write_policy(tmp_path, "user.yaml", {"default_decision": "deny", "rules": []})
    assert load_policies(d).default_decision == "allow"
    assert load_policies(d, [extra]).default_decision == "deny"
    assert load_policies(d, [tmp_path / "missing.yaml"]).default_decision == "allow"


def test_policy_version_tracks_content(tmp_path: Path) -> None:
    d = tmp_path / "pol"
    write_policy(d, "a.yaml", {"rules": [{"id": "r", "decision": "deny", "justification": "j"}]})
    v1 = load_policies(d).policy_version
    assert load_policies(d).policy_version == v1
    write_policy(d, "a.yaml", {"rules": [{"id": "r", "decision": "prompt", "justification": "j"}]})
    assert load_policies(d).policy_version != v1


def test_shipped_policies_lint_clean() -> None:
    report = lint_policies(REPO_POLICIES)
    assert report.ok, [str(e) for e in report.errors]
    assert report.rules >= 6 and report.examples >= 20


@pytest.mark.parametrize(
    ("tool", "hints", "arguments", "expected"),
    [
        ("read_file", {"readOnlyHint": True}, {"path": "src/a.py"}, "allow"),
        ("write_file", {"readOnlyHint": False, "destructiveHint": False}, {"path": "src/a.py"}, "prompt"),
        ("delete_file", {"destructiveHint": True}, {"path": "build"}, "prompt"),
        ("write_file", None, {"path": ".git/config"}, "deny"),
        ("write_file", None, {"path": "~/.aws/credentials"}, "deny"),
        ("read_file", {"readOnlyHint": True}, {"path": "~/.ssh/id_rsa"}, "prompt"),
        ("fetch", {"readOnlyHint": True}, {"url": "https://example.com"}, "allow"),
        ("fetch", {"readOnlyHint": True}, {"url": "http://0x7f000001/"}, "deny"),
        ("fetch", {"readOnlyHint": True}, {"url": "http://[fd00:ec2::254]/"}, "deny"),
        ("unknown", None, {}, "prompt"),
    ],
)
def test_shipped_policy_decisions(
    tool: str, hints: dict[str, bool] | None, arguments: dict[str, str], expected: str
) -> None:
    ps = load_policies(REPO_POLICIES)
    d = ps.evaluate(PolicyRequest(upstream="any", tool=tool, annotations=hints, arguments=arguments, cwd="/work/proj"))
    assert d.decision == expected, d
