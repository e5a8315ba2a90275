"""Core overhead benchmark: one MCP client talking to the fixture upstream directly vs through the gateway (stdio).

Both targets run in ONE process and every phase is INTERLEAVED: rounds alternate direct/gateway (ABBA order), so
machine noise hits both sides equally. Metrics per target: startup (spawn -> first tools/list that shows ``echo``),
tools/list median, sequential ``echo`` p50/p99, throughput with 16 calls in flight, a 100 kB ``big`` result, server
CPU per call and peak RSS of the server process tree (upstream alone vs gateway + its upstream).

Run: ``.venv/bin/python bench/bench_core.py [--mode legacy|2026-07-28|both] [--calls N] [--quick] [--json FILE]``
Exit code is 0 whether targets are met or not (PASS/MISS is printed); a run that cannot measure at all fails.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import anyio
from _common import (
    Row,
    TreeSampler,
    child_pids,
    compare_table,
    make_console,
    median,
    new_children,
    percentile,
    tree_cpu_seconds,
)
from mcp import Client, MCPError, StdioServerParameters
from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "upstreams" / "fixture_server.py"
Mode = Literal["legacy", "2026-07-28"]
MODES: tuple[Mode, ...] = ("legacy", "2026-07-28")
ADDED_P50_MS = 0.5  # target: the gateway adds at most this much to a call's median latency
THROUGHPUT_RATIO = 0.7  # target: at 16 in flight the gateway keeps at least this share of direct throughput


@dataclass(frozen=True)
class Plan:
    """How much to measure. ``chunk`` sizes are the per-round share of each phase (rounds alternate targets)."""

    calls: int = 500
    warmup: int = 50
    chunk: int = 50
    lists: int = 50
    list_chunk: int = 10
    tput_calls: int = 1000
    tput_seconds: float = 2.0
    tput_rounds: int = 4
    workers: int = 16
    bigs: int = 30
    big_chunk: int = 10
    big_size: int = 100_000
    startup_runs: int = 3
    startup_timeout: float = 60.0
    call_timeout: float = 30.0
    instances: int = 3


QUICK = Plan(
    calls=100,
    warmup=10,
    chunk=25,
    lists=10,
    list_chunk=5,
    tput_calls=200,
    tput_seconds=0.5,
    tput_rounds=2,
    bigs=6,
    big_chunk=3,
    startup_runs=1,
    instances=1,
)


@dataclass
class TargetResult:
    """Raw measurements of one target (latencies in ms, startup in s, memory in bytes)."""

    startup: list[float] = field(default_factory=list)
    lists: list[float] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)
    bigs: list[float] = field(default_factory=list)
    tput_calls: int = 0
    tput_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cpu_calls: int = 0
    peak_rss: int = 0

    def summary(self) -> dict[str, float]:
        """The reported figures, by metric key."""
        return {
            "startup_s": median(self.startup),
            "list_ms": median(self.lists),
            "call_p50_ms": median(self.calls),
            "call_p99_ms": percentile(self.calls, 0.99),
            "throughput_cps": self.tput_calls / self.tput_seconds if self.tput_seconds else float("nan"),
            "big_ms": median(self.bigs),
            "cpu_ms_per_call": 1000 * self.cpu_seconds / self.cpu_calls if self.cpu_calls else float("nan"),
            "peak_rss_mb": self.peak_rss / 1e6,
        }


@dataclass
class ModeResult:
    """Both targets' results for one protocol mode."""

    mode: str
    direct: TargetResult
    gateway: TargetResult
    instances: int = 1

    def verdicts(self) -> dict[str, tuple[bool, str]]:
        """Target name -> (met, explanation)."""
        d, g = self.direct.summary(), self.gateway.summary()
        added = g["call_p50_ms"] - d["call_p50_ms"]
        ratio = g["throughput_cps"] / d["throughput_cps"] if d["throughput_cps"] else float("nan")
        return {
            "latency": (
                added <= ADDED_P50_MS,
                f"p50 added latency per call {added:.2f} ms (target <= {ADDED_P50_MS} ms)",
            ),
            "throughput": (
                ratio >= THROUGHPUT_RATIO,
                f"throughput at 16 in flight {ratio:.2f}x direct (target >= {THROUGHPUT_RATIO}x)",
            ),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "instances": self.instances,
            "direct": self.direct.summary(),
            "gateway": self.gateway.summary(),
            "verdicts": {k: {"pass": ok, "text": text} for k, (ok, text) in self.verdicts().items()},
            "raw": {"direct": asdict(self.direct), "gateway": asdict(self.gateway)},
        }


