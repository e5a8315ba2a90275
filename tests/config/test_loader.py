"""upstreams.yaml loading: every error names the file, the upstream, the field and what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.loader import load_config, normalize_upstream_name
from gateway.config.models import HttpUpstream, StdioUpstream
from gateway.config.secrets import SecretRef
from gateway.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "upstreams.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path.resolve()) in message
    return message


def test_valid_file_infers_transport_and_secret_refs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
upstreams:
  git:
    command: uvx
    args: [mcp-server-git]
    env: {TOKEN: {secret: gh-token}, LEVEL: debug}
  web:
    url: https://example.com/mcp
    headers: {Authorization: {secret: web-token, template: "Bearer {secret}"}}
""",
    )
    loaded = load_config(path)
    git, web = loaded.file.upstreams["git"], loaded.file.upstreams["web"]
    assert isinstance(git, StdioUpstream) and git.env["TOKEN"] == SecretRef(secret="gh-token")
    assert isinstance(web, HttpUpstream) and web.transport == "http"
    assert loaded.state_dir == tmp_path.resolve() / ".mcp-gateway"


def test_unknown_key_names_upstream_field_and_suggests(tmp_path: Path) -> None:
    message = error_for(tmp_path, "upstreams:\n  git:\n    command: uvx\n    argz: [a]\n")
    assert "upstream 'git', field 'argz'" in message
    assert "did you mean 'args'?" in message


def test_stdio_key_on_http_upstream_explains(tmp_path: Path) -> None:
    message = error_for(tmp_path, "upstreams:\n  web:\n    url: http://x/mcp\n    args: [a]\n")
    assert "upstream 'web', field 'args'" in message
    assert "belongs to stdio upstreams" in message


def test_bad_name_suggests_valid_name(tmp_path: Path) -> None:
    message = error_for(tmp_path, "upstreams:\n  My_Server:\n    command: x\n")
    assert "upstream name 'My_Server'" in message
    assert "e.g. 'my-server'" in message


def test_bad_url(tmp_path: Path) -> None:
    message = error_for(tmp_path, "upstreams:\n  web:\n    url: ftp://host/mcp\n")
    assert "upstream 'web', field 'url': must be an http:// or https:// URL" in message


def test_bad_secret_template_reported_once(tmp_path: Path) -> None:
    text = "upstreams:\n  web:\n    url: http://x\n    headers:\n      Authorization: {secret: t, template: Bearer}\n"
    message = error_for(tmp_path, text)
    assert "field 'headers.Authorization.template'" in message
    assert 'must contain "{secret}" exactly once' in message
    assert "valid string" not in message  # the str branch of the union is noise


def test_non_string_value_says_string_or_secret(tmp_path: Path) -> None:
    message = error_for(tmp_path, "upstreams:\n  git:\n    command: x\n    env: {A: [1]}\n")
    assert "upstream 'git', field 'env.A': expected a string or {secret: NAME}" in message


def test_neither_command_nor_url(tmp_path: Path) -> None:
    message = error_for(tmp_path, "upstreams:\n  git:\n    args: [a]\n")
    assert "upstream 'git': set 'command'" in message


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, "upstreams:\n  git:\n    command: [unclosed\n  other: x\n")
    assert "YAML syntax error" in message
    assert "line " in message


def test_prefix_collision_names_both(tmp_path: Path) -> None:
    text = "upstreams:\n  a:\n    command: x\n    prefix: shared\n  b:\n    command: y\n    prefix: shared\n"
    message = error_for(tmp_path, text)
    assert "'a' and 'b' both use the prefix 'shared'" in message


def test_unknown_gateway_setting(tmp_path: Path) -> None:
    message = error_for(tmp_path, "gateway:\n  stat_dir: x\nupstreams: {}\n")
    assert "gateway, field 'stat_dir': unknown key; did you mean 'state_dir'?" in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("My_Server", "my-server"), ("remote web", "remote-web"), ("a.b__c", "a-b-c"), ("!!!", "server")],
)
def test_normalize_upstream_name(raw: str, expected: str) -> None:
    assert normalize_upstream_name(raw) == expected
