"""Command splitting for ``command_prefix``: a shell string or argv list becomes the simple commands it runs.

``git add . && git push --force`` is two commands, and a rule for ``git push --force`` must see the second one;
``bash -lc "..."`` wrappers are unwrapped the same way. Only plain words joined by ``&&``, ``||``, ``;``, ``|``
and ``&`` are split; anything else stays as one command, which is the conservative reading for deny rules.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CommandPrefixes", "split_commands"]

_OPERATORS = frozenset({"&&", "||", ";", "|", "&", ";;", "|&"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})
_MAX_DEPTH = 3


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        # Unbalanced quotes: the shell would refuse too; split on spaces so prefixes still get a chance to match.
        return command.split()


def _segments(tokens: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for tok in tokens:
        if tok in _OPERATORS:
            out.append([])
        else:
            out[-1].append(tok)
    return [seg for seg in out if seg]


def _unwrap(argv: list[str], depth: int) -> list[list[str]]:
    # bash -c SCRIPT / bash -lc SCRIPT: judge the script's commands, not the shell.
    if depth < _MAX_DEPTH and len(argv) >= 3 and os.path.basename(argv[0]) in _SHELLS:
        flag = argv[1]
        if flag.startswith("-") and not flag.startswith("--") and "c" in flag[1:]:
            return split_commands(argv[2], depth + 1)
    return [argv]


def split_commands(value: str | Sequence[str], depth: int = 0) -> list[list[str]]:
    """The simple commands in ``value`` (a shell string, or an argv list taken literally)."""
    if isinstance(value, str):
        return [list(cmd) for cmd in _split_string(value, depth)]
    return _unwrap([str(v) for v in value], depth)


@lru_cache(maxsize=4096)
def _split_string(value: str, depth: int) -> tuple[tuple[str, ...], ...]:
    # shlex is slow and pure; models repeat the same commands, so cache (immutable results only).
    out: list[tuple[str, ...]] = []
    for seg in _segments(_tokens(value)):
        out.extend(tuple(cmd) for cmd in _unwrap(seg, depth))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class CommandPrefixes:
    """argv prefixes; each token is a word or a list of alternatives (``["git", "push", ["--force", "-f"]]``).

    The program token matches by basename when the rule gives a bare name, so ``/usr/bin/git`` is ``git``.
    """

    prefixes: tuple[tuple[frozenset[str], ...], ...]

    @classmethod
    def compile(cls, prefixes: list[list[str | list[str]]]) -> CommandPrefixes:
        return cls(
            tuple(tuple(frozenset([tok] if isinstance(tok, str) else tok) for tok in prefix) for prefix in prefixes)
        )

    def matches(self, argv: list[str]) -> bool:
        """True when ``argv`` starts with one of the prefixes."""
        for prefix in self.prefixes:
            if len(argv) < len(prefix):
                continue
            first = argv[0]
            if first not in prefix[0] and os.path.basename(first) not in prefix[0]:
                continue
            if all(argv[i] in alts for i, alts in enumerate(prefix[1:], start=1)):
                return True
        return False
