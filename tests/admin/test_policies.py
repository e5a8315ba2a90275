"""Requirements in the policy engine: denies users cannot loosen, reused rule ids, approval-mode limits, hosts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.admin import constrain_policy_modes, load_policy_set
from gateway.errors import ConfigError
from gateway.policy import PolicyRequest, load_policies
from gateway.policy.engine import PolicySet
from gateway.policy.models import ApprovalModeEntry
from tests.admin.helpers import Dirs, stdio

ALLOW_DELETE = {
    "rules": [
        {
            "id": "my-allow-delete",
            "match": {"upstream": "files", "tool": "delete_file"},
            "decision": "allow",
            "justification": "I trust myself.",
        }
    ]
}


def _request(tool: str, upstream: str = "files", **arguments: object) -> PolicyRequest:
    return PolicyRequest(upstream=upstream, tool=tool, arguments=arguments, cwd="/tmp")


def test_user_allow_rule_cannot_loosen_a_denied_tool(dirs: Dirs, tmp_path: Path) -> None:
    """The brief's shape: the policy dirs plus requirement_policy written to a file, through load_policies."""
    dirs.policy("user", "mine.yaml", ALLOW_DELETE)
    req_path = dirs.requirements({"denied_tools": ["files__delete_*"]})
    eff = dirs.load()
    extra = tmp_path / "requirement-policy.yaml"
    extra.write_text(json.dumps(eff.requirement_policy))

    policies = load_policies(eff.policy_dirs[0], [extra])
    decision = policies.evaluate(_request("delete_file"))
    assert decision.decision == "deny"
    assert decision.rule_id == "requirement:denied-tool:0"
    assert {m.id for m in decision.matched} == {"requirement:denied-tool:0", "my-allow-delete"}

    # The same through load_policy_set: the deny names requirements.yaml as its file.
    policy_set, notices = load_policy_set(eff)
    decision = policy_set.evaluate(_request("delete_file"))
    assert decision.decision == "deny"
    assert decision.matched[0].file == f"{req_path} (required)"
    assert notices == []
    assert policy_set.evaluate(_request("read_file")).decision == "prompt"  # default untouched


def test_reused_requirement_rule_id_is_dropped_with_a_notice(dirs: Dirs) -> None:
    dirs.requirements(
        {
            "rules": [
                {
                    "id": "no-force-push",
                    "match": {"upstream": "git", "tool": "push", "arguments": {"force": {"equals": True}}},
                    "decision": "deny",
                    "justification": "Force pushes rewrite shared history.",
                }
            ]
        }
    )
    user_file = dirs.policy(
        "project",
        "override.yaml",
        {"rules": [{"id": "no-force-push", "match": {"upstream": "git"}, "decision": "allow", "justification": "x"}]},
    )
    eff = dirs.load()
    policy_set, notices = load_policy_set(eff)
    assert notices == [
        f"rule 'no-force-push' in {user_file} was dropped: a requirement rule has that id and stays in force"
    ]
    rule = policy_set.rule("no-force-push")
    assert rule is not None and rule.spec.decision == "deny"
    assert policy_set.evaluate(_request("push", upstream="git", force=True)).decision == "deny"
    assert policy_set.evaluate(_request("push", upstream="git", force=False)).decision == "prompt"


def test_profile_lowering_the_approval_mode_is_replaced_with_a_notice(dirs: Dirs) -> None:
    dirs.requirements({"allowed_approval_modes": ["auto", "prompt", "never"]})
    dirs.user_file(
        {
            "upstreams": {"files": stdio("files")},
            "profiles": {"yolo": {"approval_modes": [{"upstream": "files", "mode": "approve"}]}},
        }
    )
    eff = dirs.load(profile="yolo")
    assert eff.profile_policy == {"approval_modes": [{"upstream": "files", "mode": "never"}]}
    [notice] = eff.notices
    assert "approval mode 'approve' for upstream 'files'" in notice
    assert "profile yolo" in notice and "replaced by 'never'" in notice

    policy_set, _ = load_policy_set(eff)
    decision = policy_set.evaluate(_request("write_file"))
    assert decision.mode == "never"
    assert decision.decision == "deny"  # would have been prompt -> allow under 'approve'


