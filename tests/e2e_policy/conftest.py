"""Gateways shared by the policy end-to-end tests: starting one costs seconds, sessions keep the tests apart.

Both serve Streamable HTTP, so every client (each with its own session) talks to the same process, and the
``mcp-gateway approvals`` CLI reaches the same state dir from outside. Tests tell their calls apart in the shared
fixture record by a unique argument value (``new_tag``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e_policy.helpers import PolicyEnv, make_env
from tests.support.gateway_proc import running_gateway


def _serve(tmp: pytest.TempPathFactory, name: str, queue_wait: float) -> Iterator[PolicyEnv]:
    env = make_env(tmp.mktemp(name), approvals={"queue_wait": queue_wait})
    with running_gateway(env.config, http=True, log_level="info") as gw:
        gw.wait_upstream("fx", {"ready"})
        yield PolicyEnv(config=env.config, record=env.record, url=gw.url)


@pytest.fixture(scope="session")
def shared_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyEnv]:
    """The HTTP gateway most tests use (queued approvals wait 20 s)."""
    yield from _serve(tmp_path_factory, "shared-gw", 20)


@pytest.fixture(scope="session")
def impatient_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyEnv]:
    """An HTTP gateway whose queued approvals expire after 1 s."""
    yield from _serve(tmp_path_factory, "impatient-gw", 1)