def render(result: ModeResult, console: Console) -> None:
    """Print the comparison table and one PASS/MISS line per target."""
    d, g = result.direct.summary(), result.gateway.summary()
    verdicts = result.verdicts()

    def mark(key: str) -> str:
        return "PASS" if verdicts[key][0] else "MISS"

    rows = [
        Row("startup to first tools/list (s)", d["startup_s"], g["startup_s"], added_scale=1000),
        Row("tools/list median (ms)", d["list_ms"], g["list_ms"]),
        Row(
            "call p50 (ms)", d["call_p50_ms"], g["call_p50_ms"], target=f"added <= {ADDED_P50_MS} ms: {mark('latency')}"
        ),
        Row("call p99 (ms)", d["call_p99_ms"], g["call_p99_ms"]),
        Row(
            "throughput, 16 in flight (calls/s)",
            d["throughput_cps"],
            g["throughput_cps"],
            digits=0,
            added_unit="",
            target=f">= {THROUGHPUT_RATIO}x direct: {mark('throughput')}",
        ),
        Row("100 kB result median (ms)", d["big_ms"], g["big_ms"]),
        Row("server CPU per call (ms)", d["cpu_ms_per_call"], g["cpu_ms_per_call"]),
        Row("peak RSS of server tree (MB)", d["peak_rss_mb"], g["peak_rss_mb"], digits=1, added_unit="MB"),
    ]
    r = result.direct
    title = (
        f"mode {result.mode}: {len(r.calls)} calls, {len(r.lists)} lists, {r.tput_calls} calls at 16 in flight, "
        f"{len(r.bigs)} x 100 kB, {len(r.startup)} startup(s), pooled over {result.instances} instance(s) per side"
    )
    console.print(compare_table(title, rows))
    for ok, text in verdicts.values():
        console.print(f"{'PASS' if ok else 'MISS'}  {result.mode}: {text}", markup=False, highlight=False)


@dataclass
class Target:
    """One side of the comparison: how to spawn it, its live client and what was measured."""

    name: str
    params: StdioServerParameters
    result: TargetResult = field(default_factory=TargetResult)
    client: Client | None = None
    pid: int = 0

    @property
    def live(self) -> Client:
        assert self.client is not None, f"{self.name} is not connected"
        return self.client


def gateway_command() -> list[str]:
    """The gateway's executable: the repo venv's ``mcp-gateway``, else the one next to this Python, else ``-m``."""
    for candidate in (REPO / ".venv" / "bin" / "mcp-gateway", Path(sys.executable).parent / "mcp-gateway"):
        if candidate.exists():
            return [str(candidate.absolute())]
    found = shutil.which("mcp-gateway")
    return [found] if found else [sys.executable, "-m", "gateway"]


def write_config(directory: Path, mode: Mode = "2026-07-28") -> Path:
    """An ``upstreams.yaml`` with the fixture as the only upstream, names unprefixed, state kept in ``directory``.

    Beside it, ``policies/``: the repo's policies (so every rule is still evaluated, as in real use) plus an
    ``approve`` approval mode for the fixture, so calls the defaults would hold for a person (``big``) just run.
    """
    policies = directory / "policies"
    policies.mkdir()
    for source in sorted((REPO / "policies").glob("*.y*ml")):
        shutil.copy(source, policies / source.name)
    trust = {"approval_modes": [{"upstream": "fx", "mode": "approve"}]}
    (policies / "zz-bench-trust.yaml").write_text(json.dumps(trust), encoding="utf-8")
    cfg = {
        "gateway": {"state_dir": str(directory / "state")},
        # The gateway speaks the client's era to the upstream too, so both sides ask the same server the same way.
        "upstreams": {"fx": {"command": sys.executable, "args": [str(FIXTURE)], "prefix": "none", "protocol": mode}},
    }
    path = directory / "upstreams.yaml"
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")  # JSON is valid YAML
    return path


