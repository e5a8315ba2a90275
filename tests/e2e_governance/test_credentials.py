"""Issue 4 acceptance: credentials from a real Secret Service reach upstreams (env, headers, hidden arguments),
never the client, the audit log, the gateway's log or telemetry; missing ones fail one upstream; rotation works.

One HTTP gateway per module (starting one costs seconds), a real gnome-keyring, a real OTLP receiver.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import MCPError

from tests.e2e_governance.helpers import Answers, cli, connect, creds_set, files_containing, text_of
from tests.support.gateway_proc import (
    PYTHON,
    GatewayProcess,
    fixture_upstream,
    free_port,
    read_record,
    running_gateway,
    wait_until,
    write_config,
)
from tests.support.otlp_receiver import OtlpReceiver

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ERAS = ["legacy", "2026-07-28"]
HEADER_SERVER = str(Path(__file__).with_name("header_server.py"))
GW_PRIVATE = "gw-private-" + secrets.token_hex(6)


@dataclass
class Rig:
    gateway: GatewayProcess
    config: Path
    record: Path
    header_record: Path
    otlp: OtlpReceiver
    env: dict[str, str]
    values: dict[str, str]  # credential name -> stored value

    @property
    def url(self) -> str:
        assert self.gateway.url is not None
        return self.gateway.url


def _environ(pid: int) -> dict[str, str]:
    """A process's real environment (we run as the same user): proof of what the upstream received."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode("utf-8", "replace").split("\0") if "=" in item)


@pytest.fixture(scope="module")
def header_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """The fixture over HTTP behind an X-Token check: (url, record of tokens seen, expected token)."""
    d = tmp_path_factory.mktemp("hdr")
    token = "h-" + secrets.token_hex(12)
    port = free_port()
    record = d / "headers.txt"
    log = (d / "stderr.log").open("wb")
    proc = subprocess.Popen(
        [PYTHON, HEADER_SERVER, str(port)],
        env={
            **os.environ,
            "EXPECT_TOKEN": token,
            "HEADER_RECORD": str(record),
            "EXPECT_TOKEN_FILE": str(record.with_name("accepted.txt")),
        },
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:

        def listening() -> bool:
            import socket

            assert proc.poll() is None, (d / "stderr.log").read_text()
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, 20, "the header-checking upstream to listen")
        yield f"http://127.0.0.1:{port}/mcp", record, token
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def rig(
    tmp_path_factory: pytest.TempPathFactory, secret_service: dict[str, str], header_upstream: tuple[str, Path, str]
) -> Iterator[Rig]:
    d = tmp_path_factory.mktemp("creds")
    record = d / "record.jsonl"
    url, header_record, h_token = header_upstream
    values = {
        "fx-token": "fx-" + secrets.token_hex(12),
        "k": "key-" + secrets.token_hex(12),
        "h-token": h_token,
    }
    with OtlpReceiver() as otlp:
        cfg = write_config(
            d / "upstreams.yaml",
            {
                "fx": fixture_upstream(
                    record=record,
                    env={"FIXTURE_RECORD": str(record), "API_TOKEN": {"secret": "fx-token"}},
                    hidden_arguments={"api_key": {"secret": "k"}},
                ),
                "hx": {"url": url, "headers": {"X-Token": {"secret": "h-token"}}},
                "plain": fixture_upstream(),
                "miss": fixture_upstream(env={"API_TOKEN": {"secret": "never-stored"}}),
            },
            {
                "credentials": {"poll_interval": 0.2},
                "telemetry": {"enabled": True, "endpoint": otlp.url, "batch_delay": 0.1, "metric_export_interval": 1},
            },
        )
        env = dict(secret_service) | {"GW_PRIVATE": GW_PRIVATE}
        for name, value in values.items():
            creds_set(cfg, name, value, env)
        with running_gateway(cfg, http=True, env=env) as gw:
            status = gw.wait_settled()
            states = {n: u["state"] for n, u in status["upstreams"].items()}
            assert states == {"fx": "ready", "hx": "ready", "plain": "ready", "miss": "failed"}, gw.tail()
            yield Rig(gw, cfg, record, header_record, otlp, env, values)


@pytest.fixture(params=ERAS)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_env_secret_injected_and_redacted(rig: Rig, mode: str) -> None:
    async with connect(rig.url, mode) as client:
        got = await client.call_tool("fx__env", {"name": "API_TOKEN"})
    assert text_of(got) == json.dumps("[secret:fx-token]")
    pid = rig.gateway.upstream_status("fx")["pid"]  # type: ignore[index]
    assert _environ(pid)["API_TOKEN"] == rig.values["fx-token"]


async def test_http_header_secret_reaches_upstream(rig: Rig, mode: str) -> None:
    async with connect(rig.url, mode, Answers()) as client:
        got = await client.call_tool("hx__echo", {"text": "through the header check"})
    assert text_of(got) == "through the header check"
    seen = set(rig.header_record.read_text().split())
    # Every request the gateway made carried the right token (the server refuses anything else with 401).
    assert seen == {rig.values["h-token"]}, seen


async def test_hidden_argument(rig: Rig, mode: str) -> None:
    async with connect(rig.url, mode) as client:
        listed = await client.list_tools(cache_mode="refresh")
        tools = {t.name: t for t in listed.tools}
        cursor = listed.next_cursor
        while cursor is not None:
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            tools |= {t.name: t for t in page.tools}
            cursor = page.next_cursor
        assert "api_key" not in json.dumps(tools["fx__whoami"].input_schema)
        got = await client.call_tool("fx__whoami", {"note": mode})
    assert text_of(got) == "api_key=[secret:k]"
    received = [e for e in read_record(rig.record) if e.get("tool") == "whoami" and e["arguments"].get("note") == mode]
    assert received and received[-1]["arguments"]["api_key"] == rig.values["k"], received


