"""Issue 2 acceptance: the gateway's core features, end to end, over stdio and Streamable HTTP, in both eras.

Upstreams: the fixture server (stdio), mcp-server-time (stdio), server-everything over stdio and over HTTP.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import checks
from tests.e2e.clients import ERAS, Recorder, connect, stdio_params, wait_for_tools
from tests.support.gateway_proc import (
    GatewayProcess,
    fixture_upstream,
    free_port,
    running_gateway,
    time_upstream,
    wait_until,
    write_config,
)
from tests.support.npm import everything_http_command, everything_stdio

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@dataclass
class Core:
    gateway: GatewayProcess
    record: Path


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def everything_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """server-everything serving Streamable HTTP on a free port."""
    port = free_port()
    log = (tmp_path_factory.mktemp("everything") / "stderr.log").open("wb")
    proc = subprocess.Popen(
        everything_http_command(),
        env={**os.environ, "PORT": str(port)},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        wait_until(lambda: proc.poll() is None and _port_open(port), 30, "server-everything to listen")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory, everything_url: str) -> Iterator[Core]:
    """One HTTP gateway shared by the module's HTTP tests (starting one costs seconds)."""
    d = tmp_path_factory.mktemp("core")
    record = d / "record.jsonl"
    cfg = write_config(
        d / "upstreams.yaml",
        {
            "fx": fixture_upstream(record=record),
            "time": time_upstream(),
            "ev": everything_stdio(),
            "evh": {"url": everything_url},
        },
    )
    with running_gateway(cfg, http=True) as gw:
        status = gw.wait_settled()
        assert {n: u["state"] for n, u in status["upstreams"].items()} == dict.fromkeys(
            ("fx", "time", "ev", "evh"), "ready"
        ), gw.tail()
        yield Core(gw, record)


@pytest.fixture(params=ERAS)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _url(core: Core) -> str:
    assert core.gateway.url is not None
    return core.gateway.url


async def test_http_tools(core: Core, mode: str) -> None:
    async with connect(_url(core), mode) as client:
        await checks.check_tools(client)
        await checks.check_time(client)


async def test_http_resources_prompts_completion(core: Core, mode: str) -> None:
    async with connect(_url(core), mode) as client:
        await checks.check_resources(client)
        await checks.check_prompts_and_completion(client)


async def test_http_progress(core: Core, mode: str) -> None:
    async with connect(_url(core), mode) as client:
        await checks.check_progress(client)


async def test_http_cancel(core: Core, mode: str) -> None:
    async with connect(_url(core), mode) as client:
        await checks.check_cancel(client, core.record)


async def test_http_elicitation_and_sampling(core: Core, mode: str) -> None:
    rec = Recorder(answer=f"answer-{mode}")
    async with connect(_url(core), mode, rec) as client:
        await checks.check_elicit_and_sample(client, rec)


async def test_http_list_changed(core: Core, mode: str) -> None:
    rec = Recorder()
    async with connect(_url(core), mode, rec) as client:
        await checks.check_list_changed(client, mode, rec)


@pytest.mark.parametrize("prefix", ["ev", "evh"])
async def test_http_server_everything(core: Core, mode: str, prefix: str) -> None:
    async with connect(_url(core), mode) as client:
        await checks.check_everything(client, prefix)


async def test_stdio_core(tmp_path: Path, mode: str) -> None:
    """Everything above, over stdio (one gateway process per connection, as IDEs run it)."""
    record = tmp_path / "record.jsonl"
    cfg = write_config(
        tmp_path / "upstreams.yaml",
        {"fx": fixture_upstream(record=record), "time": time_upstream(), "ev": everything_stdio()},
    )
    rec = Recorder(answer="stdio")
    async with connect(stdio_params(str(cfg)), mode, rec) as client:
        await wait_for_tools(client, ["fx", "time", "ev"], within=40)
        await checks.check_tools(client)
        await checks.check_time(client)
        await checks.check_resources(client)
        await checks.check_prompts_and_completion(client)
        await checks.check_progress(client)
        await checks.check_cancel(client, record)
        await checks.check_elicit_and_sample(client, rec)
        await checks.check_list_changed(client, mode, rec)
        await checks.check_everything(client, "ev")
