"""Normalisation tables: URL hosts, IP notations, IDN look-alikes, paths with traversal and symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.policy.commands import CommandPrefixes, split_commands
from gateway.policy.paths import PathRoots, normalize_path
from gateway.policy.urls import HostMatcher, url_host

INTERNAL = HostMatcher.compile(["loopback", "private", "link_local", "metadata"])
GOOD = HostMatcher.compile(["good.com"])
GOOGLE = HostMatcher.compile(["google.com"])


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://good.com@evil.com", "evil.com"),
        ("http://good.com:pw@evil.com:8080/x", "evil.com"),
        ("HTTP://GOOD.COM.", "good.com"),
        ("https://Good.Com:443/path?q=1", "good.com"),
        ("http://0x7f000001", "127.0.0.1"),
        ("http://2130706433", "127.0.0.1"),
        ("http://0177.0.0.1", "127.0.0.1"),
        ("http://127.1", "127.0.0.1"),
        ("http://0x7f.1", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]", "127.0.0.1"),
        ("http://[::ffff:7f00:1]:80/", "127.0.0.1"),
        ("http://[::1]/", "::1"),
        ("http://[fe80::1%25eth0]/", "fe80::1"),
        ("http://%31%32%37.0.0.1/", "127.0.0.1"),
        ("http://127。0。0。1/", "127.0.0.1"),
        ("http://evil.com\\@good.com/", "evil.com"),
        ("  http://evil.com/\n", "evil.com"),
        ("example.com/path", "example.com"),
        ("10.0.0.1:8080", "10.0.0.1"),
        ("http://bücher.de/", "xn--bcher-kva.de"),
        ("", None),
        ("http:///nohost", None),
    ],
)
def test_url_host_normalisation(url: str, host: str | None) -> None:
    assert url_host(url) == host


@pytest.mark.parametrize(
    ("url", "internal"),
    [
        ("http://0x7f000001", True),
        ("http://2130706433", True),
        ("http://0177.0.0.1", True),
        ("http://127.1", True),
        ("http://[::ffff:127.0.0.1]", True),
        ("http://localhost./", True),
        ("http://api.localhost/", True),
        ("http://0.0.0.0:8000/", True),
        ("http://10.1.2.3/", True),
        ("http://172.31.255.255/", True),
        ("http://172.32.0.1/", False),
        ("http://192.168.0.10/", True),
        ("http://100.64.1.1/", True),
        ("http://[fd12::1]/", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://[fd00:ec2::254]/", True),
        ("http://metadata.google.internal./", True),
        ("http://METADATA.GOOGLE.INTERNAL/", True),
        ("http://good.com@169.254.169.254/", True),
        ("http://169.254.169.254@good.com/", False),
        ("https://example.com/", False),
        ("http://8.8.8.8/", False),
        ("http://[2001:db8::1]/", False),
    ],
)
def test_internal_host_sets(url: str, internal: bool) -> None:
    host = url_host(url)
    assert host is not None
    assert INTERNAL.matches(host) is internal


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://gооgle.com", False),  # Cyrillic о
        ("http://googlе.com", False),  # Cyrillic е
        ("http://ｇｏｏｇｌｅ.com", True),  # full-width ASCII maps to google.com (UTS #46, like browsers)
        ("http://GOOGLE.com.", True),
        ("http://google.com.evil.net", False),
        ("http://xn--ggle-55da.com", False),
    ],
)
def test_idn_lookalikes(url: str, expected: bool) -> None:
    host = url_host(url)
    assert host is not None
    assert GOOGLE.matches(host) is expected


def test_host_wildcards_and_cidr() -> None:
    m = HostMatcher.compile(["*.example.com", "**.corp.net", "203.0.113.0/24"])
    assert m.matches("a.example.com")
    assert not m.matches("example.com")
    assert m.matches("corp.net") and m.matches("x.y.corp.net")
    assert m.matches("203.0.113.7") and not m.matches("203.0.114.7")
    with pytest.raises(ValueError, match="CIDR"):
        HostMatcher.compile(["10.0.0.0/99"])
    with pytest.raises(ValueError, match="wildcard"):
        HostMatcher.compile(["ex*ample.com"])


def test_path_traversal_and_home(tmp_path: Path) -> None:
    cwd = str(tmp_path / "proj")
    roots = PathRoots.compile(["~/.ssh", "*/.git", str(tmp_path / "proj")])
    assert normalize_path("src/../../proj/./a.txt", cwd) == normalize_path(str(tmp_path / "proj" / "a.txt"), None)
    assert roots.contains(normalize_path("~/.ssh/id_rsa", cwd) or "", cwd)
    assert roots.contains(normalize_path("sub/../.git/config", cwd) or "", cwd)
    assert not roots.contains(normalize_path("../other/x", cwd) or "", cwd)
    assert normalize_path("file://" + str(tmp_path / "f.txt"), None) == normalize_path(str(tmp_path / "f.txt"), None)
    assert normalize_path("bad\x00path", cwd) is None


def test_symlink_out_of_allowed_root(tmp_path: Path) -> None:
    root = tmp_path / "allowed"
    outside = tmp_path / "secret"
    root.mkdir()
    outside.mkdir()
    (outside / "key").write_text("x")
    os.symlink(outside, root / "link")
    allowed = PathRoots.compile([str(root)])
    inside = normalize_path("link/key", str(root))
    assert inside is not None
    assert not allowed.contains(inside, str(root)), "a symlink must be judged by where it points"
    assert allowed.contains(normalize_path("real.txt", str(root)) or "", str(root))


def test_relative_root_uses_cwd(tmp_path: Path) -> None:
    roots = PathRoots.compile(["build"])
    cwd = str(tmp_path)
    assert roots.contains(normalize_path("build/out.o", cwd) or "", cwd)
    assert not roots.contains(normalize_path("src/build.c", cwd) or "", cwd)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("git push --force", [["git", "push", "--force"]]),
        ("git add . && git push -f", [["git", "add", "."], ["git", "push", "-f"]]),
        ("a;b|c", [["a"], ["b"], ["c"]]),
        ("bash -lc 'git push --force'", [["git", "push", "--force"]]),
        ("echo 'a && b'", [["echo", "a && b"]]),
        ("unbalanced 'quote", [["unbalanced", "'quote"]]),
    ],
)
def test_split_commands(command: str, expected: list[list[str]]) -> None:
    assert split_commands(command) == expected


def test_command_prefixes() -> None:
    p = CommandPrefixes.compile([["git", "push", ["--force", "-f"]]])
    assert p.matches(["git", "push", "-f", "origin"])
    assert p.matches(["/usr/bin/git", "push", "--force"])
    assert not p.matches(["git", "push"])
    assert not p.matches(["echo", "git", "push", "--force"])
