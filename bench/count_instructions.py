"""Instructions per governed tools/call, counted by valgrind: a noise-free way to compare two versions of the hot path.

Timing on a small shared VM moves by up to 2x between runs, so a change worth a few percent cannot be seen in
``bench_core.py``. This runs the gateway in-process (default policies, audit on, telemetry off) with the upstream's
answer canned, feeds ``tools/call`` lines to the stdio front, and counts the instructions of N calls after a warm-up
(``callgrind_control -z`` before, ``-d`` after). Same code, same count, to within about 1.5%.

Run: ``.venv/bin/python bench/count_instructions.py [--calls 200] [--mode legacy|2026-07-28|both]`` (needs valgrind;
about 2 minutes per era, most of it importing under valgrind). valgrind hides the CPU's SHA extensions, so the
audit chain's hashing weighs about 16 k instructions per hash here, under 1 µs on a real CPU.

It reaches into internals (the upstream's raw request function, the stdio front's ``offer``): a development tool,
not an interface.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from bench_core import MODES, Mode, write_config

_MODERN_META = (
    b',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    b'"io.modelcontextprotocol/clientInfo":{"name":"b","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}'
)


async def _inner(mode: Mode, calls: int, count: bool) -> None:
    from gateway.assemble import assemble
    from gateway.config.loader import load_config
    from gateway.front.stdio_calls import StdioCalls

    directory = Path(tempfile.mkdtemp())
    parts = await assemble(load_config(write_config(directory, mode)), policies_dir=directory / "policies")
    async with parts.running() as gw:
        conn = gw.pool.get("fx")
        with anyio.fail_after(60):
            await conn.wait_settled()
        answer: dict[str, Any] = {"content": [{"type": "text", "text": "hi"}], "structuredContent": {"text": "hi"}}
        if mode != "legacy":
            answer["resultType"] = "complete"

        async def canned(method: str, params: Any, *, on_progress: Any = None) -> dict[str, Any]:
            return dict(answer)

        assert conn._proc is not None and conn._proc.raw is not None
        conn._proc.raw.request = canned  # type: ignore[method-assign]
        front = StdioCalls(gw.front("stdio"))
        answered = anyio.Event()
        last: list[bytes] = [b""]

        async def write(data: bytes) -> None:
            last[0] = data
            answered.set()

        front.bind(write)
        meta = _MODERN_META if mode != "legacy" else b""
        if mode == "legacy":
            opening = b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
            await front.offer(opening + b'"capabilities":{},"clientInfo":{"name":"b","version":"1"}}}')
            front.sent(types.JSONRPCResponse(jsonrpc="2.0", id=0, result={"protocolVersion": "2025-11-25"}))
            await front.offer(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        else:
            await front.offer(b'{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{' + meta[1:] + b"}}")

        async def run(n: int) -> None:
            nonlocal answered
            for i in range(n):
                answered = anyio.Event()
                text = b'"arguments":{"text":"hello %d"}' % i
                line = b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo",%s%s}}'
                assert await front.offer(line % (i + 1, text, meta)), "the stdio front did not take the call"
                with anyio.fail_after(10):
                    await answered.wait()
                if b'"text":"hi"' not in last[0]:
                    raise SystemExit(f"unexpected answer: {last[0][:300]!r}")

        await run(300)
        if count:
            await anyio.run_process(["callgrind_control", "-z", str(os.getpid())])  # returns once valgrind has zeroed
        started = time.perf_counter()
        await run(calls)
        elapsed = time.perf_counter() - started
        if count:
            await anyio.run_process(["callgrind_control", "-d", "counted", str(os.getpid())])
        print(f"{mode}: {calls} calls answered, {elapsed / calls * 1e6:.0f} us per call (wall, in-process)")
        await front.aclose()


def _count(mode: Mode, calls: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = ["valgrind", "--tool=callgrind", "--cache-sim=no", f"--callgrind-out-file={out}/cg.%p"]
        subprocess.run(
            [*command, sys.executable, __file__, "--inner", mode, "--calls", str(calls)],
            check=True,
            capture_output=True,
        )
        dumps = [p for p in Path(out).iterdir() if p.name.endswith(".1")]  # part 1: the counted calls
        if len(dumps) != 1:
            raise SystemExit(f"expected one callgrind dump of the counted calls, found {len(dumps)}")
        for text in dumps[0].read_text().splitlines():
            if text.startswith("summary:"):
                return int(text.split()[1]) / calls
    raise SystemExit("no instruction count in the callgrind dump")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both")
    parser.add_argument("--inner", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--no-count", action="store_true", help="only run the calls, without valgrind (a smoke test)")
    args = parser.parse_args()
    if args.inner or args.no_count:
        for mode in (args.inner,) if args.inner else MODES if args.mode == "both" else (args.mode,):
            anyio.run(_inner, mode, args.calls, not args.no_count, backend_options={"use_uvloop": True})
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    for mode in MODES if args.mode == "both" else (args.mode,):
        print(f"{mode:<12} {_count(mode, args.calls) / 1000:8.0f} k instructions per call ({args.calls} calls)")


if __name__ == "__main__":
    main()
