"""Compiled matchers: globs over names, and the per-argument conditions of a rule."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.policy.commands import CommandPrefixes, split_commands
from gateway.policy.models import ArgumentCondition, equals_value
from gateway.policy.paths import PathRoots, is_glob, normalize_path
from gateway.policy.urls import HostMatcher, url_host

__all__ = ["ArgumentMatcher", "EvalContext", "NameMatcher", "compile_globs", "strict_equal"]

_MEMO_LIMIT = 1024


class EvalContext:
    """Per-call scratch space: lower-cased argument names, and paths already normalised (``realpath`` is the
    expensive part, and several rules often look at the same argument)."""

    __slots__ = ("cwd", "items", "paths")

    def __init__(self, arguments: Mapping[str, Any], cwd: str | None) -> None:
        self.cwd = cwd
        self.items = [(k.lower(), v) for k, v in arguments.items()]
        self.paths: dict[str, str | None] = {}

    def path(self, value: str) -> str | None:
        try:
            return self.paths[value]
        except KeyError:
            norm = self.paths[value] = normalize_path(value, self.cwd)
            return norm


Check = Callable[[Any, EvalContext, bool], bool]
"""(value, context, require_all) -> bool"""


def compile_globs(patterns: str | Iterable[str]) -> re.Pattern[str]:
    """One case-sensitive regex matching any of the glob ``patterns`` (``*`` also matches ``/``)."""
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in items) or "(?!)")


def strict_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``"1"`` is not ``1``, ``1`` equals ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a is None and b is None)


@dataclass(frozen=True, slots=True)
class NameMatcher:
    """An argument-name key: ``path``, ``*path*`` or ``*path*|*file*|target``; case-insensitive."""

    literal: frozenset[str]
    pattern: re.Pattern[str] | None

    @classmethod
    def compile(cls, key: str) -> NameMatcher:
        alts = [a.strip().lower() for a in key.split("|") if a.strip()]
        globs = [a for a in alts if is_glob(a)]
        return cls(frozenset(a for a in alts if not is_glob(a)), compile_globs(globs) if globs else None)

    def __call__(self, name: str) -> bool:
        return self.match_lower(name.lower())

    def match_lower(self, low: str) -> bool:
        """Like calling the matcher, for a name that is already lower case."""
        return low in self.literal or (self.pattern is not None and self.pattern.match(low) is not None)


def _quantify(items: Iterable[Any], test: Callable[[Any], bool], require_all: bool) -> bool:
    return all(test(i) for i in items) if require_all else any(test(i) for i in items)


def _strings(value: Any) -> list[Any] | None:
    """A string is one value; a list is its elements; anything else is not string-like (None)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return list(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _build_checks(cond: ArgumentCondition) -> list[Check]:
    checks: list[Check] = []
    given, expected = equals_value(cond)
    if given:
        checks.append(lambda v, _c, _q: strict_equal(v, expected))
    if cond.one_of is not None:
        options = list(cond.one_of)
        checks.append(lambda v, _c, _q: any(strict_equal(v, o) for o in options))
    if cond.glob is not None:
        glob_re = compile_globs(cond.glob)
        checks.append(lambda v, _c, q: _on_strings(v, q, lambda s: glob_re.match(s) is not None))
    if cond.regex is not None:
        regex = re.compile(cond.regex)
        checks.append(lambda v, _c, q: _on_strings(v, q, lambda s: regex.search(s) is not None))
    for op, bound in (("gt", cond.gt), ("ge", cond.ge), ("lt", cond.lt), ("le", cond.le)):
        if bound is not None:
            checks.append(_numeric(op, bound))
    if cond.path_under is not None:
        under = PathRoots.compile(cond.path_under)
        checks.append(lambda v, c, q: _on_strings(v, q, lambda s: _path_in(under, s, c)))
    if cond.path_not_under is not None:
        not_under = PathRoots.compile(cond.path_not_under)
        checks.append(lambda v, c, q: _on_strings(v, q, lambda s: not _path_in(not_under, s, c)))
    if cond.url_host is not None:
        hosts = HostMatcher.compile(cond.url_host)
        checks.append(lambda v, _c, q: _on_strings(v, q, lambda s: _host_in(hosts, s)))
    if cond.url_host_not is not None:
        not_hosts = HostMatcher.compile(cond.url_host_not)
        checks.append(lambda v, _c, q: _on_strings(v, q, lambda s: not _host_in(not_hosts, s)))
    if cond.command_prefix is not None:
        prefixes = CommandPrefixes.compile(cond.command_prefix)
        checks.append(lambda v, _c, q: _command(prefixes, v, q))
    return checks


def _on_strings(value: Any, require_all: bool, test: Callable[[str], bool]) -> bool:
    # Text conditions (also the negated ones) only speak about text: a number or object never satisfies them.
    items = _strings(value)
    if items is None:
        return False
    return _quantify(items, lambda s: isinstance(s, str) and test(s), require_all)


def _numeric(op: str, bound: float) -> Check:
    compare: dict[str, Callable[[float], bool]] = {
        "gt": lambda x: x > bound,
        "ge": lambda x: x >= bound,
        "lt": lambda x: x < bound,
        "le": lambda x: x <= bound,
    }
    fn = compare[op]
    return lambda v, _c, _q: _is_number(v) and fn(v)


def _path_in(roots: PathRoots, value: str, ctx: EvalContext) -> bool:
    path = ctx.path(value)
    return path is not None and roots.contains(path, ctx.cwd)


def _host_in(hosts: HostMatcher, value: str) -> bool:
    host = url_host(value)
    return host is not None and hosts.matches(host)


def _command(prefixes: CommandPrefixes, value: Any, require_all: bool) -> bool:
    if not isinstance(value, str | list | tuple):
        return False
    commands = split_commands(value if isinstance(value, str) else [str(v) for v in value])
    if not commands:
        return False
    return _quantify(commands, prefixes.matches, require_all)


@dataclass(frozen=True, slots=True)
class ArgumentMatcher:
    """One ``arguments:`` entry, compiled. ``require_all`` is resolved from the rule's decision at compile time."""

    key: str
    names: NameMatcher
    checks: tuple[Check, ...]
    require_all: bool
    present: bool | None
    single: str | None
    memo: dict[str, bool]

    @classmethod
    def compile(cls, key: str, cond: ArgumentCondition, default_require_all: bool) -> ArgumentMatcher:
        require_all = default_require_all if cond.require is None else cond.require == "all"
        names = NameMatcher.compile(key)
        single = next(iter(names.literal)) if names.pattern is None and len(names.literal) == 1 else None
        return cls(key, names, tuple(_build_checks(cond)), require_all, cond.present, single, {})

    def names_match(self, low: str) -> bool:
        """Does the (lower-cased) argument name fall under this entry's key? Memoised: names repeat."""
        memo = self.memo
        hit = memo.get(low)
        if hit is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            hit = memo[low] = self.names.match_lower(low)
        return hit

    def __call__(self, ctx: EvalContext) -> bool:
        single = self.single
        if single is not None:
            values = [v for k, v in ctx.items if k == single]
        else:
            values = [v for k, v in ctx.items if self.names_match(k)]
        if self.present is False:
            return not values
        if not values:
            return False
        q = self.require_all
        checks = self.checks
        if len(values) == 1 and len(checks) == 1:
            return checks[0](values[0], ctx, q)
        return _quantify(values, lambda v: all(chk(v, ctx, q) for chk in checks), q)
