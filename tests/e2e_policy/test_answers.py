"""Issue 3 acceptance: a ``prompt`` rule asks the client, and each answer does what it says (both eras).

Every case checks the fixture upstream's own record: approved calls reached it, refused calls never did.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.e2e_policy.helpers import ADD_WHY, ERAS, Answerer, PolicyEnv, connect, make_env, new_tag, result_text
from tests.support.gateway_proc import running_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("mode", ERAS)
async def test_allow_once_forwards_and_asks_again(shared_gw: PolicyEnv, mode: str) -> None:
    tag = new_tag()
    answerer = Answerer("allow_once")
    async with connect(shared_gw, mode, answerer) as client:
        first = await client.call_tool("fx__add", {"a": tag, "b": 3})
        assert not first.is_error, result_text(first)
        assert first.structured_content == {"sum": tag + 3.0}
        assert answerer.asked == 1
        assert "fx__add" in answerer.questions[0] and ADD_WHY in answerer.questions[0]
        assert [c["arguments"] for c in shared_gw.calls("add", tag)] == [{"a": tag, "b": 3}]

        second = await client.call_tool("fx__add", {"a": tag, "b": 3})
        assert not second.is_error, result_text(second)
        assert answerer.asked == 2  # "once" is no grant: the identical call is asked again
        assert len(shared_gw.calls("add", tag)) == 2


@pytest.mark.parametrize("mode", ERAS)
async def test_allow_session_covers_identical_calls_only(shared_gw: PolicyEnv, mode: str) -> None:
    tag = new_tag()
    answerer = Answerer("allow_session")
    async with connect(shared_gw, mode, answerer) as client:
        for _ in range(3):
            result = await client.call_tool("fx__add", {"a": tag, "b": 1})
            assert not result.is_error, result_text(result)
        assert answerer.asked == 1

        other = await client.call_tool("fx__add", {"a": tag, "b": 2})
        assert not other.is_error, result_text(other)
        assert answerer.asked == 2  # different arguments: a new question
    assert [c["arguments"] for c in shared_gw.calls("add", tag)] == [{"a": tag, "b": 1}] * 3 + [{"a": tag, "b": 2}]

    # The grant belongs to that session: another client is asked again.
    fresh = Answerer("allow_once")
    async with connect(shared_gw, mode, fresh) as client:
        again = await client.call_tool("fx__add", {"a": tag, "b": 1})
        assert not again.is_error, result_text(again)
    assert fresh.asked == 1


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("how", ["deny", "decline"])
async def test_refusal_is_not_forwarded_and_explains_why(shared_gw: PolicyEnv, mode: str, how: str) -> None:
    tag = new_tag()
    answerer = Answerer("deny", reason="not today") if how == "deny" else Answerer(action="decline")
    async with connect(shared_gw, mode, answerer) as client:
        result = await client.call_tool("fx__add", {"a": tag, "b": 8})
        assert result.is_error
        text = result_text(result)
        assert ADD_WHY in text
        if how == "deny":
            assert "The user denied this call." in text and "not today" in text
        else:
            assert "The user declined this call." in text
        assert answerer.asked == 1
        # The session still works: an allowed call goes through.
        echo = await client.call_tool("fx__echo", {"text": str(tag)})
        assert result_text(echo) == str(tag)
    assert [c["tool"] for c in shared_gw.calls(tag=tag)] == ["echo"]


async def test_allow_always_writes_a_rule_that_survives_a_restart(tmp_path: Path) -> None:
    # Its own gateway (restarted below), so the rules it writes touch no other test. One client per era;
    # starting processes is what costs time here, so both eras share the two gateway runs.
    env = make_env(tmp_path)
    args = {"legacy": {"a": 4, "b": 5}, "2026-07-28": {"a": 7, "b": 5}}
    with running_gateway(env.config, http=True, log_level="info") as gw:
        served = PolicyEnv(config=env.config, record=env.record, url=gw.url)
        for mode in ERAS:
            answerer = Answerer("allow_always")
            async with connect(served, mode, answerer) as client:
                result = await client.call_tool("fx__add", args[mode])
                assert not result.is_error, result_text(result)
            assert answerer.asked == 1, mode

    assert env.always_file.exists(), "the always-allow answers were not written"
    rules = YAML(typ="safe").load(env.always_file.read_text(encoding="utf-8"))["rules"]
    assert len(rules) == 2
    assert {r["decision"] for r in rules} == {"allow"}
    assert {(r["match"]["upstream"], r["match"]["tool"]) for r in rules} == {("fx", "add")}

    # A new gateway process on the same state dir: the rules are loaded, nobody is asked.
    with running_gateway(env.config, http=True, log_level="info") as gw:
        served = PolicyEnv(config=env.config, record=env.record, url=gw.url)
        for mode in ERAS:
            later = Answerer("deny")
            async with connect(served, mode, later) as client:
                again = await client.call_tool("fx__add", args[mode])
                assert not again.is_error, result_text(again)
                assert later.asked == 0, mode
                # A rule is for its own arguments only.
                other = await client.call_tool("fx__add", {"a": 4, "b": 6})
                assert other.is_error
                assert later.asked == 1, mode
    assert [c["arguments"] for c in env.calls("add")] == [args["legacy"], args["2026-07-28"]] * 2
