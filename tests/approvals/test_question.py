"""The question: masking, cutting, and a schema inside MCP's restricted elicitation subset."""

from __future__ import annotations

import mcp_types as types
import pytest
from mcp_types import _v2025_11_25 as wire

from gateway.approvals.question import (
    MASK,
    build_question,
    build_resume_question,
    parse_decision,
    preview_arguments,
)
from gateway.approvals.settings import ApprovalSettings, load_approval_settings
from gateway.errors import ConfigError

MASK_RE = ApprovalSettings().mask_regex()


def test_secret_names_are_masked_at_any_depth() -> None:
    preview = preview_arguments(
        {
            "api_token": "tok-123",
            "Password": "hunter2",
            "headers": {"Authorization": "Bearer abc", "Accept": "json"},
            "items": [{"client_secret": "zzz"}],
            "path": "/tmp/x",
        },
        mask=MASK_RE,
        limit=200,
    )
    assert preview["api_token"] == MASK and preview["Password"] == MASK
    assert "abc" not in preview["headers"] and '"Accept": "json"' in preview["headers"]
    assert "zzz" not in preview["items"]
    assert preview["path"] == "/tmp/x"


def test_long_values_are_cut_with_an_ellipsis() -> None:
    preview = preview_arguments({"content": "x" * 500, "n": 5}, mask=MASK_RE, limit=20)
    assert preview["content"] == "x" * 19 + "…" and len(preview["content"]) == 20
    assert preview["n"] == "5"


def test_question_message_and_schema() -> None:
    q = build_question(
        exposed_name="fs__write_file",
        upstream="fs",
        preview={"path": "/etc/hosts", "token": MASK},
        justification="Writes outside the workspace need a human.",
    )
    assert "fs__write_file" in q.message and "upstream: fs" in q.message
    assert "path: /etc/hosts" in q.message and "token: ***" in q.message
    assert "Writes outside the workspace need a human." in q.message
    decision = q.schema["properties"]["decision"]
    assert decision["enum"] == ["allow_once", "allow_session", "allow_always", "deny"]
    assert [o["title"] for o in decision["oneOf"]] == ["Allow once", "Allow for this session", "Always allow", "Deny"]
    assert q.schema["required"] == ["decision"]
    assert q.schema["properties"]["reason"]["type"] == "string"
    # Flat object with primitive properties only: the spec's strict models accept it.
    wire.RequestedSchema.model_validate(q.schema)
    for prop in q.schema["properties"].values():
        assert prop["type"] in ("string", "boolean", "number", "integer")
    types.ElicitRequestFormParams(message=q.message, requested_schema=q.schema)


def test_always_is_offered_only_when_it_can_be_written() -> None:
    q = build_question(exposed_name="t", upstream="u", preview={}, justification="", offer_always=False)
    assert "allow_always" not in q.schema["properties"]["decision"]["enum"]
    assert "Arguments: (none)" in q.message


def test_resume_question() -> None:
    q = build_resume_question(session_id="s9", denials=3)
    assert "3 calls" in q.message and "s9" in q.message
    wire.RequestedSchema.model_validate(q.schema)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"decision": "allow_session", "whole_tool": True, "reason": " ok "}, ("allow_session", True, "ok")),
        ({"decision": "allow_once"}, ("allow_once", False, None)),
        ({"decision": "sudo"}, ("deny", False, None)),
        (None, ("deny", False, None)),
        ({"decision": "deny", "reason": ""}, ("deny", False, None)),
    ],
)
def test_parse_decision(content: dict[str, object] | None, expected: tuple[object, ...]) -> None:
    assert parse_decision(content) == expected


def test_settings_defaults_and_errors() -> None:
    s = load_approval_settings({})
    assert (s.queue_wait, s.elicitation_timeout, s.circuit_breaker_threshold, s.state_ttl, s.arg_preview_length) == (
        120.0,
        300.0,
        3,
        600.0,
        200,
    )
    assert load_approval_settings({"circuit_breaker_threshold": 0}).circuit_breaker_threshold == 0
    with pytest.raises(ConfigError, match=r"gateway\.approvals\.queue_wiat: unknown key"):
        load_approval_settings({"queue_wiat": 3}, path="upstreams.yaml")
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        load_approval_settings({"mask_patterns": ["("]})
    with pytest.raises(ConfigError, match="queue_wait"):
        load_approval_settings({"queue_wait": -1})
