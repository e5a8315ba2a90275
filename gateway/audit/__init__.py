"""The audit trail: a tamper-evident, hash-chained JSON Lines log written before calls are forwarded.

Writing: ``AuditLog`` (an ``EventSink``), ``AuditSettings``, the event names in ``gateway.audit.events``,
and ``apply_privacy`` / ``preview`` for arguments and results. Reading: ``query``, ``build_timeline``,
``verify``, ``export_jsonl`` / ``export_csv``. The record format is described in ``gateway.audit.chain``.
"""

from __future__ import annotations

from gateway.audit.privacy import apply_privacy, jsonable, preview
from gateway.audit.query import RecordFilter, query
from gateway.audit.settings import AuditSettings, PrivacyLevel, RotationSettings, load_audit_settings
from gateway.audit.verify import Problem, VerifyReport, verify
from gateway.audit.writer import AuditLog

__all__ = [
    "AuditLog",
    "AuditSettings",
    "PrivacyLevel",
    "Problem",
    "RecordFilter",
    "RotationSettings",
    "VerifyReport",
    "apply_privacy",
    "jsonable",
    "load_audit_settings",
    "preview",
    "query",
    "verify",
]
