"""Read a stack file's YAML strictly: a key given twice, at any depth, is an error, not "last one wins".

PyYAML's safe loader keeps the last of duplicated keys silently (a prod file that says `environment`
twice becomes whatever the second says). This loader records every duplicate with both line numbers
and the caller reports them all at once. Merge keys (`<<: *anchor`) may still be overridden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_STACK_FILE_BYTES = 5_000_000


class StackFileError(Exception):
    """The file cannot be read as a stack file; `problems` names each reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[str] = []


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
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
        if key in seen:
            loader.duplicates.append(f"line {line}: key {key!r} is given twice (first on line {seen[key]}); "
                                     "YAML would keep only the last one")
        else:
            seen[key] = line
    loader.flatten_mapping(node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_stack_yaml(text: str) -> Any:
    """The document in `text`; raises StackFileError on syntax errors and duplicated keys."""
    try:
        loader = _StrictLoader(text)  # the reader rejects control characters here
    except yaml.YAMLError as exc:
        raise StackFileError([f"not valid YAML: {' '.join(str(exc).split())}"]) from None
    try:
        document = loader.get_single_data()
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
