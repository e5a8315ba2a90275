"""Editing ``upstreams.yaml`` in place: round-trip (comments and key order kept), validated, atomic, locked.

Every edit runs as one transaction: take ``<config>.lock``, parse the file with ruamel.yaml's round-trip loader,
apply the change, render the new text, validate that text exactly as the gateway will load it, and only then
replace the file atomically (temp file in the same folder, fsync, ``os.replace``). An edit that would make the
file invalid raises ConfigError and leaves the file untouched, byte for byte.

These functions block (file I/O, lock waits): from async code call them via ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from filelock import FileLock, Timeout
from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from gateway._files import atomic_write_text
from gateway.config.loader import LoadedConfig, validate_config_data
from gateway.errors import ConfigError

__all__ = [
    "LOCK_TIMEOUT",
    "NEW_FILE_HEADER",
    "EditResult",
    "add_upstream",
    "atomic_write_text",
    "edit_config",
    "lock_path",
    "remove_upstream",
    "set_key",
    "set_enabled",
    "to_yaml_node",
    "update_upstream",
]

LOCK_TIMEOUT = 10.0
"""Seconds to wait for another edit to finish before giving up."""

NEW_FILE_HEADER = """\
# upstreams.yaml: the MCP servers behind mcp-gateway.
# Edit by hand or with `mcp-gateway upstreams add|remove|enable|disable|import`;
# a running gateway reloads this file when it changes.
# Keep secrets out of this file: write {secret: NAME} and store the value with
# `mcp-gateway creds set NAME` (it goes to the OS keyring).
upstreams: {}
"""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EditResult(Generic[T]):
    """What an edit did: the mutation's own return value, the validated result and the new file text."""

    value: T
    config: LoadedConfig
    text: str
    changed: bool


def lock_path(config_path: Path) -> Path:
    """The lock file that serializes edits of ``config_path``."""
    return config_path.with_name(config_path.name + ".lock")


def edit_config(
    path: Path,
    mutate: Callable[[CommentedMap], T],
    *,
    create: bool = False,
    dry_run: bool = False,
) -> EditResult[T]:
    """Apply ``mutate`` to the round-trip document of ``path`` and write the result if it is valid.

    ``mutate`` changes the document in place (it may raise ConfigError to abort). With ``create`` a missing file
    starts from NEW_FILE_HEADER; with ``dry_run`` everything but the write happens.
    """
    path = path.expanduser().resolve()
    if create and not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
    if dry_run:  # writes are atomic, so a reader needs no lock
        return _transaction(path, mutate, create=create, dry_run=True)
    try:
        with FileLock(lock_path(path), timeout=LOCK_TIMEOUT):
            return _transaction(path, mutate, create=create, dry_run=dry_run)
    except Timeout:
        raise ConfigError(
            f"another edit is in progress (lock file {lock_path(path)} held for {LOCK_TIMEOUT:.0f}s); try again",
            path=str(path),
        ) from None


def _transaction(path: Path, mutate: Callable[[CommentedMap], T], *, create: bool, dry_run: bool) -> EditResult[T]:
    try:
        old_text: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not create:
            raise ConfigError(
                "file not found; pass --config PATH or add an upstream to create it", path=str(path)
            ) from None
        old_text = None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", path=str(path)) from None
    yaml, doc = _parse(old_text if old_text is not None else NEW_FILE_HEADER, path)
    value = mutate(doc)
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    new_text = buffer.getvalue()
    # Validate the exact text about to be written, parsed the way the gateway parses it.
    try:
        parsed = YAML(typ="safe", pure=True).load(new_text)
    except YAMLError as exc:  # a bug here, not the user's; still never write it
        raise ConfigError(f"the edited file would not parse ({exc}); nothing was written", path=str(path)) from None
    config = LoadedConfig(path=path, file=validate_config_data(parsed, path))
    changed = new_text != old_text
    if changed and not dry_run:
        atomic_write_text(path, new_text)
    return EditResult(value=value, config=config, text=new_text, changed=changed)


def _parse(text: str, path: Path) -> tuple[YAML, CommentedMap]:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines the user wrote
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"YAML syntax error: {problem}; fix it before editing", path=str(path), location=where
        ) from None
    mapping, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=max(offset + 2, mapping), offset=offset)
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ConfigError("the top level must be a mapping with an 'upstreams:' key", path=str(path))
    return yaml, doc


def _guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, dash offset of block sequences) as the file already uses them; defaults 2 and 2."""
    mapping: int | None = None
    offset: int | None = None
    parent = 0
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        column = len(line) - len(stripped)
        if stripped.startswith("- "):
            if offset is None and column >= parent:
                offset = column - parent
            continue
        if mapping is None and column > parent and stripped[0] not in "]}":
            mapping = column - parent
        if mapping is not None and offset is not None:
            break
        parent = column
    return mapping or 2, 2 if offset is None else offset


def to_yaml_node(value: Any) -> Any:
    """Plain data -> round-trip nodes; ``{secret: ...}`` references are written inline (flow style)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_defaults=True)
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[str(key)] = to_yaml_node(item)
        if "secret" in node and set(node) <= {"secret", "template"}:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq()
        seq.extend(to_yaml_node(item) for item in value)
        return seq
    return value


def _upstreams(doc: CommentedMap, *, create: bool) -> CommentedMap:
    ups = doc.get("upstreams")
    if ups is None:
        if not create:
            return CommentedMap()
        ups = CommentedMap()
        doc["upstreams"] = ups
    if not isinstance(ups, CommentedMap):
        raise ConfigError("'upstreams:' must be a mapping of name -> settings")
    return ups


