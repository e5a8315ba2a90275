from __future__ import annotations

import importlib
import os
import stat
import threading
import uuid
from pathlib import Path
from typing import Any

import anyio
import keyring
import pytest
from keyring.backends import fail

from gateway.credentials import CredentialSettings, CredentialStore, CredentialUnavailableError
from gateway.credentials.settings import INDEX_USERNAME, SERVICE_NAME
from gateway.errors import CredentialError
from tests.credentials.memory import LockedKeyring, MemoryKeyring

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.keyring
async def test_roundtrip_against_real_secret_service(secret_service: dict[str, str]) -> None:
    store = CredentialStore()
    name = unique("gh-token")
    assert "SecretService" in await store.backend_description()
    assert await store.set(name, "ghp_first-value") is False
    assert await store.get(name) == "ghp_first-value"
    assert keyring.get_password(SERVICE_NAME, name) == "ghp_first-value"
    assert name in await store.names()
    assert await store.set(name, "ghp_second-value") is True
    assert await store.get(name) == "ghp_second-value"
    assert await store.delete(name) is True
    assert name not in await store.names()
    assert await store.delete(name) is False
    with pytest.raises(CredentialUnavailableError) as info:
        await store.get(name)
    assert info.value.credential == name
    assert f"mcp-gateway creds set {name}" in info.value.public_message
    assert "SecretService" in (info.value.detail or "")


@pytest.mark.keyring
async def test_index_entry_is_not_a_credential_name(secret_service: dict[str, str]) -> None:
    store = CredentialStore()
    await store.set(unique("db"), "value-1234")
    assert INDEX_USERNAME not in await store.names()
    with pytest.raises(ValueError, match="invalid credential name"):
        await store.set(INDEX_USERNAME, "x1234")
    with pytest.raises(ValueError, match="empty"):
        await store.set("fine-name", "")


async def test_cache_respects_ttl_and_invalidate() -> None:
    backend, clock = MemoryKeyring(), Clock()
    backend.set_password(SERVICE_NAME, "tok", "v1-secret")
    store = CredentialStore(CredentialSettings(cache_ttl=60), backend=backend, clock=clock)
    assert await store.get("tok") == "v1-secret"
    backend.set_password(SERVICE_NAME, "tok", "v2-secret")  # changed behind the store's back
    reads = backend.reads
    assert await store.get("tok") == "v1-secret"
    assert backend.reads == reads, "a cached value must not hit the keyring"
    clock.now += 61
    assert await store.get("tok") == "v2-secret"
    backend.set_password(SERVICE_NAME, "tok", "v3-secret")
    store.invalidate("tok")
    assert await store.get("tok") == "v3-secret"


async def test_ttl_zero_disables_the_cache() -> None:
    backend = MemoryKeyring()
    backend.set_password(SERVICE_NAME, "tok", "v1-secret")
    store = CredentialStore(CredentialSettings(cache_ttl=0), backend=backend)
    await store.get("tok")
    await store.get("tok")
    assert backend.reads == 2


async def test_missing_entry_names_credential_and_fix() -> None:
    store = CredentialStore(backend=MemoryKeyring())
    with pytest.raises(CredentialError) as info:
        await store.get("stripe-key")
    assert (
        info.value.public_message
        == "Credential 'stripe-key' is not set. Store it with: mcp-gateway creds set stripe-key"
    )
    assert "MemoryKeyring" in (info.value.detail or "")


@pytest.mark.usefixtures("restore_keyring")
async def test_fail_backend_is_refused_with_backend_named() -> None:
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    store = CredentialStore()
    with pytest.raises(CredentialError) as info:
        await store.get("github-token")
    msg = info.value.public_message
    assert "keyring.backends.fail.Keyring" in msg
    assert "mcp-gateway creds set github-token" in msg
    with pytest.raises(CredentialError):
        await store.set("github-token", "value-1234")


@pytest.mark.usefixtures("restore_keyring")
async def test_plaintext_backend_is_not_a_silent_fallback(tmp_path: Path) -> None:
    plain: Any = importlib.import_module("keyrings.alt.file").PlaintextKeyring()
    plain.file_path = str(tmp_path / "plain.cfg")
    keyring.set_keyring(plain)
    store = CredentialStore()  # backend: auto
    with pytest.raises(CredentialError, match="no secure OS keyring"):
        await store.set("github-token", "value-1234")
    assert not (tmp_path / "plain.cfg").exists()


async def test_locked_keyring_gives_clear_error_without_library_text() -> None:
    store = CredentialStore(backend=LockedKeyring())
    with pytest.raises(CredentialError) as info:
        await store.get("db-password")
    assert "is locked" in info.value.public_message
    assert "mcp-gateway creds set db-password" in info.value.public_message
    assert "internal-detail-xyz" not in info.value.public_message
    assert "internal-detail-xyz" in (info.value.detail or "")


