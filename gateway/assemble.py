"""Build a ready-to-run ``Gateway`` from configuration: policy, approvals, credentials, audit, telemetry.

Everything that can be wrong with the configuration is found here, before any client is served: an invalid
policy, a literal secret where a reference belongs, a bad audit or telemetry section (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import structlog

from gateway._files import watch_files
from gateway.admin.load import load_layered
from gateway.admin.policies import load_policy_set
from gateway.approvals.approver import Approver
from gateway.approvals.settings import load_approval_settings
from gateway.audit.settings import load_audit_settings
from gateway.audit.writer import AuditLog
from gateway.config.loader import LoadedConfig
from gateway.config.models import all_secret_refs
from gateway.config.secrets import SecretOrLiteral
from gateway.credentials.lint import check_literal_secrets
from gateway.credentials.redact import Redactor
from gateway.credentials.resolve import resolve_values
from gateway.credentials.store import CredentialStore
from gateway.errors import AuditError, ConfigError
from gateway.intercept.authorize import Authorize, PolicyHolder
from gateway.intercept.call import ToolCall
from gateway.intercept.chain import Step
from gateway.intercept.credentials import InjectCredentials
from gateway.intercept.observe import Observe
from gateway.policy.amend import append_always_rule_async
from gateway.policy.engine import Decision, PolicySet
from gateway.policy.loader import load_policies
from gateway.runtime import Gateway
from gateway.telemetry import TeeEventSink, Telemetry, TelemetrySettings
from gateway.upstreams.secrets import SecretResolver

__all__ = ["KeyringResolver", "assemble", "resolver_for"]

log = structlog.get_logger("gateway.assemble")

ALWAYS_FILE = "always-allow.yaml"
POLICY_POLL_SECONDS = 1.0


class KeyringResolver:
    """Resolves ``{secret: NAME}`` references from the keyring and registers every value for redaction."""

    def __init__(self, store: CredentialStore, redactor: Redactor) -> None:
        self.store = store
        self.redactor = redactor

    async def resolve(self, values: Mapping[str, SecretOrLiteral]) -> tuple[dict[str, str], dict[str, str]]:
        resolved, used = await resolve_values(values, self.store)
        if used:
            self.redactor.update(used)
        return resolved, used


async def resolver_for(config: LoadedConfig, redactor: Redactor | None = None) -> SecretResolver:
    return KeyringResolver(CredentialStore.from_config(config), redactor or Redactor())


async def assemble(
    config: LoadedConfig,
    *,
    policies_dir: Path | None = None,
    audit_dir: Path | None = None,
    reload_poll: float | None = 1.0,
) -> Gateway:
    path = str(config.path)
    check_literal_secrets(config.file, path=config.path)
    audit_settings = load_audit_settings(config.settings.audit, path=path)
    approval_settings = load_approval_settings(config.settings.approvals, path=path)
    telemetry_settings = TelemetrySettings.from_config(config.settings.telemetry, path=path)

    redactor = Redactor()
    store = CredentialStore.from_config(config)
    resolver = KeyringResolver(store, redactor)

    always_path = config.state_dir / ALWAYS_FILE
    policy_source = _PolicySource(config.path, policies_dir, always_path)
    holder = PolicyHolder(*(await policy_source.load()))

    headers: dict[str, str] = {}
    if telemetry_settings.enabled and telemetry_settings.headers:
        headers, _used = await resolver.resolve(telemetry_settings.headers)
    telemetry = Telemetry.create(telemetry_settings, headers, redact=lambda event, fields: redactor.redact_obj(fields))

    audit = AuditLog(audit_dir or config.audit_dir, audit_settings, redact=redactor.redact_obj)
    try:
        await audit.open()
    except AuditError as exc:
        # Fail closed per call, not for the whole gateway: every call's decision record retries and is refused.
        log.error("audit log unavailable; tool calls are refused until it can be written", error=exc.detail)
    approver = await Approver.open(config.state_dir, approval_settings)

    async def always_rule(call: ToolCall, decision: Decision) -> str:
        rule_id = await append_always_rule_async(
            always_path,
            call.upstream,
            call.tool,
            dict(call.arguments),
            identity=call.identity.name,
            justification=f"always allowed by {call.identity.name}",
        )
        holder.current, holder.always = await policy_source.load()
        return rule_id

    gateway: Gateway

    def spec_of(name: str) -> Any:
        return gateway.pool.config.file.upstreams.get(name)

    refs_cache: dict[int, dict[str, list[str]]] = {}

    def used_by(name: str) -> list[str]:
        file = gateway.pool.config.file
        refs = refs_cache.get(id(file))
        if refs is None:
            refs_cache.clear()
            refs = {up: sorted({r.secret for r in rs}) for up, rs in all_secret_refs(file).items()}
            refs_cache[id(file)] = refs
        return refs.get(name, [])

    steps: list[Step] = [
        Observe(audit_settings, telemetry),
        Authorize(holder, approver, always_rule=always_rule, telemetry=telemetry),
        InjectCredentials(store, redactor, spec_of, used_by),
    ]

    def visible(session: Any, route: Any) -> bool:
        if not gateway.pool.config.settings.hide_denied_tools:
            return True
        return not holder.current.hidden(
            route.upstream,
            route.name,
            route.tool.annotations,
            session.identity.name,
            session.identity.groups,
        )

    gateway = Gateway(
        config,
        steps=steps,
        # Telemetry off (the default) is never switched on while running: it then observes nothing.
        events=TeeEventSink(audit, telemetry) if telemetry.enabled else audit,  # no fan-out to nobody per record
        resolver=resolver,
        visible=visible,
        reload_poll=reload_poll,
        loader=lambda: _reload(config.path, policies_dir),
    )
    gateway.redactor = redactor
    gateway.telemetry = telemetry
    gateway.background.append(lambda: _watch_credentials(gateway, store, redactor))
    gateway.background.append(audit.run_flusher)
    if reload_poll:
        gateway.background.append(lambda: _watch_policies(gateway, holder, policy_source, reload_poll))
    gateway.closers.extend([audit.aclose, telemetry.aclose])
    return gateway


def _reload(config_path: Path, policies_dir: Path | None) -> LoadedConfig:
    """What hot reload loads: the effective config, held to the same checks as at startup."""
    loaded, _eff = load_layered(config_path, policies_dir=policies_dir)
    check_literal_secrets(loaded.file, path=loaded.path)
    return loaded


class _PolicySource:
    """Where policies come from: every layer's policies/, the requirements, and the user's "always" answers."""

    def __init__(self, config_path: Path, override: Path | None, always_path: Path) -> None:
        self.config_path = config_path
        self.override = override
        self.always_path = always_path
        self.files: list[Path] = []

    async def load(self) -> tuple[PolicySet, PolicySet | None]:
        def load() -> tuple[PolicySet, PolicySet | None]:
            loaded, eff = load_layered(self.config_path, policies_dir=self.override)
            main, notices = load_policy_set(eff)
            for notice in notices:
                log.warning("policy adjusted by requirements", notice=notice)
            always = load_policies(None, [self.always_path]) if self.always_path.exists() else None
            self.files = [*eff.policy_dirs, *loaded.sources, self.always_path]
            return main, always

        return await anyio.to_thread.run_sync(load)


async def _watch_policies(gateway: Gateway, holder: PolicyHolder, source: _PolicySource, poll: float) -> None:
    async for _ in watch_files(lambda: source.files, poll):
        try:
            holder.current, holder.always = await source.load()
        except ConfigError as exc:
            log.error("policy reload rejected; keeping the running policies", error=str(exc))
            await gateway.emit("config_reloaded", {"ok": False, "what": "policies", "error": str(exc)})
            continue
        log.info("policies reloaded", version=holder.current.policy_version)
        await gateway.emit("config_reloaded", {"ok": True, "what": "policies"})
        await gateway.refresh_tool_visibility()


async def _watch_credentials(gateway: Gateway, store: CredentialStore, redactor: Redactor) -> None:
    """Rotation: a credential changed by ``creds set`` restarts the stdio upstreams using it; HTTP re-reads it."""
    async for names in store.watch():
        refs = all_secret_refs(gateway.pool.config.file)
        for upstream, upstream_refs in refs.items():
            if not {r.secret for r in upstream_refs} & set(names):
                continue
            conn = gateway.pool.connections.get(upstream)
            if conn is None:
                continue
            log.info("credential rotated; refreshing upstream", upstream=upstream, credentials=sorted(names))
            if conn.transport == "stdio":
                conn.request_restart()
            else:
                await conn.refresh_headers()
