from __future__ import annotations

import pytest

from gateway.config.secrets import SecretOrLiteral, SecretRef
from gateway.credentials import (
    CredentialStore,
    build_child_env,
    inject_hidden_arguments,
    resolve_values,
    strip_hidden_arguments,
)
from gateway.credentials.settings import SERVICE_NAME
from gateway.errors import CredentialError
from tests.credentials.memory import MemoryKeyring

pytestmark = pytest.mark.anyio


def store_with(**secrets: str) -> CredentialStore:
    backend = MemoryKeyring()
    for name, value in secrets.items():
        backend.set_password(SERVICE_NAME, name.replace("_", "-"), value)
    return CredentialStore(backend=backend)


async def test_resolve_values_renders_templates_and_reports_used() -> None:
    store = store_with(gh_token="ghp_value123", db_pass="pg-secret")
    values: dict[str, SecretOrLiteral] = {
        "Authorization": SecretRef(secret="gh-token", template="Bearer {secret}"),
        "X-Raw": SecretRef(secret="gh-token"),
        "DB": SecretRef(secret="db-pass"),
        "Accept": "application/json",
    }
    resolved, used = await resolve_values(values, store)
    assert resolved == {
        "Authorization": "Bearer ghp_value123",
        "X-Raw": "ghp_value123",
        "DB": "pg-secret",
        "Accept": "application/json",
    }
    assert used == {"gh-token": "ghp_value123", "db-pass": "pg-secret"}


async def test_resolve_values_names_every_missing_credential() -> None:
    store = store_with(present="value-1234")
    values: dict[str, SecretOrLiteral] = {
        "A": SecretRef(secret="present"),
        "B": SecretRef(secret="missing-one"),
        "C": SecretRef(secret="missing-two"),
    }
    with pytest.raises(CredentialError) as info:
        await resolve_values(values, store)
    msg = info.value.public_message
    assert "mcp-gateway creds set missing-one" in msg
    assert "mcp-gateway creds set missing-two" in msg
    assert "value-1234" not in str(info.value)


async def test_single_missing_credential_keeps_store_message() -> None:
    with pytest.raises(
        CredentialError, match=r"Credential 'gone' is not set\. Store it with: mcp-gateway creds set gone"
    ):
        await resolve_values({"X": SecretRef(secret="gone")}, store_with())


def test_child_env_is_an_allow_list() -> None:
    gateway_env = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "GATEWAY_ADMIN_TOKEN": "must-not-leak",
        "AWS_SECRET_ACCESS_KEY": "nope",
        "EXTRA_NEEDED": "yes",
    }
    env = build_child_env(
        {"GITHUB_TOKEN": "ghp_x", "PATH": "/opt/bin"}, ["EXTRA_NEEDED", "NOT_SET"], environ=gateway_env
    )
    assert env == {
        "PATH": "/opt/bin",  # config wins
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "EXTRA_NEEDED": "yes",
        "GITHUB_TOKEN": "ghp_x",
    }


def test_child_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPGW_TEST_PRIVATE", "leak")
    monkeypatch.setenv("TZ", "UTC")
    env = build_child_env({})
    assert "MCPGW_TEST_PRIVATE" not in env
    assert env["TZ"] == "UTC"


def test_strip_hidden_arguments_returns_new_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"repo": {"type": "string"}, "token": {"type": "string"}, "org": {"type": "string"}},
        "required": ["repo", "token"],
    }
    out = strip_hidden_arguments(schema, ["token", "org"])
    assert out == {"type": "object", "properties": {"repo": {"type": "string"}}, "required": ["repo"]}
    assert "token" in schema["properties"] and schema["required"] == ["repo", "token"]
    only_hidden = strip_hidden_arguments({"type": "object", "properties": {"t": {}}, "required": ["t"]}, ["t"])
    assert only_hidden == {"type": "object", "properties": {}}


def test_inject_hidden_arguments_overrides_client_values() -> None:
    args = {"repo": "x", "token": "client-chosen"}
    assert inject_hidden_arguments(args, {"token": "real"}) == {"repo": "x", "token": "real"}
    assert args["token"] == "client-chosen"
    assert inject_hidden_arguments(None, {"t": "v"}) == {"t": "v"}
