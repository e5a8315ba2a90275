"""Small builders shared by the policy tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from gateway.policy import PolicyRequest, PolicySet, load_policies


def write_policy(directory: Path, name: str, data: dict[str, Any] | str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        with path.open("w", encoding="utf-8") as fh:
            YAML(typ="safe", pure=True).dump(data, fh)
    return path


def policy(tmp_path: Path, rules: list[dict[str, Any]], **settings: Any) -> PolicySet:
    directory = tmp_path / "pol"
    write_policy(directory, "p.yaml", {"rules": rules, **settings})
    return load_policies(directory)


def req(tool: str = "t", upstream: str = "u", **kw: Any) -> PolicyRequest:
    return PolicyRequest(upstream=upstream, tool=tool, **kw)
