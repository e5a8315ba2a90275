"""Run the real ``mcp-gateway`` as a subprocess for end-to-end tests.

Helpers to write ``upstreams.yaml`` (fixture upstream, mcp-server-time, server-everything), start the gateway over
stdio or Streamable HTTP with its own process group, wait for it to be ready (status file, ``/readyz``) with
bounded polls, run the CLI, and check that process trees are gone after shutdown. Everything is synchronous so
it works in sync fixtures of any scope; async tests call the ``a*`` variants or use the client helpers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
import psutil
from ruamel.yaml import YAML

__all__ = [
    "FIXTURE",
    "GATEWAY_BIN",
    "PYTHON",
    "REPO",
    "TIME_BIN",
    "GatewayProcess",
    "RawStdio",
    "await_until",
    "fixture_upstream",
    "free_port",
    "http_json",
    "pids_gone",
    "read_record",
    "running_gateway",
    "run_cli",
    "start_gateway",
    "time_upstream",
    "wait_until",
    "write_config",
]

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
GATEWAY_BIN = str(BIN / "mcp-gateway")
TIME_BIN = str(BIN / "mcp-server-time")
FIXTURE = str(REPO / "tests" / "upstreams" / "fixture_server.py")

_URL_LINE = re.compile(r"serving Streamable HTTP\s+url=(\S+)")
T = TypeVar("T")


# -- polling ------------------------------------------------------------------------------------------------------


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def await_until(check: Callable[[], T | None], within: float, what: str, interval: float = 0.05) -> T:
    """Async twin of ``wait_until`` (the check itself must not block)."""
    with anyio.fail_after(within):
        while True:
            value = check()
            if value:
                return value
            await anyio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")  # pragma: no cover - fail_after raises first


def free_port() -> int:
    """A TCP port that was free a moment ago (for upstreams that need a fixed port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- config -------------------------------------------------------------------------------------------------------


def fixture_upstream(*flags: str, record: Path | None = None, **overrides: Any) -> dict[str, Any]:
    """A stdio upstream spec running tests/upstreams/fixture_server.py with ``flags``."""
    spec: dict[str, Any] = {"command": PYTHON, "args": [FIXTURE, *flags]}
    if record is not None:
        spec["env"] = {"FIXTURE_RECORD": str(record)}
    spec.update(overrides)
    return spec


def time_upstream(**overrides: Any) -> dict[str, Any]:
    """mcp-server-time from the venv (a real third-party Python MCP server)."""
    return {"command": TIME_BIN, "args": ["--local-timezone", "UTC"], **overrides}


ALLOW_ALL_POLICY = "default_decision: allow\n"


def write_config(
    path: Path,
    upstreams: dict[str, dict[str, Any]],
    gateway: dict[str, Any] | None = None,
    *,
    policy: str | None = ALLOW_ALL_POLICY,
) -> Path:
    """Write ``upstreams.yaml`` at ``path``; state_dir defaults to ``<path's dir>/state``.

    ``policy`` goes to ``policies/test.yaml`` beside it: by default every call is allowed, so the core tests
    exercise forwarding rather than approvals (those have their own tests).
    """
    settings = {"state_dir": str(path.parent / "state"), **(gateway or {})}
    yaml = YAML()
    buf = io.StringIO()
    yaml.dump({"gateway": settings, "upstreams": upstreams}, buf)
    path.write_text(buf.getvalue(), encoding="utf-8")
    if policy is not None:
        (path.parent / "policies").mkdir(exist_ok=True)
        (path.parent / "policies" / "test.yaml").write_text(policy, encoding="utf-8")
    return path


def read_record(path: Path) -> list[dict[str, Any]]:
    """The fixture's FIXTURE_RECORD lines (every tools/call it received)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- the gateway process -----------------------------------------------------------------------------------------


@dataclass
class GatewayProcess:
    """A running ``mcp-gateway serve`` in its own session (process group)."""

    proc: subprocess.Popen[bytes]
    config: Path
    stderr_path: Path
    url: str | None = None
    _stderr_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def state_dir(self) -> Path:
        return self.config.parent / "state"

    @property
    def base_url(self) -> str:
        assert self.url is not None, "not an HTTP gateway"
        return self.url.rsplit("/mcp", 1)[0]

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def status(self) -> dict[str, Any] | None:
        """The parsed status.json, or None while it does not exist (or is being replaced)."""
        try:
            data: dict[str, Any] = json.loads((self.state_dir / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data

    def upstream_status(self, name: str) -> dict[str, Any] | None:
        status = self.status()
        if status is None:
            return None
        up: dict[str, Any] | None = status["upstreams"].get(name)
        return up

    def wait_upstream(self, name: str, states: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """Wait until upstream ``name`` reaches one of ``states`` in the status file."""

        def check() -> dict[str, Any] | None:
            self.assert_alive()
            up = self.upstream_status(name)
            return up if up is not None and up["state"] in states else None

        return wait_until(check, timeout, f"upstream {name} to be {sorted(states)} (stderr:\n{self.tail()})")

    def wait_settled(self, timeout: float = 40.0) -> dict[str, Any]:
        """Wait until no upstream is 'starting' or 'restarting'; returns the status."""

        def check() -> dict[str, Any] | None:
            self.assert_alive()
            status = self.status()
            if status is None or status["pid"] != self.pid:
                return None
            states = {u["state"] for u in status["upstreams"].values()}
            return status if not states & {"starting", "restarting"} else None

        return wait_until(check, timeout, f"the gateway's upstreams to settle (stderr:\n{self.tail()})")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"the gateway exited with {self.proc.returncode}; stderr:\n{self.tail()}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL of the whole process group if it does not go in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None


def start_gateway(
    config: Path,
    *,
    http: bool = False,
    log_level: str = "info",
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> GatewayProcess:
    """Start ``mcp-gateway serve`` in a new session. Over stdio the pipes are ``proc.stdin/stdout``.

    For HTTP it binds port 0 and waits for the "serving Streamable HTTP url=..." log line.
    """
    stderr_path = config.parent / f"gateway-{time.monotonic_ns()}.stderr"
    err = stderr_path.open("wb")
    args = [GATEWAY_BIN, "serve", "--config", str(config), "--log-level", log_level, *extra_args]
    if http:
        args += ["--http", "127.0.0.1:0"]
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL if http else subprocess.PIPE,
        stdout=subprocess.DEVNULL if http else subprocess.PIPE,
        stderr=err,
        cwd=str(config.parent),
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    gw = GatewayProcess(proc=proc, config=config, stderr_path=stderr_path, _stderr_file=err)
    if http:
        try:

            def url() -> str | None:
                gw.assert_alive()
                m = _URL_LINE.search(gw.stderr_text())
                return m.group(1) if m else None

            gw.url = wait_until(url, timeout, "the gateway's HTTP URL log line")
        except BaseException:
            gw.stop()
            raise
    return gw


@contextlib.contextmanager
def running_gateway(config: Path, **kwargs: Any) -> Iterator[GatewayProcess]:
    """``start_gateway`` that always stops the process tree on exit."""
    gw = start_gateway(config, **kwargs)
    try:
        yield gw
    finally:
        gw.stop()


# -- raw stdio JSON-RPC -------------------------------------------------------------------------------------------


class RawStdio:
    """Line-level JSON-RPC over a stdio gateway's pipes; every stdout line is kept for inspection.

    A reader thread moves lines into a queue, so reads have real timeouts without touching the event loop.
    """

    def __init__(self, gw: GatewayProcess) -> None:
        assert gw.proc.stdin is not None and gw.proc.stdout is not None, "start the gateway with http=False"
        self.gw = gw
        self.lines: list[bytes] = []
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._next_id = 0
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        stdout = self.gw.proc.stdout
        assert stdout is not None
        for line in iter(stdout.readline, b""):
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def send_raw(self, data: bytes) -> None:
        stdin = self.gw.proc.stdin
        assert stdin is not None
        stdin.write(data)
        stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps(message).encode() + b"\n")

    def recv(self, timeout: float = 15.0) -> dict[str, Any]:
        """The next stdout line, parsed (an unparseable line fails the test: stdout is protocol only)."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message from the gateway within {timeout}s; stderr:\n{self.gw.tail()}") from None
        if line is None:
            raise AssertionError(f"the gateway closed stdout; stderr:\n{self.gw.tail()}")
        try:
            parsed: dict[str, Any] = json.loads(line)
        except ValueError:
            raise AssertionError(f"non-JSON line on the gateway's stdout: {line!r}") from None
        return parsed

    def recv_response(self, id_: Any, timeout: float = 15.0) -> dict[str, Any]:
        """Skip notifications (and server requests) until the response with ``id_``."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.1, deadline - time.monotonic()))
            if "method" not in msg and msg.get("id") == id_:
                return msg

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = 15.0) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.recv_response(self._next_id, timeout)

    def initialize(self) -> dict[str, Any]:
        """The 2025-11-25 handshake."""
        result = self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-e2e", "version": "1"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def call_tool(self, name: str, arguments: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments}, timeout)


# -- HTTP, CLI, processes ---------------------------------------------------------------------------------------------


def http_json(
    url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with urllib: (status, headers, body); HTTP errors are returned, not raised."""
    if not url.startswith("http://"):
        raise ValueError(f"not a local http URL: {url}")
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 - http only, checked above
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def run_cli(*args: str, config: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``mcp-gateway <args> --config <config>`` and capture its output."""
    argv = list(args)
    # Options must come before a `--` that passes the rest through (e.g. `upstreams add NAME --command X -- ARGS`).
    at = argv.index("--") if "--" in argv else len(argv)
    argv[at:at] = ["--config", str(config)]
    return subprocess.run(
        [GATEWAY_BIN, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(config.parent),
    )


def pids_gone(pids: list[int], timeout: float = 10.0) -> None:
    """Assert every pid is gone (or a zombie) within ``timeout`` seconds."""

    def alive() -> list[int]:
        out = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    out.append(pid)
            except psutil.NoSuchProcess:
                continue
        return out

    deadline = time.monotonic() + timeout
    left = alive()
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = alive()
    for pid in left:  # don't leak them into the rest of the run
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    assert not left, f"processes still alive {timeout}s after the gateway exited: {left}"
