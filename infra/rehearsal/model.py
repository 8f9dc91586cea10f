"""A read-only view of a captured run, built from the preview's JSON document (no pulumi import).

The same document comes from `python -m infra.preview --json` (saved or live) and from
`infra.offline.preview.as_json(run)`, so a rehearsal can run on a preview captured elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str
    inputs: Mapping[str, Any]
    options: Mapping[str, Any]

    @property
    def custom(self) -> bool:
        """Components (`rollout:...`) and the stack are not cloud resources; everything else is."""
        return not self.type.startswith("rollout:") and self.type != "pulumi:pulumi:Stack"

    @property
    def dependencies(self) -> frozenset[str]:
        """Every URN the engine waits for before creating this one (dependsOn and input dependencies)."""
        deps = set(self.options.get("dependsOn") or ())
        for urns in (self.options.get("propertyDependencies") or {}).values():
            deps.update(urns)
        return frozenset(deps)

    @property
    def protect(self) -> bool:
        return bool(self.options.get("protect"))

    @property
    def custom_timeouts(self) -> Mapping[str, str]:
        """`{"create": "30m", ...}` as the engine gets it ({} when the provider's defaults apply)."""
        return self.options.get("customTimeouts") or {}

    def annotation(self, key: str) -> str | None:
        return (self.inputs.get("metadata") or {}).get("annotations", {}).get(key)


@dataclass(frozen=True)
class RunView:
    stack: str
    resources: tuple[Resource, ...]
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RunView:
        return cls(stack=document.get("stack", ""), outputs=document.get("outputs") or {},
                   resources=tuple(Resource(urn=r["urn"], type=r["type"], name=r["name"],
                                            parent=r.get("parent") or "", inputs=r.get("inputs") or {},
                                            options=r.get("options") or {})
                                   for r in document.get("resources", ())))

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    @cached_property
    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def ancestors(self, resource: Resource) -> Iterable[Resource]:
        node = self.by_urn.get(resource.parent)
        while node is not None:
            yield node
            node = self.by_urn.get(node.parent)

    def region_of(self, resource: Resource) -> str | None:
        """The region name of the `rollout:region:Region` component above the resource, if any."""
        for node in self.ancestors(resource):
            if node.type == "rollout:region:Region":
                return node.name
        return None

    def transitive_dependencies(self, resource: Resource) -> frozenset[str]:
        """Everything created before `resource` in any engine schedule: dependencies, their
        dependencies, and (as the engine does) the dependencies of its parents' components."""
        seen: set[str] = set()
        stack = list(resource.dependencies)
        while stack:
            urn = stack.pop()
            if urn in seen:
                continue
            seen.add(urn)
            dep = self.by_urn.get(urn)
            if dep is None:
                continue
            stack.extend(dep.dependencies)
            if not dep.custom:  # waiting on a component means waiting on all its children
                stack.extend(c.urn for c in self.resources if c.parent == urn)
        return frozenset(seen)
