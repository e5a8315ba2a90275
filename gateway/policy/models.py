"""Pydantic models for ``policies/*.yaml``. Unknown keys are rejected everywhere.

A file holds ``rules:`` and optional settings beside it::

    default_decision: prompt          # when no rule matches and the tool has no hints
    approval_modes:
      - {upstream: "ci-*", mode: never}
      - {upstream: github, tool: "get_*", mode: approve}
    rules:
      - id: no-git-writes
        match:
          tool: ["write_*", "edit_*"]
          arguments:
            "*path*|*file*": {path_under: ["*/.git"]}
        decision: deny
        justification: Writing into .git can rewrite history or plant hooks.
        examples:
          match: [{tool: write_file, arguments: {path: .git/hooks/pre-commit}}]
          not_match: [{tool: write_file, arguments: {path: src/main.py}}]
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.policy.urls import HostMatcher

__all__ = [
    "ApprovalMode",
    "ApprovalModeEntry",
    "ArgumentCondition",
    "DecisionValue",
    "ExampleCall",
    "Examples",
    "MatchSpec",
    "PolicyFile",
    "RuleSpec",
    "equals_value",
]

DecisionValue = Literal["allow", "prompt", "deny"]
ApprovalMode = Literal["auto", "prompt", "never", "approve"]
HintName = Literal["readOnlyHint", "destructiveHint", "openWorldHint", "idempotentHint"]
RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

Globs = str | list[str]
CommandToken = str | list[str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArgumentCondition(_Model):
    """Conditions on one argument (or every argument whose name matches the key's glob). All given must hold."""

    equals: Any = None
    one_of: list[Any] | None = None
    glob: Globs | None = None
    regex: str | None = Field(default=None, description="Python regex, searched anywhere (anchor with ^...$).")
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    path_under: list[str] | None = None
    path_not_under: list[str] | None = None
    url_host: list[str] | None = None
    url_host_not: list[str] | None = None
    command_prefix: list[list[CommandToken]] | None = None
    require: Literal["any", "all"] | None = Field(
        default=None,
        description="When several values are examined (glob key, list value, compound command): must any or all "
        "satisfy the condition? Default: 'all' for allow rules, 'any' for prompt/deny rules (the safe reading).",
    )
    present: bool | None = Field(default=None, description="true: the argument must be given; false: must be absent.")

    @field_validator("regex")
    @classmethod
    def _check_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return value

    @field_validator("url_host", "url_host_not")
    @classmethod
    def _check_hosts(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            HostMatcher.compile(value)
        return value

    @field_validator("command_prefix")
    @classmethod
    def _check_prefixes(cls, value: list[list[CommandToken]] | None) -> list[list[CommandToken]] | None:
        for prefix in value or []:
            if not prefix:
                raise ValueError("a command prefix needs at least one word, e.g. ['git', 'push', '--force']")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ArgumentCondition:
        if not (self.model_fields_set - {"require"}):
            raise ValueError("give at least one condition (equals, one_of, glob, regex, path_under, ...)")
        return self


class MatchSpec(_Model):
    """What a rule applies to. Omitted keys match everything; all given keys must hold."""

    upstream: Globs = "*"
    tool: Globs = "*"
    annotations: dict[HintName, bool] = Field(default_factory=dict)
    identity: Globs | None = None
    group: Globs | None = None
    arguments: dict[str, ArgumentCondition] = Field(
        default_factory=dict,
        description="Keyed by argument name; a key may be a glob and may list alternatives with '|' "
        "('*path*|*file*|target'); names compare case-insensitively.",
    )
    no_other_arguments: bool = Field(default=False, description="Only the arguments named above may be present.")


class ExampleCall(_Model):
    """A call used as an inline example. ``upstream``/``tool`` default to the rule's first pattern."""

    upstream: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    annotations: dict[HintName, bool] | None = None
    identity: str = "example-user"
    groups: list[str] = Field(default_factory=list)
    cwd: str = "/workspace"


class Examples(_Model):
    match: list[ExampleCall] = Field(default_factory=list)
    not_match: list[ExampleCall] = Field(default_factory=list)


class RuleSpec(_Model):
    id: Annotated[str, Field(pattern=RULE_ID_PATTERN)]
    match: MatchSpec = Field(default_factory=MatchSpec)
    decision: DecisionValue
    justification: Annotated[str, Field(min_length=1)]
    examples: Examples | None = None


class ApprovalModeEntry(_Model):
    """An approval mode for the upstreams (and optionally tools) matching the globs."""

    upstream: str = "*"
    tool: str | None = None
    mode: ApprovalMode


class PolicyFile(_Model):
    """One ``policies/*.yaml`` file."""

    default_decision: DecisionValue | None = None
    approval_modes: list[ApprovalModeEntry] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)


def equals_value(cond: ArgumentCondition) -> tuple[bool, Any]:
    """(given, value) of a condition's ``equals``: ``equals: null`` is a real condition."""
    return ("equals" in cond.model_fields_set), cond.equals
