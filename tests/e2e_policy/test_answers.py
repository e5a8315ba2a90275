"""Issue 3 acceptance: a ``prompt`` rule asks the client, and each answer does what it says (both eras, stdio).

Every case checks the fixture upstream's own record: approved calls reached it, refused calls never did.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.e2e_policy.helpers import ADD_WHY, ERAS, Answerer, connect, make_env, result_text

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("mode", ERAS)
async def test_allow_once_forwards_and_asks_again(tmp_path: Path, mode: str) -> None:
    env = make_env(tmp_path)
    answerer = Answerer("allow_once")
    async with connect(env, mode, answerer) as client:
        first = await client.call_tool("fx__add", {"a": 2, "b": 3})
        assert not first.is_error, result_text(first)
        assert first.structured_content == {"sum": 5.0}
        assert answerer.asked == 1
        assert "fx__add" in answerer.questions[0] and ADD_WHY in answerer.questions[0]
        assert [c["arguments"] for c in env.calls("add")] == [{"a": 2, "b": 3}]

        second = await client.call_tool("fx__add", {"a": 2, "b": 3})
        assert not second.is_error, result_text(second)
        assert answerer.asked == 2  # "once" is no grant: the identical call is asked again
        assert len(env.calls("add")) == 2


@pytest.mark.parametrize("mode", ERAS)
async def test_allow_session_covers_identical_calls_only(tmp_path: Path, mode: str) -> None:
    env = make_env(tmp_path)
    answerer = Answerer("allow_session")
    async with connect(env, mode, answerer) as client:
        for _ in range(3):
            result = await client.call_tool("fx__add", {"a": 1, "b": 1})
            assert not result.is_error, result_text(result)
        assert answerer.asked == 1

        other = await client.call_tool("fx__add", {"a": 1, "b": 2})
        assert not other.is_error, result_text(other)
        assert answerer.asked == 2  # different arguments: a new question
        assert [c["arguments"] for c in env.calls("add")] == [{"a": 1, "b": 1}] * 3 + [{"a": 1, "b": 2}]


@pytest.mark.parametrize("mode", ERAS)
async def test_allow_always_writes_a_rule_that_survives_a_restart(tmp_path: Path, mode: str) -> None:
    env = make_env(tmp_path)
    answerer = Answerer("allow_always")
    async with connect(env, mode, answerer) as client:
        result = await client.call_tool("fx__add", {"a": 4, "b": 5})
        assert not result.is_error, result_text(result)
        assert answerer.asked == 1

    assert env.always_file.exists(), "the always-allow answer was not written"
    data = YAML(typ="safe").load(env.always_file.read_text(encoding="utf-8"))
    rules = data["rules"]
    assert len(rules) == 1
    assert rules[0]["decision"] == "allow"
    assert rules[0]["match"]["upstream"] == "fx" and rules[0]["match"]["tool"] == "add"

    # A new gateway process on the same state dir: the rule is loaded, nobody is asked.
    later = Answerer("deny")
    async with connect(env, mode, later) as client:
        again = await client.call_tool("fx__add", {"a": 4, "b": 5})
        assert not again.is_error, result_text(again)
        assert later.asked == 0
        # The grant is for these arguments only.
        other = await client.call_tool("fx__add", {"a": 4, "b": 6})
        assert other.is_error
        assert later.asked == 1
    assert [c["arguments"] for c in env.calls("add")] == [{"a": 4, "b": 5}, {"a": 4, "b": 5}]


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("how", ["deny", "decline"])
async def test_refusal_is_not_forwarded_and_explains_why(tmp_path: Path, mode: str, how: str) -> None:
    env = make_env(tmp_path)
    if how == "deny":
        answerer = Answerer("deny", reason="not today")
    else:
        answerer = Answerer(action="decline")
    async with connect(env, mode, answerer) as client:
        result = await client.call_tool("fx__add", {"a": 7, "b": 8})
        assert result.is_error
        text = result_text(result)
        assert ADD_WHY in text
        if how == "deny":
            assert "The user denied this call." in text and "not today" in text
        else:
            assert "The user declined this call." in text
        assert answerer.asked == 1
        # The session still works: an allowed call goes through.
        echo = await client.call_tool("fx__echo", {"text": "still here"})
        assert result_text(echo) == "still here"
    assert env.calls("add") == []
    assert [c["tool"] for c in env.calls()] == ["echo"]
