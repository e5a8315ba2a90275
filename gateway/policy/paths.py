"""Path normalisation for ``path_under`` / ``path_not_under``.

A path argument is normalised the way the upstream would see it: ``file://`` URLs unwrapped, ``~`` expanded,
relative paths joined to the upstream's cwd, ``..`` and symlinks resolved (``os.path.realpath``), and case folded
on platforms whose file systems usually ignore case. Roots in rules go through the same steps, so a symlink that
points out of an allowed root is judged by where it lands.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

__all__ = ["CASE_INSENSITIVE", "PathRoots", "is_glob", "normalize_path"]

# macOS and Windows default to case-insensitive file systems; "/A/.SSH" must hit a "~/.ssh" rule there.
CASE_INSENSITIVE = sys.platform in ("darwin", "win32")

_GLOB_CHARS = re.compile(r"[*?\[]")


def is_glob(pattern: str) -> bool:
    """True when ``pattern`` uses glob syntax (``*``, ``?`` or ``[``)."""
    return _GLOB_CHARS.search(pattern) is not None


def _fold(path: str) -> str:
    path = os.path.normcase(path)
    return path.casefold() if CASE_INSENSITIVE else path


def normalize_path(value: str, cwd: str | None) -> str | None:
    """The absolute, resolved, case-folded form of ``value``; None if it cannot be a path (empty, NUL byte)."""
    if not value or "\x00" in value:
        return None
    if value.startswith("file://"):
        parts = urlsplit(value)
        value = unquote(parts.path)
        if not value:
            return None
    path = os.path.expanduser(value)
    if not os.path.isabs(path):
        path = os.path.join(cwd or os.getcwd(), path)
    return _fold(_realpath(path))


_RESOLVE_TTL = 2.0
_RESOLVE_LIMIT = 4096
_resolved: dict[str, tuple[float, str]] = {}


def _realpath(path: str) -> str:
    # realpath costs one lstat per component (tens of microseconds); models repeat paths, so keep results for
    # a couple of seconds. A symlink swapped after the check is a race the gateway cannot close anyway.
    now = time.monotonic()
    hit = _resolved.get(path)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        resolved = os.path.realpath(path)
    except (OSError, ValueError):
        # A symlink loop or an unencodable name: fall back to the lexical form so ".." still collapses.
        resolved = os.path.normpath(path)
    if len(_resolved) >= _RESOLVE_LIMIT:
        _resolved.clear()
    _resolved[path] = (now + _RESOLVE_TTL, resolved)
    return resolved


@lru_cache(maxsize=4096)
def _normalize_root(root: str, cwd: str | None) -> str | None:
    return normalize_path(root, cwd)


def _under(path: str, root: str) -> bool:
    if path == root:
        return True
    prefix = root if root.endswith(os.sep) else root + os.sep
    return path.startswith(prefix)


def _ancestors(path: str) -> list[str]:
    out = [path]
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return out
        out.append(parent)
        path = parent


@dataclass(frozen=True, slots=True)
class PathRoots:
    """A compiled list of roots: plain paths (``~/.ssh``, ``/etc``, ``.git`` relative to cwd) and globs.

    A glob root (``*/.git``, ``*/.env*``) is matched against the normalised path and each of its ancestors, with
    ``*`` crossing ``/``: ``*/.git`` covers every ``.git`` directory and everything inside it.
    """

    fixed: tuple[str, ...]
    relative: tuple[str, ...]
    globs: re.Pattern[str] | None

    @classmethod
    def compile(cls, roots: list[str]) -> PathRoots:
        fixed: list[str] = []
        relative: list[str] = []
        globs: list[str] = []
        for root in roots:
            if is_glob(root):
                expanded = os.path.expanduser(root)
                globs.append(fnmatch.translate(_fold(expanded)))
            elif root.startswith("~") or os.path.isabs(root) or root.startswith("file://"):
                norm = normalize_path(root, None)
                if norm is not None:
                    fixed.append(norm)
            else:
                relative.append(root)
        pattern = re.compile("|".join(f"(?:{g})" for g in globs)) if globs else None
        return cls(tuple(fixed), tuple(relative), pattern)

    def contains(self, path: str, cwd: str | None) -> bool:
        """True when the normalised ``path`` is one of the roots or inside one."""
        if any(_under(path, root) for root in self.fixed):
            return True
        for rel in self.relative:
            root = _normalize_root(rel, cwd)
            if root is not None and _under(path, root):
                return True
        if self.globs is not None:
            match = self.globs.match
            return any(match(p) for p in _ancestors(path))
        return False