def _comment_slot(node: Any) -> tuple[list[Any], int] | None:
    """Where ruamel keeps the comments that follow ``node``'s last line (deepest last item first)."""
    if not isinstance(node, CommentedMap | CommentedSeq) or not node:
        return None
    key: Any = next(reversed(node)) if isinstance(node, CommentedMap) else len(node) - 1
    deeper = _comment_slot(node[key])
    if deeper is not None and deeper[0][deeper[1]] is not None:
        return deeper
    index = 2 if isinstance(node, CommentedMap) else 0
    slot: list[Any] = node.ca.items.setdefault(key, [None, None, None, None])
    if slot[index] is not None or deeper is None:
        return slot, index
    return deeper


def _take_following(node: Any) -> str:
    """Detach the full comment lines after ``node`` (keeping its own end-of-line comment)."""
    found = _comment_slot(node)
    if found is None or found[0][found[1]] is None:
        return ""
    slot, index = found
    text = str(slot[index].value)
    newline = text.find("\n")
    if newline < 0:
        return ""
    own, following = text[: newline + 1], text[newline + 1 :]
    if own.strip():
        slot[index].value = own
    else:
        slot[index] = None
    return following


def _give_following(node: Any, following: str) -> bool:
    """Attach comment lines after ``node``'s last line; False if ``node`` cannot hold comments."""
    found = _comment_slot(node)
    if found is None:
        return False
    slot, index = found
    if slot[index] is None:
        slot[index] = CommentToken("\n", CommentMark(0), None)
    slot[index].value = str(slot[index].value) + following
    return True


def set_key(mapping: CommentedMap, key: str, value: Any) -> None:
    """Set ``mapping[key]`` keeping the comment lines that follow it (or the mapping) where they were."""
    # ruamel keeps the comment lines that follow an item (e.g. the next entry's heading) inside that item's last
    # line; a plain append or replace would put the new key after them, or drop them. Carry them over instead.
    following = _take_following(mapping[key]) if key in mapping else _take_following(mapping)
    mapping[key] = value
    if not following.strip() or _give_following(value, following):
        return
    slot = mapping.ca.items.setdefault(key, [None, None, None, None])
    if slot[2] is None:
        slot[2] = CommentToken("\n", CommentMark(0), None)
    slot[2].value = str(slot[2].value) + following


def _delete_keeping_comments(ups: CommentedMap, name: str) -> None:
    keys = list(ups)
    position = keys.index(name)
    following = _take_following(ups[name])
    del ups[name]
    if not following.strip():
        return
    if position > 0 and _give_following(ups[keys[position - 1]], following):
        return
    if ups.ca.comment is None:
        ups.ca.comment = [None, []]
    if ups.ca.comment[1] is None:
        ups.ca.comment[1] = []
    for line in following.splitlines(keepends=True):
        ups.ca.comment[1].append(CommentToken(line, CommentMark(0), None))


def _require(ups: CommentedMap, name: str, path: Path) -> CommentedMap:
    if name not in ups:
        known = ", ".join(sorted(str(k) for k in ups)) or "none"
        raise ConfigError(f"no upstream named '{name}' (known upstreams: {known})", path=str(path))
    spec = ups[name]
    if not isinstance(spec, CommentedMap):
        raise ConfigError(f"upstream '{name}' is not a mapping; fix it by hand first", path=str(path))
    return spec


def add_upstream(
    path: Path, name: str, spec: Mapping[str, Any], *, replace: bool = False, dry_run: bool = False
) -> EditResult[None]:
    """Add upstream ``name`` with settings ``spec``; creates the file if needed.

    A name that exists already raises ConfigError unless ``replace`` (which keeps the entry's position).
    """
    path = path.expanduser().resolve()

    def mutate(doc: CommentedMap) -> None:
        ups = _upstreams(doc, create=True)
        if name in ups and not replace:
            raise ConfigError(
                f"upstream '{name}' already exists; remove it first, pass --replace, or choose another name",
                path=str(path),
            )
        if not ups:
            ups.fa.set_block_style()  # the new-file template writes `upstreams: {}`
        set_key(ups, name, to_yaml_node(spec))

    return edit_config(path, mutate, create=True, dry_run=dry_run)


def remove_upstream(path: Path, name: str) -> EditResult[None]:
    """Remove upstream ``name``. Unknown names raise ConfigError listing the known ones."""
    path = path.expanduser().resolve()

    def mutate(doc: CommentedMap) -> None:
        ups = _upstreams(doc, create=False)
        _require(ups, name, path)
        _delete_keeping_comments(ups, name)

    return edit_config(path, mutate)


def set_enabled(path: Path, name: str, enabled: bool) -> EditResult[bool]:
    """Enable or disable upstream ``name``. The result's ``value`` is its previous state."""
    path = path.expanduser().resolve()

    def mutate(doc: CommentedMap) -> bool:
        spec = _require(_upstreams(doc, create=False), name, path)
        previous = spec.get("enabled", True) is not False
        if enabled and "enabled" not in spec:
            return previous  # enabled is the default: nothing to write
        set_key(spec, "enabled", enabled)
        return previous

    return edit_config(path, mutate)


def update_upstream(path: Path, name: str, changes: Mapping[str, Any]) -> EditResult[None]:
    """Set top-level keys of upstream ``name``; a value of ``None`` deletes the key."""
    path = path.expanduser().resolve()

    def mutate(doc: CommentedMap) -> None:
        spec = _require(_upstreams(doc, create=False), name, path)
        for key, value in changes.items():
            if value is None:
                spec.pop(key, None)
            else:
                set_key(spec, key, to_yaml_node(value))

    return edit_config(path, mutate)
