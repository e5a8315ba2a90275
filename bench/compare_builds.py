"""Call latency through gateways built from different source trees, interleaved in one run, against a direct client.

Changes worth a few percent drown in this VM's run-to-run noise when two ``bench_core.py`` runs are compared. Here
one process keeps a client connected to each gateway (and one straight to the fixture) and alternates between them
in ABBA rounds, so machine load hits every side alike:

    git worktree add /tmp/old1 HEAD~3; git worktree add /tmp/old2 HEAD~3
    git worktree add /tmp/new1 HEAD;   git worktree add /tmp/new2 HEAD
    .venv/bin/python bench/compare_builds.py /tmp/old1 /tmp/new1 /tmp/old2 /tmp/new2 --mode legacy --rounds 30

Each tree's gateway runs as ``python -m gateway serve`` with that tree first on ``PYTHONPATH`` (same interpreter and
dependencies: the venv's), on the same config as ``bench_core.py`` (fixture upstream, default policies, audit on).
Give each version two trees: a gateway keeps its CPU placement for the whole run, and two gateways of the same code
have differed by 30-70 us in the mean in one run. Repeat with the order of the trees changed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
from _common import make_console, percentile
from bench_core import FIXTURE, MODES, Mode, write_config
from mcp import Client, MCPError, StdioServerParameters
from rich import box
from rich.table import Table

DIRECT = "direct"


def _params(tree: str, mode: Mode) -> StdioServerParameters:
    if tree == DIRECT:
        return StdioServerParameters(command=sys.executable, args=[str(FIXTURE)])
    config = write_config(Path(tempfile.mkdtemp(prefix="compare-builds-")), mode)
    root = str(Path(tree).resolve())
    env = dict(os.environ, PYTHONPATH=root)
    args = ["-m", "gateway", "serve", "--config", str(config), "--log-level", "warning"]
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=root)


async def _ready(client: Client, warmup: int) -> None:
    with anyio.fail_after(60):
        while True:
            try:
                await client.call_tool("echo", {"text": "ready"})
                break
            except MCPError:
                await anyio.sleep(0.05)  # the gateway answers before its upstream is up: poll until it is
    for i in range(warmup):
        await client.call_tool("echo", {"text": f"warm {i}"})


async def measure(trees: list[str], mode: Mode, rounds: int, calls: int, warmup: int) -> dict[str, list[float]]:
    """Sequential ``echo`` latencies in microseconds per tree, ``rounds`` x ``calls`` each, ABBA order."""
    samples: dict[str, list[float]] = {tree: [] for tree in trees}
    async with AsyncExitStack() as stack:
        clients = []
        for tree in trees:
            client = Client(_params(tree, mode), mode=mode, cache=None)
            await stack.enter_async_context(client)
            await _ready(client, warmup)
            clients.append(client)
        for r in range(rounds):
            order = list(zip(trees, clients, strict=True))
            for tree, client in order if r % 2 == 0 else reversed(order):
                for i in range(calls):
                    start = time.perf_counter()
                    await client.call_tool("echo", {"text": f"hello {i}"})
                    samples[tree].append((time.perf_counter() - start) * 1e6)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="source trees (each holding gateway/) to compare")
    parser.add_argument("--mode", choices=MODES, default="legacy")
    parser.add_argument("--rounds", type=int, default=20, help="ABBA rounds (default 20)")
    parser.add_argument("--calls", type=int, default=100, help="sequential calls per side and round (default 100)")
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)
    trees = [*args.trees, DIRECT]
    samples = anyio.run(measure, trees, args.mode, args.rounds, args.calls, args.warmup)
    direct_p50, direct_mean = percentile(samples[DIRECT], 0.5), statistics.mean(samples[DIRECT])
    table = Table(title=f"{args.mode}: sequential echo calls, us", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("side", "calls", "p50", "mean", "p90", "added p50", "added mean"):
        table.add_column(column, justify="left" if column == "side" else "right")
    for tree, values in samples.items():
        p50, mean = percentile(values, 0.5), statistics.mean(values)
        added = ("", "") if tree == DIRECT else (f"{p50 - direct_p50:.0f}", f"{mean - direct_mean:.0f}")
        table.add_row(tree, str(len(values)), f"{p50:.0f}", f"{mean:.0f}", f"{percentile(values, 0.9):.0f}", *added)
    make_console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