async def _tool_names(client: Client) -> list[str]:
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        names += [t.name for t in page.tools]
        if (cursor := page.next_cursor) is None:
            return names


async def _open(target: Target, mode: Mode, stack: AsyncExitStack, plan: Plan) -> tuple[Client, int, float]:
    """Spawn and connect; poll tools/list until ``echo`` shows. Returns client, server pid and startup seconds."""
    before = child_pids()
    start = time.perf_counter()
    client = Client(target.params, mode=mode, cache=None, read_timeout_seconds=plan.call_timeout)
    await stack.enter_async_context(client)
    spawned = new_children(before)
    deadline = start + plan.startup_timeout
    while True:
        try:
            if "echo" in await _tool_names(client):
                break
        except MCPError:
            pass  # the gateway may answer before its upstream is ready: keep polling until the deadline
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{target.name} did not list 'echo' within {plan.startup_timeout:.0f} s")
        await anyio.sleep(0.02)
    return client, (spawned[0] if spawned else 0), time.perf_counter() - start


async def _check(target: Target, plan: Plan) -> None:
    """Make sure both targets really do the work being timed (same answers, right sizes)."""
    echo = await target.live.call_tool("echo", {"text": "bench"})
    assert echo.structured_content == {"text": "bench"}, f"{target.name}: echo returned {echo}"
    big = await target.live.call_tool("big", {"size": plan.big_size})
    size = sum(len(getattr(block, "text", "")) for block in big.content)
    assert size == plan.big_size, f"{target.name}: big returned {size} bytes"


async def alternate(targets: list[Target], rounds: int, step: Callable[[Target], Awaitable[None]]) -> None:
    """Run ``step`` for each target, ``rounds`` times, in ABBA order so neither side always goes first."""
    for r in range(rounds):
        for target in targets if r % 2 == 0 else reversed(targets):
            await step(target)


async def _sequential(target: Target, n: int, samples: list[float] | None) -> None:
    client = target.live
    cpu0 = tree_cpu_seconds(target.pid) if samples is not None else 0.0
    for i in range(n):
        start = time.perf_counter()
        await client.call_tool("echo", {"text": f"hello {i}"})
        if samples is not None:
            samples.append((time.perf_counter() - start) * 1000)
    if samples is not None:
        target.result.cpu_seconds += tree_cpu_seconds(target.pid) - cpu0
        target.result.cpu_calls += n


async def _burst(target: Target, plan: Plan) -> None:
    """Up to tput_calls/rounds calls with ``workers`` in flight, stopping early at the round's time budget."""
    client = target.live
    budget = plan.tput_calls // plan.tput_rounds
    claimed = 0
    start = time.perf_counter()
    stop_at = start + plan.tput_seconds / plan.tput_rounds

    async def worker() -> None:
        nonlocal claimed
        while claimed < budget and time.perf_counter() < stop_at:
            claimed += 1
            await client.call_tool("echo", {"text": "throughput"})

    async with anyio.create_task_group() as tg:
        for _ in range(plan.workers):
            tg.start_soon(worker)
    target.result.tput_calls += claimed
    target.result.tput_seconds += time.perf_counter() - start


async def _timed(samples: list[float], action: Callable[[], Awaitable[Any]], n: int) -> None:
    for _ in range(n):
        start = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - start) * 1000)


async def _extra_startups(targets: list[Target], mode: Mode, plan: Plan) -> None:
    async def once(target: Target) -> None:
        async with AsyncExitStack() as stack:
            _, _, seconds = await _open(target, mode, stack, plan)
        target.result.startup.append(seconds)

    await alternate(targets, plan.startup_runs - 1, once)


