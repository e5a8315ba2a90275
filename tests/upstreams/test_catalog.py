"""The merged catalogue: namespacing, tool filters, hidden arguments, collisions and resource routing."""

from __future__ import annotations

import mcp_types as types

from gateway.config.models import StdioUpstream
from gateway.upstreams.catalog import UpstreamView, build_catalog


def _tool(name: str, **props: object) -> types.Tool:
    schema = {"type": "object", "properties": {k: {"type": "string"} for k in props}, "required": list(props)}
    return types.Tool(name=name, input_schema=schema)


def _view(name: str, tools: list[types.Tool], **spec: object) -> UpstreamView:
    return UpstreamView(
        name=name,
        spec=StdioUpstream.model_validate({"command": "x", **spec}),
        tools=tools,
        prompts=[types.Prompt(name="greet")],
        resources=[types.Resource(uri=f"{name}://readme", name="readme")],
        templates=[types.ResourceTemplate(uri_template=f"{name}://items/{{id}}", name="item")],
    )


def test_prefixes_filters_and_hidden_arguments() -> None:
    cat = build_catalog(
        [
            _view("git", [_tool("status"), _tool("push"), _tool("log")], disabled_tools=["push"]),
            _view("gh", [_tool("issue", api_key="", title="")], hidden_arguments={"api_key": "k"}, prefix="hub"),
            _view("fs", [_tool("read"), _tool("write")], enabled_tools=["read*"], prefix="none"),
        ]
    )
    assert sorted(cat.tools) == ["git__log", "git__status", "hub__issue", "read"]
    route = cat.tools["hub__issue"]
    assert (route.upstream, route.name) == ("gh", "issue")
    assert route.tool.input_schema["properties"] == {"title": {"type": "string"}}
    assert route.tool.input_schema["required"] == ["title"]
    assert sorted(cat.prompts) == ["git__greet", "greet", "hub__greet"]


def test_name_collision_keeps_the_first_upstream_by_name() -> None:
    cat = build_catalog([_view("b", [_tool("same")], prefix="none"), _view("a", [_tool("same")], prefix="none")])
    assert cat.tools["same"].upstream == "a"


def test_resources_route_by_uri_and_template() -> None:
    cat = build_catalog([_view("one", []), _view("two", [])])
    assert cat.route_resource("one://readme") == "one"
    assert cat.route_resource("two://items/42") == "two"
    assert cat.route_resource("two://items/42/extra") is None
    assert cat.route_resource("three://readme") is None
    assert cat.template_owner("one://items/{id}") == "one"
