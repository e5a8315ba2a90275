"""append_always_rule: comments kept, deduplicated, exact, safe under concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.policy import PolicyRequest, append_always_rule, append_always_rule_async, load_policies

pytestmark = pytest.mark.anyio

EXISTING = """\
# My policies. Keep this comment!
default_decision: prompt  # inline comment too
rules:
  # a hand-written rule
  - id: mine
    match: {tool: rm}
    decision: deny
    justification: never
"""


def test_appends_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "user.yaml"
    path.write_text(EXISTING)
    rid = append_always_rule(path, "fs", "write_file", {"path": "a.txt", "mode": 1}, identity="me")
    text = path.read_text()
    assert "# My policies. Keep this comment!" in text
    assert "# inline comment too" in text and "# a hand-written rule" in text
    assert f"id: {rid}" in text
    ps = load_policies(tmp_path)
    assert ps.rule("mine") is not None
    exact = PolicyRequest(upstream="fs", tool="write_file", arguments={"path": "a.txt", "mode": 1}, identity="me")
    assert ps.evaluate(exact).decision == "allow"
    assert ps.evaluate(exact).rule_id == rid
    for changed in ({"path": "b.txt", "mode": 1}, {"path": "a.txt"}, {"path": "a.txt", "mode": 1, "x": 2}):
        other = PolicyRequest(upstream="fs", tool="write_file", arguments=changed, identity="me")
        assert ps.evaluate(other).source != "rule", changed
    assert ps.evaluate(PolicyRequest(upstream="fs", tool="write_file", arguments=exact.arguments)).source != "rule"
    other_id = append_always_rule(path, "fs", "write_file", {"path": "a.txt", "mode": 1}, identity="you")
    assert other_id != rid, "another identity's always-rule must not be deduplicated away"


def test_dedup_and_create(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "user.yaml"
    first = append_always_rule(path, "gh", "create_issue")
    second = append_always_rule(path, "gh", "create_issue")
    assert first == second
    assert path.read_text().count(f"id: {first}") == 1
    assert path.read_text().startswith("# Rules added by mcp-gateway")
    ps = load_policies(path.parent)
    assert ps.evaluate(PolicyRequest(upstream="gh", tool="create_issue", arguments={"any": 1})).decision == "allow"
    assert ps.evaluate(PolicyRequest(upstream="gh", tool="create_issues")).source != "rule"


def test_tool_names_are_literal(tmp_path: Path) -> None:
    path = tmp_path / "user.yaml"
    append_always_rule(path, "u", "weird*[tool]")
    ps = load_policies(tmp_path)
    assert ps.evaluate(PolicyRequest(upstream="u", tool="weird*[tool]")).decision == "allow"
    assert ps.evaluate(PolicyRequest(upstream="u", tool="weirdXt")).source != "rule"


def test_rejects_non_mapping_file(tmp_path: Path) -> None:
    path = tmp_path / "user.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level"):
        append_always_rule(path, "u", "t")
    assert path.read_text() == "- a\n- b\n"


def test_concurrent_appends_from_threads(tmp_path: Path) -> None:
    path = tmp_path / "user.yaml"
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            start.wait(timeout=10)
            for j in range(3):
                append_always_rule(path, "u", f"tool{i}", {"j": j})
                append_always_rule(path, "u", "shared")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    ps = load_policies(tmp_path)
    assert len(ps) == 8 * 3 + 1
    assert not list(tmp_path.glob("*.tmp"))


async def test_async_wrapper(tmp_path: Path) -> None:
    path = tmp_path / "user.yaml"
    rid = await append_always_rule_async(path, "u", "t", {"a": [1, 2]})
    assert rid in path.read_text()