@pytest.mark.parametrize(
    ("allowed", "modes", "expected", "notices"),
    [
        # (allowed modes, entries in a policy file, modes after constraint incl. any catch-all, notice count)
        (None, ["approve"], ["approve"], 0),
        (["auto", "prompt"], ["approve", "auto", "never"], ["prompt", "auto", "prompt"], 2),
        (["prompt", "never"], ["prompt"], ["prompt", "never"], 0),  # auto not allowed -> catch-all entry
        (["approve", "auto"], ["never"], ["auto"], 1),
    ],
)
def test_policy_file_modes_table(
    dirs: Dirs, allowed: list[str] | None, modes: list[str], expected: list[str], notices: int
) -> None:
    if allowed is not None:
        dirs.requirements({"allowed_approval_modes": allowed})
    path = dirs.policy(
        "project", "modes.yaml", {"approval_modes": [{"upstream": f"u{i}", "mode": m} for i, m in enumerate(modes)]}
    )
    policy_set, found = load_policy_set(dirs.load())
    assert [e.mode for e in policy_set.approval_modes] == expected
    assert len(found) == notices
    assert all(str(path) in n for n in found)


def test_constrain_policy_modes_on_a_loaded_set() -> None:
    original = PolicySet(
        approval_modes=[
            ApprovalModeEntry(upstream="a", mode="approve"),
            ApprovalModeEntry(upstream="b", mode="prompt"),
        ],
        policy_version="sha256:x",
    )
    adjusted, notices = constrain_policy_modes(original, ["prompt", "never"])
    assert [(e.upstream, e.mode) for e in adjusted.approval_modes] == [("a", "never"), ("b", "prompt"), ("*", "never")]
    assert adjusted.mode_for("a", "t") == "never"
    assert adjusted.mode_for("c", "t") == "never"  # the implicit 'auto' is not allowed either
    assert adjusted.policy_version != original.policy_version
    assert len(notices) == 1 and "upstream 'a'" in notices[0]
    same, none = constrain_policy_modes(original, None)
    assert same is original and none == []


@pytest.mark.parametrize(
    ("network", "arguments", "decision"),
    [
        ({"denied_hosts": ["metadata"]}, {"url": "http://169.254.169.254/latest"}, "deny"),
        ({"denied_hosts": ["metadata"]}, {"target": "metadata.google.internal"}, "deny"),
        ({"denied_hosts": ["metadata"]}, {"url": "https://example.com/"}, "prompt"),
        ({"allowed_hosts": ["**.example.com"]}, {"url": "https://api.example.com/x"}, "prompt"),
        ({"allowed_hosts": ["**.example.com"]}, {"url": "https://evil.test/x"}, "deny"),
        ({"allowed_hosts": ["**.example.com"]}, {"note": "see https://evil.test/x"}, "prompt"),  # not a URL value
        ({"allowed_hosts": ["**.example.com"]}, {"body": "https://evil.test/x"}, "deny"),  # any argument with a scheme
        ({"allowed_hosts": ["**.example.com"]}, {"endpoint": "evil.test:80"}, "deny"),  # URL-named, no scheme
        ({"allowed_hosts": ["**.example.com"]}, {"path": "src/main.py"}, "prompt"),
    ],
)
def test_network_requirements(dirs: Dirs, network: dict[str, object], arguments: dict[str, str], decision: str) -> None:
    dirs.requirements({"network": network})
    # A user allow rule for everything: the host requirements must still deny.
    dirs.policy(
        "user",
        "open.yaml",
        {"rules": [{"id": "allow-all-fetch", "match": {"tool": "fetch"}, "decision": "allow", "justification": "x"}]},
    )
    policy_set, _ = load_policy_set(dirs.load())
    got = policy_set.evaluate(PolicyRequest(upstream="web", tool="fetch", arguments=arguments))
    expected = "allow" if decision == "prompt" else decision  # the user's allow rule decides when no host rule fires
    assert got.decision == expected, got.to_dict()


def test_duplicate_ids_outside_requirements_are_still_an_error(dirs: Dirs) -> None:
    rule = {"id": "same", "decision": "deny", "justification": "x"}
    dirs.policy("user", "a.yaml", {"rules": [rule]})
    dirs.policy("project", "b.yaml", {"rules": [rule]})
    with pytest.raises(ConfigError, match="also defined in"):
        load_policy_set(dirs.load())
