from __future__ import annotations

from typing import Any

import pytest

from gateway.config.models import UpstreamsFile
from gateway.credentials import check_literal_secrets, find_literal_secrets
from gateway.credentials.lint import looks_like_secret
from gateway.errors import ConfigError

GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def stdio(env: dict[str, Any], **extra: Any) -> UpstreamsFile:
    return UpstreamsFile.model_validate({"upstreams": {"gh": {"command": "srv", "env": env, **extra}}})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("GITHUB_TOKEN", GH),
        ("ANYTHING", GH),
        ("PAT", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
        ("OPENAI", "sk-proj-abcdefghijklmnopqrstuvwxyz012345"),
        ("SLACK", "xoxb-123456789012-abcdefghijkl"),
        ("AWS_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("DB_PASSWORD", "hunter22"),
        ("CLIENT_SECRET", "abc123def"),
        ("DATABASE_URL", "postgres://app:s3cretpw@db:5432/app"),
        ("BLOB", "Zk3q9XvT2mLp8RwY4nBc7HdJ1sKf6GaE"),
        ("JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc"),
    ],
)
def test_true_positives(key: str, value: str) -> None:
    assert looks_like_secret(key, value) is not None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TZ", "UTC"),
        ("LOG_LEVEL", "debug"),
        ("HOME", "/home/user"),
        ("GITHUB_TOKEN_FILE", "/run/secrets/github"),
        ("API_URL", "https://api.example.com/v1"),
        ("GITHUB_TOKEN", "${GITHUB_TOKEN}"),
        ("AUTH_TOKEN", ""),
        ("NODE_OPTIONS", "--max-old-space-size=4096"),
        ("PAGER", "cat"),
        ("TOKEN_TYPE", "bearer"),
        ("CONFIG", "C:\\Users\\me\\config.json"),
        ("REGION", "eu-central-1"),
        ("COMMIT", "0123456789abcdef0123456789abcdef01234567"),
        ("USE_PASSWORD", "true"),
    ],
)
def test_false_positives(key: str, value: str) -> None:
    assert looks_like_secret(key, value) is None


def test_issue_message_has_command_and_reference_not_value() -> None:
    issues = find_literal_secrets(stdio({"GITHUB_TOKEN": GH, "TZ": "UTC"}))
    assert len(issues) == 1
    msg = issues[0].message
    assert "upstream 'gh', field 'env.GITHUB_TOKEN'" in msg
    assert "`mcp-gateway creds set gh-github-token`" in msg
    assert "`GITHUB_TOKEN: {secret: gh-github-token}`" in msg
    assert GH not in msg


def test_authorization_header_suggests_template() -> None:
    file = UpstreamsFile.model_validate(
        {
            "upstreams": {
                "api": {
                    "url": "https://api.example.com/mcp",
                    "headers": {"Authorization": "Bearer abcdefghijk123", "Accept": "application/json"},
                }
            }
        }
    )
    [issue] = find_literal_secrets(file)
    assert issue.section == "headers"
    assert 'Authorization: {secret: api-token, template: "Bearer {secret}"}' in issue.message


def test_hidden_arguments_and_refs() -> None:
    file = stdio(
        {"GITHUB_TOKEN": {"secret": "gh-token"}},
        hidden_arguments={"api_key": "abcd1234efgh", "owner": "octocat"},
    )
    issues = find_literal_secrets(file)
    assert [(i.section, i.key) for i in issues] == [("hidden_arguments", "api_key")]


def test_check_literal_secrets_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"creds set gh-github-token") as info:
        check_literal_secrets(stdio({"GITHUB_TOKEN": GH}))
    assert GH not in str(info.value)
    check_literal_secrets(stdio({"LOG_LEVEL": "info"}))  # no error
