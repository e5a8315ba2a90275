"""StateSealer: a sealed request_state opens only for the same call, once, before it expires."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from gateway.approvals.sealing import (
    KEY_FILE_NAME,
    Binding,
    StateBindingError,
    StateExpiredError,
    StateReplayedError,
    StateSealer,
    StateTamperedError,
    args_digest,
    is_gateway_state,
)
from gateway.approvals.store import ApprovalStore
from gateway.errors import ApprovalDeniedError, ConfigError

pytestmark = pytest.mark.anyio

BINDING = Binding(
    identity="alice",
    session_id="s1",
    upstream="fs",
    tool="write",
    args_digest=args_digest({"a": 1}),
    policy_version="v1",
)


async def _sealer(tmp_path: Path, ttl: float = 600.0) -> StateSealer:
    store = ApprovalStore.in_state_dir(tmp_path)
    await store.initialize()
    return await StateSealer.from_state_dir(tmp_path, store, ttl=ttl)


def test_args_digest_is_canonical() -> None:
    assert args_digest({"a": 1, "b": [1, 2]}) == args_digest({"b": [1, 2], "a": 1})
    assert args_digest({"a": 1}) != args_digest({"a": "1"})
    assert args_digest(None) == args_digest({})


async def test_round_trip_and_replay(tmp_path: Path) -> None:
    sealer = await _sealer(tmp_path)
    token = sealer.seal({"kind": "approval", "x": 1}, BINDING)
    assert is_gateway_state(token)
    assert "alice" not in base64.urlsafe_b64decode(token.split(".")[1] + "==").decode()  # binding is only a digest
    assert await sealer.unseal(token, BINDING) == {"kind": "approval", "x": 1}
    with pytest.raises(StateReplayedError):
        await sealer.unseal(token, BINDING)


async def test_peek_without_consuming(tmp_path: Path) -> None:
    sealer = await _sealer(tmp_path)
    token = sealer.seal({"k": 1}, BINDING)
    await sealer.unseal(token, BINDING, consume=False)
    assert await sealer.unseal(token, BINDING) == {"k": 1}


@pytest.mark.parametrize(
    "field",
    ["identity", "session_id", "upstream", "tool", "args_digest", "policy_version"],
)
async def test_wrong_binding(tmp_path: Path, field: str) -> None:
    sealer = await _sealer(tmp_path)
    token = sealer.seal({"k": 1}, BINDING)
    other = Binding(**{**{f: getattr(BINDING, f) for f in BINDING.__slots__}, field: "other"})
    with pytest.raises(StateBindingError) as info:
        await sealer.unseal(token, other)
    assert isinstance(info.value, ApprovalDeniedError)
    assert "different call" in info.value.public_message


async def test_tampered_payload_and_mac(tmp_path: Path) -> None:
    sealer = await _sealer(tmp_path)
    token = sealer.seal({"kind": "approval"}, BINDING)
    prefix, body, mac = token.split(".")
    envelope = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    envelope["d"]["kind"] = "resume"
    forged_body = base64.urlsafe_b64encode(json.dumps(envelope).encode()).rstrip(b"=").decode()
    for bad in (
        f"{prefix}.{forged_body}.{mac}",
        f"{prefix}.{body}.{mac[:-2]}AA",
        f"{prefix}.{body}",
        "mgw1.",
        "garbage",
        f"{prefix}.{body}.{mac}é",
    ):
        with pytest.raises(StateTamperedError):
            await sealer.unseal(bad, BINDING)


async def test_other_key_is_rejected(tmp_path: Path) -> None:
    sealer = await _sealer(tmp_path / "a")
    other = await _sealer(tmp_path / "b")
    with pytest.raises(StateTamperedError):
        await other.unseal(sealer.seal({"k": 1}, BINDING), BINDING)


async def test_expiry(tmp_path: Path) -> None:
    sealer = await _sealer(tmp_path, ttl=10)
    token = sealer.seal({"k": 1}, BINDING, now=1000.0)
    assert await sealer.unseal(token, BINDING, consume=False, now=1009.0) == {"k": 1}
    with pytest.raises(StateExpiredError):
        await sealer.unseal(token, BINDING, now=1011.0)


async def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = await _sealer(tmp_path)
    token = first.seal({"k": 1}, BINDING)
    key_path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert len(key_path.read_bytes()) == 32
    second = await _sealer(tmp_path)  # a restarted gateway accepts states it issued before
    assert await second.unseal(token, BINDING) == {"k": 1}


async def test_short_key_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_bytes(b"short")
    with pytest.raises(ConfigError, match="delete the file"):
        await _sealer(tmp_path)
