"""Credentials: secrets from the OS keyring, injected only where configured, redacted everywhere else."""

from __future__ import annotations

from gateway.credentials.backend import CredentialUnavailableError, set_command
from gateway.credentials.lint import ConfigIssue, check_literal_secrets, find_literal_secrets
from gateway.credentials.redact import Redactor, structlog_processor
from gateway.credentials.resolve import (
    build_child_env,
    inject_hidden_arguments,
    resolve_values,
    strip_hidden_arguments,
)
from gateway.credentials.settings import SERVICE_NAME, CredentialSettings, load_credential_settings
from gateway.credentials.store import CredentialStore

__all__ = [
    "SERVICE_NAME",
    "ConfigIssue",
    "CredentialSettings",
    "CredentialStore",
    "CredentialUnavailableError",
    "Redactor",
    "build_child_env",
    "check_literal_secrets",
    "find_literal_secrets",
    "inject_hidden_arguments",
    "load_credential_settings",
    "resolve_values",
    "set_command",
    "strip_hidden_arguments",
    "structlog_processor",
]