async def test_explicit_file_backend(tmp_path: Path) -> None:
    settings = CredentialSettings(backend="file", file_path="creds/store.cfg")
    store = CredentialStore(settings, state_dir=tmp_path / "state", base_dir=tmp_path)
    await store.set("api-key", "file-secret-value")
    assert await store.get("api-key") == "file-secret-value"
    assert await store.names() == ["api-key"]
    path = tmp_path / "creds" / "store.cfg"
    assert path.exists()
    assert "file-secret-value" not in path.read_text()  # base64, as documented (not encrypted)
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0 or os.name == "nt"


async def test_subscribe_announces_local_changes() -> None:
    store = CredentialStore(backend=MemoryKeyring())
    received = store.subscribe()
    await store.set("a-token", "value-aaaa")
    await store.delete("a-token")
    with anyio.fail_after(2):
        assert await received.receive() == "a-token"
        assert await received.receive() == "a-token"
    received.close()
    await store.set("b-token", "value-bbbb")  # a closed subscriber is dropped, not an error


async def test_rotation_by_another_process_is_detected(tmp_path: Path) -> None:
    backend = MemoryKeyring()  # shared: the "keyring" both processes see
    gateway = CredentialStore(backend=backend, state_dir=tmp_path)
    cli = CredentialStore(backend=backend, state_dir=tmp_path)
    await cli.set("gh", "old-value-1")
    assert await gateway.poll_changes() == set()  # first poll records the baseline
    assert await gateway.get("gh") == "old-value-1"
    events = gateway.subscribe()
    await cli.set("gh", "new-value-2")
    assert await gateway.get("gh") == "old-value-1"  # still cached
    assert await gateway.poll_changes() == {"gh"}
    assert await gateway.get("gh") == "new-value-2"
    assert events.receive_nowait() == "gh"
    assert await gateway.poll_changes() == set()
    # The gateway's own changes are announced directly, not reported again from the file.
    await gateway.set("db", "value-3333")
    assert events.receive_nowait() == "db"
    assert await gateway.poll_changes() == set()


async def test_watch_yields_external_changes(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    gateway = CredentialStore(backend=backend, state_dir=tmp_path)
    cli = CredentialStore(backend=backend, state_dir=tmp_path)
    watcher = gateway.watch(interval=0.01)
    with anyio.fail_after(5):
        first = anyio.Event()

        async def rotate() -> None:
            await first.wait()
            await cli.set("svc-token", "rotated-value")

        async with anyio.create_task_group() as tg:
            tg.start_soon(rotate)
            # The baseline poll happens on the first iteration; let the rotation run only after it.
            await gateway.poll_changes()
            first.set()
            assert await watcher.__anext__() == {"svc-token"}
    await watcher.aclose()


async def test_settings_reject_unknown_keys() -> None:
    from gateway.config.models import UpstreamsFile
    from gateway.credentials import load_credential_settings
    from gateway.errors import ConfigError

    file = UpstreamsFile.model_validate({"gateway": {"credentials": {"backend": "auto", "ttl": 5}}})
    with pytest.raises(ConfigError, match=r"gateway\.credentials\.ttl: unknown key"):
        load_credential_settings(file)
    ok = UpstreamsFile.model_validate({"gateway": {"credentials": {"cache_ttl": 5, "backend": "file"}}})
    assert load_credential_settings(ok).cache_ttl == 5


def test_keyring_backend_lookup_is_serialised(monkeypatch: pytest.MonkeyPatch) -> None:
    """keyring loads its backends on first use without a lock, and a second thread listing them meanwhile fails
    ("Set changed size during iteration"): upstreams resolving credentials at once must not enter it together."""
    inside: list[str] = []
    overlapped: list[list[str]] = []
    first_in, second_in = threading.Event(), threading.Event()
    backend = MemoryKeyring()

    def get_keyring() -> Any:
        name = threading.current_thread().name
        inside.append(name)
        if len(inside) > 1:
            overlapped.append(list(inside))
            second_in.set()
        elif name == "first":
            first_in.set()
            second_in.wait(timeout=0.5)  # with the lock held, the second thread cannot get here meanwhile
        inside.remove(name)
        return backend

    monkeypatch.setattr(keyring, "get_keyring", get_keyring)
    store = CredentialStore()
    got: list[Any] = []
    first = threading.Thread(target=lambda: got.append(store._backend()), name="first")
    second = threading.Thread(target=lambda: got.append(store._backend()), name="second")
    first.start()
    assert first_in.wait(timeout=10)  # the second thread starts only once the first is inside keyring
    second.start()
    first.join(timeout=10)
    second.join(timeout=10)
    assert overlapped == []
    assert got == [backend, backend]
