"""Writing layer files for the admin tests (JSON is valid YAML, so no YAML writer is needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.admin import Effective, load_effective


@dataclass(frozen=True)
class Dirs:
    """A user dir, a project dir and a system dir under one tmp_path."""

    root: Path

    @property
    def user(self) -> Path:
        return self.root / "user"

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def system(self) -> Path:
        return self.root / "system"

    @property
    def config(self) -> Path:
        return self.project / "upstreams.yaml"

    def write(self, path: Path, data: Any) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
        return path

    def user_file(self, data: Any) -> Path:
        return self.write(self.user / "upstreams.yaml", data)

    def project_file(self, data: Any) -> Path:
        return self.write(self.config, data)

    def managed_file(self, data: Any) -> Path:
        return self.write(self.system / "managed.yaml", data)

    def requirements(self, data: Any) -> Path:
        return self.write(self.system / "requirements.yaml", data)

    def policy(self, layer: str, name: str, data: Any) -> Path:
        base = {"user": self.user, "project": self.project, "managed": self.system}[layer]
        return self.write(base / "policies" / name, data)

    def load(self, profile: str | None = None) -> Effective:
        return load_effective(self.config, system_dir=self.system, user_dir=self.user, profile=profile)


def stdio(command: str = "uvx", *args: str, **extra: Any) -> dict[str, Any]:
    return {"command": command, "args": list(args), **extra}
