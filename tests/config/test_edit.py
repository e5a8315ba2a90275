"""In-place edits of upstreams.yaml: comments kept, invalid edits rejected untouched, concurrent edits serialized."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gateway.config.edit import add_upstream, remove_upstream, set_enabled, update_upstream
from gateway.config.loader import load_config
from gateway.errors import ConfigError

ORIGINAL = """\
# top comment: hand-written
gateway:
  state_dir: ./state  # where state lives

upstreams:
  # the git server
  git:
    command: uvx
    args:
      - mcp-server-git
    env:
      GITHUB_TOKEN: {secret: gh-token}  # keep me
  # time server heading
  time:
    command: uvx
    args: [mcp-server-time]
  # end of file note
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "upstreams.yaml"
    path.write_text(ORIGINAL, encoding="utf-8")
    return path


def comments(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip().startswith("#")]


def test_add_keeps_comments_and_order(config: Path) -> None:
    result = add_upstream(config, "web", {"url": "http://127.0.0.1:3001/mcp"})
    assert result.changed
    text = config.read_text()
    assert comments(config)[:4] == [
        "# top comment: hand-written",
        "# the git server",
        "# time server heading",
        "# end of file note",
    ]
    assert "GITHUB_TOKEN: {secret: gh-token}  # keep me" in text
    assert list(load_config(config).file.upstreams) == ["git", "time", "web"]
    assert text.index("# end of file note") > text.index("web:")


def test_remove_keeps_other_comments(config: Path) -> None:
    remove_upstream(config, "git")
    assert "# time server heading" in comments(config)
    assert "# top comment: hand-written" in comments(config)
    assert "git:" not in config.read_text()
    assert list(load_config(config).file.upstreams) == ["time"]


def test_remove_last_keeps_trailing_comment(config: Path) -> None:
    remove_upstream(config, "time")
    assert "# end of file note" in comments(config)
    assert list(load_config(config).file.upstreams) == ["git"]


def test_disable_then_enable(config: Path) -> None:
    assert set_enabled(config, "git", False).value is True
    text = config.read_text()
    assert "# time server heading" in text
    # the heading must stay right above its entry, not end up inside git's block
    assert text.index("enabled: false") < text.index("# time server heading")
    assert load_config(config).file.upstreams["git"].enabled is False
    set_enabled(config, "git", True)
    assert load_config(config).file.upstreams["git"].enabled is True


def test_enable_already_enabled_writes_nothing(config: Path) -> None:
    result = set_enabled(config, "time", True)
    assert not result.changed
    assert config.read_text() == ORIGINAL


def test_update_sets_and_deletes_keys(config: Path) -> None:
    update_upstream(config, "time", {"prefix": "clock", "args": None})
    up = load_config(config).file.upstreams["time"]
    assert up.prefix == "clock"
    assert getattr(up, "args", None) == []


def test_unknown_name_lists_known(config: Path) -> None:
    with pytest.raises(ConfigError, match=r"no upstream named 'nope' \(known upstreams: git, time\)"):
        remove_upstream(config, "nope")
    with pytest.raises(ConfigError, match="known upstreams: git, time"):
        set_enabled(config, "nope", False)


def test_duplicate_add_rejected_unless_replace(config: Path) -> None:
    with pytest.raises(ConfigError, match="already exists"):
        add_upstream(config, "git", {"command": "other"})
    assert config.read_text() == ORIGINAL
    add_upstream(config, "git", {"command": "other"}, replace=True)
    up = load_config(config).file.upstreams["git"]
    assert getattr(up, "command", None) == "other"
    assert "# time server heading" in comments(config)


@pytest.mark.parametrize(
    ("name", "spec", "fragment"),
    [
        ("Bad_Name", {"command": "x"}, "e.g. 'bad-name'"),
        ("web", {"url": "ftp://x"}, "http:// or https://"),
        ("web", {"command": "x", "url": "http://x"}, "not both"),
        ("web", {"command": "x", "prefix": "git"}, "both use the prefix 'git'"),
        ("web", {"url": "http://x", "headers": {"A": {"secret": "s", "template": "no placeholder"}}}, "{secret}"),
    ],
)
def test_invalid_add_leaves_file_byte_identical(
    config: Path, name: str, spec: dict[str, object], fragment: str
) -> None:
    before = config.read_bytes()
    with pytest.raises(ConfigError) as info:
        add_upstream(config, name, spec)
    assert fragment in str(info.value)
    assert config.read_bytes() == before
    assert [p.name for p in config.parent.iterdir() if p.suffix == ".tmp"] == []


def test_invalid_update_leaves_file_unchanged(config: Path) -> None:
    before = config.read_bytes()
    with pytest.raises(ConfigError, match="startup_timeout"):
        update_upstream(config, "git", {"startup_timeout": -1})
    assert config.read_bytes() == before


def test_add_creates_missing_file_with_header(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "upstreams.yaml"
    add_upstream(path, "git", {"command": "uvx", "args": ["mcp-server-git"], "env": {"T": {"secret": "gh"}}})
    text = path.read_text()
    assert text.startswith("# upstreams.yaml")
    assert "mcp-gateway creds set NAME" in text
    assert "T: {secret: gh}" in text
    assert list(load_config(path).file.upstreams) == ["git"]
    assert (path.stat().st_mode & 0o777) == 0o600


def test_edit_keeps_file_mode(config: Path) -> None:
    config.chmod(0o640)
    add_upstream(config, "web", {"url": "http://x/mcp"})
    assert (config.stat().st_mode & 0o777) == 0o640


def test_remove_needs_existing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        remove_upstream(tmp_path / "missing.yaml", "git")


def test_syntax_error_in_file_is_reported_not_overwritten(config: Path) -> None:
    config.write_text("upstreams:\n  git: [unclosed\n")
    before = config.read_bytes()
    with pytest.raises(ConfigError, match="YAML syntax error"):
        add_upstream(config, "web", {"url": "http://x"})
    assert config.read_bytes() == before


def test_concurrent_adds_all_land(config: Path) -> None:
    names = [f"srv-{i}" for i in range(12)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(names))

    def worker(name: str) -> None:
        start.wait(timeout=10)
        try:
            add_upstream(config, name, {"command": "echo", "args": [name]})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    upstreams = load_config(config).file.upstreams
    assert set(names) <= set(upstreams)
    assert "# the git server" in comments(config)
    data = YAML(typ="safe").load(config.read_text())
    assert len(data["upstreams"]) == len(names) + 2
