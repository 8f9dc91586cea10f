"""Run a Pulumi program under mocks and capture what the engine would see.

The recording monitor keeps every registration in the engine's wire form (camelCase property
names, secrets and unknowns marked), so the offline preview, the tests and the offline policy
check all look at the same data a real `pulumi preview` sends to its analyzers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import config as runtime_config
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.offline.gc_policy import quiet_collector
from infra.offline.mockcloud import MockCloud

SECRET = "[secret]"
UNKNOWN = "[unknown]"


@dataclass(frozen=True)
class CapturedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    protect: bool
    provider: str
    inputs: dict[str, Any]  # wire form, secrets replaced by "[secret]"
    wire: struct_pb2.Struct = field(repr=False, compare=False)  # untouched, for the policy analyzer
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool = False
    replace_on_changes: tuple[str, ...] = ()
    retain_on_delete: bool = False
    custom_timeouts: dict[str, str] = field(default_factory=dict, compare=False)  # {"create": "30m", ...}
    hooks: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)  # {"beforeCreate": (name,)}

    def options(self) -> dict[str, Any]:
        """The resource options that decide what a real `pulumi up` does on a change (replace, ignore,
        order), in the engine's spelling."""
        return {"protect": self.protect, "ignoreChanges": list(self.ignore_changes),
                "deleteBeforeReplace": self.delete_before_replace,
                "replaceOnChanges": list(self.replace_on_changes), "retainOnDelete": self.retain_on_delete,
                "customTimeouts": dict(self.custom_timeouts),
                "dependsOn": list(self.dependencies),
                "propertyDependencies": {k: list(v) for k, v in sorted(self.property_dependencies.items()) if v},
                "provider": self.provider or None,
                **({"hooks": {k: list(v) for k, v in self.hooks.items()}} if self.hooks else {})}

    def depends_on(self, urn: str) -> bool:
        """True if the engine orders this resource after `urn` (explicit or through an input)."""
        return urn in self.dependencies or any(urn in v for v in self.property_dependencies.values())

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent or None,
                "inputs": self.inputs, "options": self.options()}


@dataclass(frozen=True)
class CapturedRun:
    project: str
    stack: str
    resources: tuple[CapturedResource, ...]
    outputs: dict[str, Any]  # secrets replaced by "[secret]"

    def of_type(self, typ: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type == typ]

    def children_of(self, urn: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.parent == urn]


def sanitize(value: Any) -> Any:
    """Wire value -> JSON value with every secret replaced and unknowns marked."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return SECRET
        if sig == rpc._special_resource_sig:
            return value.get("urn")
        if sig == rpc._special_output_value_sig:
            if value.get("secret"):
                return SECRET
            return sanitize(value["value"]) if "value" in value else UNKNOWN
        if sig in (rpc._special_asset_sig, rpc._special_archive_sig):
            return "[asset]"
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double; show counts as counts
    return value


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also remembers every registration in order."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.captured: list[CapturedResource] = []

    def RegisterResource(self, request):  # the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            wire = struct_pb2.Struct()
            wire.CopyFrom(request.object)
            self.captured.append(CapturedResource(
                urn=response.urn, type=request.type, name=request.name, parent=request.parent,
                custom=request.custom, protect=request.protect, provider=request.provider,
                inputs=sanitize(json_format.MessageToDict(request.object)), wire=wire,
                dependencies=tuple(request.dependencies),
                property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
                ignore_changes=tuple(request.ignoreChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                replace_on_changes=tuple(request.replaceOnChanges),
                retain_on_delete=bool(request.retainOnDelete),
                custom_timeouts={k: v for k in ("create", "update", "delete")
                                 if (v := getattr(request.customTimeouts, k))},
                hooks={"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))): tuple(v)
                       for k in ("before_create", "before_update", "before_delete")
                       if (v := getattr(request.hooks, k))},
            ))
        return response


def engine_config(project: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Config the way the engine hands it to a program: `project:key` -> text (JSON for objects)."""
    out = {}
    for key, value in values.items():
        full = key if ":" in key else f"{project}:{key}"
        out[full] = value if isinstance(value, str) else json.dumps(value)
    return out


def run_mocked(program: Callable[[], Any], *, stack: str = "test", project: str = "global-ai-rollout",
               config: Mapping[str, Any] | None = None,
               mocks: pulumi.runtime.Mocks | None = None) -> CapturedRun:
    """Run `program` in a fresh mocked runtime; return every registration and the stack outputs.

    Fresh state each call (root stack, config, RPC bookkeeping), so tests do not leak into each other.
    Exceptions from the program propagate unchanged.
    """
    settings.reset_options(project=project, stack=stack)
    runtime_config.set_all_config(engine_config(project, config or {}), [])
    monitor = RecordingMonitor(mocks or MockCloud())
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    root = settings.get_root_resource()
    resolved: dict[str, Any] = {}

    async def body() -> None:
        program()
        for key, value in dict(getattr(root, "outputs", {})).items():
            out = pulumi.Output.from_input(value)
            plain = await out.future(with_unknowns=True)
            resolved[key] = SECRET if await out.is_secret() else _plain(plain)

    with quiet_collector():
        _sync_await(run_pulumi_func(body))
    return CapturedRun(project=project, stack=stack, resources=tuple(monitor.captured), outputs=resolved)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return UNKNOWN if type(value).__name__ == "Unknown" else str(value)
