"""Policy decision time with 10 and 1,000 rules (target: <= 50 us median at 1,000).

Run: .venv/bin/python bench/bench_policy.py
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

from gateway.policy import PolicyRequest, PolicySet, load_policies

SHIPPED = Path(__file__).resolve().parents[1] / "policies"
UPSTREAMS = [f"up{i}" for i in range(10)]
TOOLS = [f"tool_{i}" for i in range(50)]


def _rule(i: int, rng: random.Random) -> dict[str, Any]:
    kind = i % 5
    match: dict[str, Any] = {"upstream": rng.choice([*UPSTREAMS, "*", "up*"])}
    # A realistic mix: most rules name a tool; some use globs, paths, URLs, commands and regexes.
    match["tool"] = rng.choice(TOOLS) if kind != 4 else rng.choice(["tool_1*", "*", "tool_?"])
    if kind == 1:
        match["arguments"] = {"*path*": {"path_under": [f"/srv/data{i}", "~/.ssh", "*/.git"]}}
    elif kind == 2:
        match["arguments"] = {"url": {"url_host": ["private", "metadata", f"h{i}.example.com"]}}
    elif kind == 3:
        match["arguments"] = {"command": {"command_prefix": [["git", "push", "--force"], ["rm", "-rf"]]}}
    elif kind == 4:
        match["arguments"] = {"q": {"regex": f"^find .* in t{i}$"}}
    return {
        "id": f"rule-{i}",
        "match": match,
        "decision": rng.choice(["allow", "prompt", "deny"]),
        "justification": f"bench rule {i}",
    }


def build(n: int, directory: Path, rng: random.Random) -> PolicySet:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "bench.yaml").open("w") as fh:
        YAML(typ="safe", pure=True).dump({"rules": [_rule(i, rng) for i in range(n)]}, fh)
    return load_policies(directory)


def requests(rng: random.Random, count: int) -> list[PolicyRequest]:
    pool = [
        {"path": "/srv/data3/file.txt"},
        {"path": "src/../.git/config", "content": "x"},
        {"url": "http://0x7f000001/admin"},
        {"url": "https://example.com/x"},
        {"command": "git add . && git push --force"},
        {"q": "find a in t4"},
        {},
    ]
    return [
        PolicyRequest(
            upstream=rng.choice(UPSTREAMS),
            tool=rng.choice(TOOLS),
            arguments=rng.choice(pool),
            annotations={"readOnlyHint": rng.random() < 0.5},
            identity="bench",
            cwd="/work/proj",
        )
        for _ in range(count)
    ]


def measure(policy_set: PolicySet, reqs: list[PolicyRequest]) -> tuple[float, float]:
    for r in reqs[:2000]:  # warm the per-(upstream, tool) candidate cache, as a running gateway would be
        policy_set.evaluate(r)
    samples: list[float] = []
    clock = time.perf_counter_ns
    for r in reqs:
        t0 = clock()
        policy_set.evaluate(r)
        samples.append((clock() - t0) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    rng = random.Random(1234)
    table = Table(title="policy decision time (microseconds)")
    for col in ("rule set", "rules", "decisions", "median us", "p99 us", "target"):
        table.add_column(col, justify="right" if col not in ("rule set", "target") else "left")
    reqs = requests(rng, 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        sets = [
            ("shipped default", load_policies(SHIPPED)),
            ("synthetic", build(10, Path(tmp) / "r10", rng)),
            ("synthetic", build(1000, Path(tmp) / "r1000", rng)),
        ]
        for label, ps in sets:
            median, p99 = measure(ps, reqs)
            target = "<= 50 us median" if len(ps) >= 1000 else ""
            ok = "" if not target else (" ok" if median <= 50 else " MISSED")
            table.add_row(label, str(len(ps)), str(len(reqs)), f"{median:.1f}", f"{p99:.1f}", target + ok)
    Console().print(table)


if __name__ == "__main__":
    main()