async def run_mode(mode: Mode, plan: Plan, gateway_cmd: list[str], sampler: TreeSampler) -> ModeResult:
    """Measure one protocol mode: ``plan.instances`` connections per side, all open at once, every phase interleaved.

    Each side's figures pool the samples of its instances. A process keeps its CPU placement for a whole run, and
    on a 2-vCPU host two gateways of the same code have differed by 30-70 us in mean latency within one run; one
    instance per side turns that placement into run-to-run noise, several average it out (both sides alike).
    """
    with tempfile.TemporaryDirectory(prefix="bench-core-") as tmp:
        cfg = write_config(Path(tmp), mode)
        serve_args = ["serve", "--config", str(cfg), "--log-level", "warning"]
        direct_params = StdioServerParameters(command=sys.executable, args=[str(FIXTURE)])
        gateway_params = StdioServerParameters(command=gateway_cmd[0], args=[*gateway_cmd[1:], *serve_args])
        direct, gateway = TargetResult(), TargetResult()
        n = plan.instances
        targets: list[Target] = []
        for i in range(n):
            targets.append(Target(f"direct-{i}", direct_params, direct))
            targets.append(Target(f"gateway-{i}", gateway_params, gateway))

        def rounds(total: int, chunk: int) -> int:
            """Rounds so that each side does about ``total`` in ``chunk``s spread over its instances (at least
            two rounds, so the ABBA order gives every instance both positions)."""
            return max(2, -(-total // (chunk * n)))

        async with AsyncExitStack() as stack:
            for target in targets:
                target.client, target.pid, seconds = await _open(target, mode, stack, plan)
                target.result.startup.append(seconds)
                sampler.watch(f"{mode}:{target.name}", target.pid)
            for target in targets:
                await _check(target, plan)

            await alternate(targets, 2, lambda t: _sequential(t, plan.warmup // 2, None))
            await alternate(targets, rounds(plan.lists, plan.list_chunk), lambda t: _list_chunk(t, plan))
            await alternate(
                targets, rounds(plan.calls, plan.chunk), lambda t: _sequential(t, plan.chunk, t.result.calls)
            )
            await alternate(targets, rounds(plan.tput_rounds, 1), lambda t: _burst(t, plan))
            await alternate(targets, rounds(plan.bigs, plan.big_chunk), lambda t: _big_chunk(t, plan))
            sampler.sample()
            for target in targets:
                # Per instance: the peak of one server tree (instances are not added up).
                peak = sampler.peaks.get(f"{mode}:{target.name}", 0)
                target.result.peak_rss = max(target.result.peak_rss, peak)
                sampler.unwatch(f"{mode}:{target.name}", target.pid)
        await _extra_startups(targets[:2], mode, plan)
    return ModeResult(mode=mode, direct=direct, gateway=gateway, instances=n)


async def _list_chunk(target: Target, plan: Plan) -> None:
    await _timed(target.result.lists, lambda: _tool_names(target.live), plan.list_chunk)


async def _big_chunk(target: Target, plan: Plan) -> None:
    await _timed(target.result.bigs, lambda: target.live.call_tool("big", {"size": plan.big_size}), plan.big_chunk)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--mode", choices=[*MODES, "both"], default="both", help="protocol era(s) to measure")
    p.add_argument("--calls", type=int, default=None, help="sequential echo calls per target (default 500)")
    p.add_argument("--quick", action="store_true", help="small numbers for a smoke run (< 30 s)")
    p.add_argument(
        "--instances", type=int, default=None, help="connections (server processes) per side, pooled (default 3)"
    )
    p.add_argument("--json", type=Path, default=None, help="also write the raw results to this file")
    p.add_argument(
        "--gateway-cmd", default=None, help="command to run the gateway instead of mcp-gateway (e.g. to profile it)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else Plan()
    if args.calls is not None:
        plan = replace(plan, calls=max(args.calls, 1), chunk=min(plan.chunk, max(args.calls, 1)))
    if args.instances is not None:
        plan = replace(plan, instances=max(args.instances, 1))
    gateway_cmd = shlex.split(args.gateway_cmd) if args.gateway_cmd else gateway_command()
    modes = list(MODES) if args.mode == "both" else [args.mode]
    console = make_console()
    results: list[ModeResult] = []
    started = time.perf_counter()
    with TreeSampler() as sampler:
        for mode in modes:
            console.print(f"[dim]measuring mode {mode} ...[/dim]")
            results.append(anyio.run(run_mode, mode, plan, gateway_cmd, sampler))
    for result in results:
        render(result, console)
    console.print(f"total {time.perf_counter() - started:.1f} s; {'quick' if args.quick else 'full'} plan", style="dim")
    if args.json is not None:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
