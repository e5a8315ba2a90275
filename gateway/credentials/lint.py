"""Reject literal secrets in ``upstreams.yaml`` where a ``{secret: NAME}`` reference belongs.

Two signals: the key's name says "secret" (``*_TOKEN``, ``*PASSWORD``, ``Authorization``...) and the value is
not obviously harmless, or the value has the shape of a known token (``ghp_...``, ``AKIA...``, a JWT, a private
key, a URL with a password) or is a long high-entropy string. Messages never repeat the value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gateway.config.models import StdioUpstream, UpstreamsFile
from gateway.config.secrets import SecretOrLiteral, SecretRef
from gateway.credentials.backend import set_command
from gateway.errors import ConfigError

__all__ = ["ConfigIssue", "check_literal_secrets", "find_literal_secrets", "looks_like_secret"]

_SECRET_KEY = re.compile(
    r"(?i)(token|secret|passw(or)?d|passphrase|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key"
    r"|credentials?|client[_-]?secret|session[_-]?key|signing[_-]?key|cookie)$"
)
_SECRET_HEADER = re.compile(r"(?i)^(authorization|proxy-authorization|x-api-key|api-key|x-auth-token|cookie|x-token)$")
_KNOWN_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(rx))
    for label, rx in (
        ("GitHub token", r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
        ("API key (sk-...)", r"\bsk-[A-Za-z0-9_-]{20,}"),
        ("Stripe key", r"\b[rs]k_(live|test)_[A-Za-z0-9]{16,}"),
        ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("AWS access key id", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
        ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
        ("npm token", r"\bnpm_[A-Za-z0-9]{36}"),
        ("PyPI token", r"\bpypi-[A-Za-z0-9_-]{50,}"),
        ("JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        ("private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        ("URL with a password", r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
        ("bearer/basic credential", r"(?i)^(bearer|basic|token)\s+\S{8,}"),
    )
)
_BENIGN = re.compile(
    r"(?i)^(|true|false|yes|no|on|off|none|null|[-+]?\d+(\.\d+)?|\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*"
    r"|<[^>]*>|changeme|xxx+|\*+)$"
)
_PATHLIKE = re.compile(r"^(~|\.{1,2})?/|^[A-Za-z]:[\\/]")
_URL_NO_CREDS = re.compile(r"^[a-z][a-z0-9+.-]*://[^@\s]*$", re.IGNORECASE)
_TOKENISH = re.compile(r"^[A-Za-z0-9+/=_.~-]+$")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One literal secret found in the config. ``message`` says what to run and what to write instead."""

    upstream: str
    section: str  # "env", "headers" or "hidden_arguments"
    key: str
    reason: str
    suggested_name: str
    template: str | None = None

    @property
    def location(self) -> str:
        return f"upstream '{self.upstream}', field '{self.section}.{self.key}'"

    @property
    def replacement(self) -> str:
        if self.template:
            return f'{{secret: {self.suggested_name}, template: "{self.template}"}}'
        return f"{{secret: {self.suggested_name}}}"

    @property
    def message(self) -> str:
        return (
            f"{self.location}: looks like a literal secret ({self.reason}). Store it in the keyring with "
            f"`{set_command(self.suggested_name)}` and write `{self.key}: {self.replacement}` instead"
        )


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _high_entropy(value: str) -> bool:
    if len(value) < 24 or not _TOKENISH.fullmatch(value):
        return False
    classes = sum(bool(re.search(rx, value)) for rx in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes == 3 and _entropy(value) >= 4.0


def looks_like_secret(key: str, value: str, *, header: bool = False) -> str | None:
    """Why ``value`` under ``key`` looks like a secret, or None when it looks harmless."""
    stripped = value.strip()
    for label, rx in _KNOWN_SHAPES:
        if rx.search(stripped):
            return label
    if _BENIGN.fullmatch(stripped) or _PATHLIKE.match(stripped) or _URL_NO_CREDS.fullmatch(stripped):
        return None
    named = bool(_SECRET_KEY.search(key)) or (header and bool(_SECRET_HEADER.match(key)))
    if named and len(stripped) >= 6:
        return f"the name '{key}' suggests a secret"
    if _high_entropy(stripped):
        return "a long random-looking string"
    return None


def _suggest_name(upstream: str, key: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-") or "secret"
    if slug in ("authorization", "proxy-authorization"):
        slug = "token"
    name = slug if slug.startswith(upstream) else f"{upstream}-{slug}"
    return name[:128]


def _template_for(value: str) -> str | None:
    m = re.match(r"(?i)^(bearer|basic|token)\s+", value.strip())
    return f"{m.group(1)} {{secret}}" if m else None


def _scan(upstream: str, section: str, values: dict[str, SecretOrLiteral], header: bool) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for key, value in values.items():
        if isinstance(value, SecretRef):
            continue
        reason = looks_like_secret(key, value, header=header)
        if reason:
            template = _template_for(value) if header else None
            issues.append(ConfigIssue(upstream, section, key, reason, _suggest_name(upstream, key), template))
    return issues


def find_literal_secrets(file: UpstreamsFile) -> list[ConfigIssue]:
    """Every literal value in env / headers / hidden_arguments that looks like a secret."""
    issues: list[ConfigIssue] = []
    for name, up in file.upstreams.items():
        if isinstance(up, StdioUpstream):
            issues += _scan(name, "env", up.env, header=False)
        else:
            issues += _scan(name, "headers", up.headers, header=True)
        issues += _scan(name, "hidden_arguments", up.hidden_arguments, header=False)
    return issues


def check_literal_secrets(file: UpstreamsFile, *, path: Path | None = None) -> None:
    """Raise one ConfigError listing every literal secret (call it after loading ``upstreams.yaml``)."""
    issues = find_literal_secrets(file)
    if issues:
        body = "\n  ".join(issue.message for issue in issues)
        raise ConfigError(f"literal secrets in the configuration:\n  {body}", path=str(path) if path else None)