async def test_gateway_environment_not_inherited(rig: Rig, mode: str) -> None:
    async with connect(rig.url, mode) as client:
        for name in ("fx", "plain"):
            got = await client.call_tool(f"{name}__env", {"name": "GW_PRIVATE"})
            assert text_of(got) == "null", (name, text_of(got))
    for name in ("fx", "plain"):
        pid = rig.gateway.upstream_status(name)["pid"]  # type: ignore[index]
        assert "GW_PRIVATE" not in _environ(pid)
        assert "DBUS_SESSION_BUS_ADDRESS" not in _environ(pid)


async def test_echoed_secret_never_leaves_the_gateway(rig: Rig, mode: str) -> None:
    secret = rig.values["fx-token"]
    async with connect(rig.url, mode) as client:
        got = await client.call_tool("fx__reveal", {"name": "API_TOKEN"})
        assert text_of(got) == "the value is [secret:fx-token]"
        assert got.structured_content == {"value": "[secret:fx-token]"}
        # A model that pasted the secret into arguments: results and errors that echo it are scrubbed too.
        failed = await client.call_tool("fx__fail", {"text": f"bad token {secret}"})
        assert failed.is_error and text_of(failed) == "bad token [secret:fx-token]"
        with pytest.raises(MCPError) as err:
            await client.call_tool("fx__raise_error", {"text": f"rejected {secret}"})
        assert err.value.message == "rejected [secret:fx-token]"
        # A marker call last: once its result record is exported, everything before it was too.
        await client.call_tool("fx__echo", {"text": f"marker-{mode}"})
    wait_until(lambda: "stderr says [secret:fx-token]" in rig.gateway.stderr_text(), 10, "the upstream's stderr log")
    rig.otlp.wait_for(
        "logs", 1, lambda r: r["event_name"] == "mcp_gateway.tool_result" and f"marker-{mode}" in json.dumps(r)
    )
    audit = rig.gateway.state_dir / "audit"
    for value in rig.values.values():
        assert not files_containing(value, [audit, rig.gateway.stderr_path]), value
        assert value not in json.dumps(rig.otlp.logs + rig.otlp.spans + rig.otlp.metrics)


async def test_missing_credential_fails_only_its_upstream(rig: Rig, mode: str) -> None:
    miss = rig.gateway.upstream_status("miss")
    assert miss is not None and miss["state"] == "failed"
    assert "never-stored" in miss["error"] and "creds set" in miss["error"], miss
    listed = cli("upstreams", "list", "--json", "--config", str(rig.config), env=rig.env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["upstreams"]
    row = next(r for r in rows if r["name"] == "miss")
    assert "never-stored" in json.dumps(row) and "creds set" in json.dumps(row), row
    async with connect(rig.url, mode) as client:
        names = [t.name for t in (await client.list_tools(cache_mode="refresh")).tools]
        assert not any(n.startswith("miss__") for n in names)
        ok = await client.call_tool("plain__echo", {"text": "still fine"})
        assert text_of(ok) == "still fine"


async def test_rotation_restarts_stdio_upstream(rig: Rig) -> None:
    """Last in the module: it changes fx-token for the running gateway."""
    before = rig.gateway.upstream_status("fx")["pid"]  # type: ignore[index]
    new = "fx-rotated-" + secrets.token_hex(12)
    creds_set(rig.config, "fx-token", new, rig.env)
    rig.values["fx-token-old"] = rig.values["fx-token"]
    rig.values["fx-token"] = new

    def restarted() -> int | None:
        up = rig.gateway.upstream_status("fx")
        return up["pid"] if up and up["state"] == "ready" and up["pid"] not in (None, before) else None

    after = wait_until(restarted, 20, "the fx upstream to restart with the rotated credential")
    assert _environ(after)["API_TOKEN"] == new
    async with connect(rig.url, "2026-07-28") as client:
        got = await client.call_tool("fx__env", {"name": "API_TOKEN"})
        assert text_of(got) == json.dumps("[secret:fx-token]")
        leaked = await client.call_tool("fx__reveal", {"name": "API_TOKEN"})
        assert new not in json.dumps(leaked.model_dump(mode="json"))
    assert types is not None


async def test_rotation_reaches_http_headers_without_restart(rig: Rig) -> None:
    """Last in the module: `creds set` on a header credential; the next requests carry the new value."""
    new = "h-rotated-" + secrets.token_hex(12)
    rig.header_record.with_name("accepted.txt").write_text(new + "\n", encoding="utf-8")
    creds_set(rig.config, "h-token", new, rig.env)
    rig.values["h-token-old"] = rig.values["h-token"]
    rig.values["h-token"] = new

    async def rotated() -> bool | None:
        async with connect(rig.url, "2026-07-28", Answers()) as client:
            got = await client.call_tool("hx__echo", {"text": "after rotation"})
        seen = rig.header_record.read_text().split()
        return True if text_of(got) == "after rotation" and seen and seen[-1] == new else None

    with anyio.fail_after(20):
        while not await rotated():  # noqa: ASYNC110 - each try is a real round trip, polled with a deadline
            await anyio.sleep(0.2)
    assert rig.gateway.upstream_status("hx")["state"] == "ready"  # type: ignore[index]
