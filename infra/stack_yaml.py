"""Read a stack file's YAML strictly: a key given twice, at any depth, is an error, not "last one wins".

PyYAML's safe loader keeps the last of duplicated keys silently (a prod file that says `environment`
twice becomes whatever the second says). This loader records every duplicate with both line numbers
and the caller reports them all at once. Merge keys (`<<: *anchor`) may still be overridden.

Two more ways YAML surprises its reader are refused here, before any value is built:
- Aliases are bounded before expansion. The composed document is a graph in which an alias is the same
  node again, so a "billion laughs" file is small to compose and only explodes when something walks it
  as a tree (validation, error messages). The tree size is counted on the graph (each node once,
  memoised) and a document that would expand past MAX_EXPANDED_NODES is refused in milliseconds, with
  a message that quotes no value.
- YAML 1.1 booleans. PyYAML reads `yes`/`no`/`on`/`off` as booleans; the Pulumi CLI (YAML 1.2 rules)
  reads them as text, so the two paths would disagree on the same file. Only `true`/`false` are booleans
  here; the other spellings are refused with the key and line, to be written as true/false or quoted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_STACK_FILE_BYTES = 5_000_000
MAX_EXPANDED_NODES = 200_000  # a real stack file has a few hundred; aliases may not multiply it past this
YAML12_BOOLEANS = ("true", "True", "TRUE", "false", "False", "FALSE")


class StackFileError(Exception):
    """The file cannot be read as a stack file; `problems` names each reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[str] = []
        self.keys: dict[int, Any] = {}  # id(value node) -> its key, for messages about values


class RecursiveAlias(Exception):
    """An alias inside the node it names: the tree would be infinite."""

    def __init__(self, where: str):
        super().__init__(where)
        self.where = where


def expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes the document has as a tree (aliases expanded), counted on the graph (each node once,
    memoised); stops past `limit`. Raises RecursiveAlias for an alias inside the node it names."""
    memo: dict[int, int] = {}
    active: set[int] = set()
    keys: dict[int, str] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in memo:
            continue
        if isinstance(node, yaml.ScalarNode):
            memo[id(node)] = 1
            continue
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    keys.setdefault(id(value_node), key_node.value[:80])
            children = [n for pair in node.value for n in pair]
        else:
            children = list(node.value)
        if not children_done:
            if id(node) in active:
                continue
            active.add(id(node))
            stack.append((node, True))
            for child in children:
                if id(child) in active:
                    key = keys.get(id(child))
                    raise RecursiveAlias(f"line {child.start_mark.line + 1}" + (f", key {key!r}" if key else ""))
                if id(child) not in memo:
                    stack.append((child, False))
            continue
        active.discard(id(node))
        total = 1 + sum(memo.get(id(c), 0) for c in children)
        memo[id(node)] = min(total, limit + 1)
        if total > limit:
            return total
    return memo.get(id(root), 0)


def _construct_bool(loader: _StrictLoader, node: yaml.ScalarNode) -> bool:
    if node.value not in YAML12_BOOLEANS:
        key = loader.keys.get(id(node))
        where = f"key {key!r}: " if key is not None else ""
        loader.duplicates.append(
            f"line {node.start_mark.line + 1}: {where}{node.value!r} is a boolean only in YAML 1.1 (PyYAML) and "
            "text in YAML 1.2 (the Pulumi CLI); write true or false, or quote it if it is text")
    return yaml.SafeLoader.construct_yaml_bool(loader, node)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            ) from None
        line = key_node.start_mark.line + 1
        loader.keys[id(value_node)] = key
        if key in seen:
            loader.duplicates.append(f"line {line}: key {key!r} is given twice (first on line {seen[key]}); "
                                     "YAML would keep only the last one")
        else:
            seen[key] = line
    loader.flatten_mapping(node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def parse_stack_yaml(text: str) -> Any:
    """The document in `text`; raises StackFileError on syntax errors and duplicated keys."""
    try:
        loader = _StrictLoader(text)  # the reader rejects control characters here
    except yaml.YAMLError as exc:
        raise StackFileError([f"not valid YAML: {' '.join(str(exc).split())}"]) from None
    try:
        node = loader.get_single_node()
        if node is not None:
            try:
                size = expanded_size(node, MAX_EXPANDED_NODES)
            except RecursiveAlias as exc:
                raise StackFileError([f"{exc.where}: an alias inside the value it names (a recursive alias): "
                                      "the value would be infinite"]) from None
            if size > MAX_EXPANDED_NODES:
                raise StackFileError([f"aliases expand the document to more than {MAX_EXPANDED_NODES:,} values "
                                      "(a stack file has a few hundred); refused before expanding them"])
        document = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = "; ".join(x for x in (exc.context, exc.problem) if x)
        raise StackFileError([f"not valid YAML{where}: {what}"]) from None
    except yaml.YAMLError as exc:
        raise StackFileError([f"not valid YAML: {' '.join(str(exc).split())}"]) from None
    except RecursionError:
        raise StackFileError(["not valid YAML: nested too deeply"]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise StackFileError(loader.duplicates)
    return document


def load_stack_yaml(path: Path) -> Any:
    """Read and parse a stack file; every way it can fail is a StackFileError."""
    try:
        if path.stat().st_size > MAX_STACK_FILE_BYTES:
            raise StackFileError([f"larger than {MAX_STACK_FILE_BYTES} bytes; not a stack file"])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StackFileError(["no such stack file"]) from None
    except IsADirectoryError:
        raise StackFileError(["is a directory, not a stack file"]) from None
    except UnicodeDecodeError as exc:
        raise StackFileError([f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise StackFileError([f"cannot be read: {exc.strerror or exc}"]) from None
    return parse_stack_yaml(text)
