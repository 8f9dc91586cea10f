"""Small helpers the policy batteries use to break one property of a rendered resource."""

from __future__ import annotations

from collections.abc import Callable


def set_path(path: str, value) -> Callable[[dict], None]:
    """A mutation that sets `path` (dotted; digits index lists) in a resource's properties to `value`."""
    def mutate(props: dict) -> None:
        node = props
        *steps, last = path.split(".")
        for step in steps:
            node = node[int(step)] if isinstance(node, list) else node.setdefault(step, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return mutate
