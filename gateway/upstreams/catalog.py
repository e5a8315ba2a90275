"""The aggregated view clients see: exposed names, filters, hidden arguments, and routing back to upstreams."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import mcp_types as types
import structlog

from gateway.config.models import PREFIX_SEPARATOR, HttpUpstream, StdioUpstream
from gateway.credentials.resolve import strip_hidden_arguments

__all__ = ["Catalog", "ToolRoute", "build_catalog", "expose", "tool_visible"]

log = structlog.get_logger("gateway.catalog")


@dataclass(frozen=True, slots=True)
class ToolRoute:
    upstream: str
    name: str  # the upstream's own name
    tool: types.Tool  # as exposed (renamed, hidden arguments removed)


@dataclass(slots=True)
class Catalog:
    tools: dict[str, ToolRoute] = field(default_factory=dict)
    prompts: dict[str, tuple[str, str, types.Prompt]] = field(default_factory=dict)
    resources: dict[str, tuple[str, types.Resource]] = field(default_factory=dict)
    templates: list[tuple[str, re.Pattern[str], types.ResourceTemplate]] = field(default_factory=list)

    def route_resource(self, uri: str) -> str | None:
        hit = self.resources.get(uri)
        if hit is not None:
            return hit[0]
        for upstream, pattern, _tpl in self.templates:
            if pattern.fullmatch(uri):
                return upstream
        return None

    def template_owner(self, uri_template: str) -> str | None:
        for upstream, _pattern, tpl in self.templates:
            if tpl.uri_template == uri_template:
                return upstream
        return None


def expose(namespace: str | None, name: str) -> str:
    return name if namespace is None else f"{namespace}{PREFIX_SEPARATOR}{name}"


def tool_visible(spec: StdioUpstream | HttpUpstream, name: str) -> bool:
    if spec.enabled_tools is not None and not any(fnmatch.fnmatchcase(name, p) for p in spec.enabled_tools):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in spec.disabled_tools)


def _template_regex(uri_template: str) -> re.Pattern[str]:
    # RFC 6570 level 1 is what servers use in practice: {var} matches one path segment's worth of text.
    parts = re.split(r"(\{[^}]*\})", uri_template)
    rx = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(rx)


@dataclass(frozen=True, slots=True)
class UpstreamView:
    """What the catalog needs from a live upstream."""

    name: str
    spec: StdioUpstream | HttpUpstream
    tools: list[types.Tool]
    prompts: list[types.Prompt]
    resources: list[types.Resource]
    templates: list[types.ResourceTemplate]


def build_catalog(views: Iterable[UpstreamView]) -> Catalog:
    """Merge upstreams in name order; a name two upstreams both expose is kept for the first and logged."""
    cat = Catalog()
    for view in sorted(views, key=lambda v: v.name):
        ns = view.spec.namespace(view.name)
        hidden = list(view.spec.hidden_arguments)
        for tool in view.tools:
            if not tool_visible(view.spec, tool.name):
                continue
            exposed = expose(ns, tool.name)
            if exposed in cat.tools:
                other = cat.tools[exposed].upstream
                log.error(
                    "tool name collision: exposed by two upstreams; give one a prefix",
                    tool=exposed,
                    kept=other,
                    dropped=view.name,
                )
                continue
            schema = strip_hidden_arguments(tool.input_schema, hidden) if hidden else tool.input_schema
            cat.tools[exposed] = ToolRoute(
                view.name, tool.name, tool.model_copy(update={"name": exposed, "input_schema": schema})
            )
        for prompt in view.prompts:
            exposed = expose(ns, prompt.name)
            if exposed in cat.prompts:
                log.error("prompt name collision", prompt=exposed, kept=cat.prompts[exposed][0], dropped=view.name)
                continue
            cat.prompts[exposed] = (view.name, prompt.name, prompt.model_copy(update={"name": exposed}))
        for res in view.resources:
            if res.uri in cat.resources:
                log.error("resource URI collision", uri=res.uri, kept=cat.resources[res.uri][0], dropped=view.name)
                continue
            cat.resources[res.uri] = (view.name, res)
        for tpl in view.templates:
            cat.templates.append((view.name, _template_regex(tpl.uri_template), tpl))
    return cat
