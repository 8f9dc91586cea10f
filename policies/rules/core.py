"""The small vocabulary every rule is written in, independent of the policy SDK.

A rule's core is a plain function of a `Resource` (type, props, protect, ...) and its config that
yields violation messages, so tests call it with ordinary dicts. `Rule.policy()` / `StackRule.policy()`
wrap that function in the pulumi_policy object the served pack registers.

Unknowns: during `pulumi preview` a value computed from another resource's output arrives as one of
the engine's unknown sentinels (pulumi_policy.proxy). `plain()` turns them into `UNKNOWN`, and rules
treat an unknown deciding value as "cannot tell yet": no violation, never an exception.

Secrets: the Python analyzer unwraps secret markers before a rule sees `props`
(`deserialize_properties(..., proxy_secrets=False)` in pulumi_policy/policy.py, Analyze and
AnalyzeStack), so "is this value a secret?" cannot be asked of `props`. Rules that care about
secrets check where the value comes from instead (see rules/secrets.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY
LOW, MEDIUM, HIGH, CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL


class _Unknown:
    """A value the engine cannot know before the update (an output of another resource)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
ENGINE_UNKNOWNS = frozenset({UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
                             UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE})


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN or (isinstance(value, str) and value in ENGINE_UNKNOWNS)


def plain(value: Any) -> Any:
    """pulumi_policy's unknown-checking proxies (or plain data) -> dicts/lists with `UNKNOWN` marks."""
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for i in range(len(value)):
            try:
                items.append(plain(value[i]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def get(props: Any, path: str, default: Any = None) -> Any:
    """`get(props, "vpcConfig.endpointPublicAccess")`; UNKNOWN as soon as a step is unknown."""
    node = props
    for step in path.split("."):
        if is_unknown(node):
            return UNKNOWN
        if not isinstance(node, Mapping) or step not in node or node[step] is None:
            return default
        node = node[step]
    return UNKNOWN if is_unknown(node) else node


def as_list(value: Any) -> list[Any]:
    """A list property that may be absent (-> []) or unknown (-> [UNKNOWN])."""
    if value is None:
        return []
    if is_unknown(value):
        return [UNKNOWN]
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass(eq=False)
class Resource:
    """What a rule sees of one resource: the engine's camelCase props plus the options that matter."""

    type: str
    props: Mapping[str, Any]
    urn: str = ""
    name: str = ""
    protect: bool = False
    parent: Resource | None = None
    dependencies: list[Resource] = field(default_factory=list)
    property_dependencies: dict[str, list[Resource]] = field(default_factory=dict)

    def ancestors(self) -> Iterator[Resource]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def depends_on(self, prop: str) -> list[Resource]:
        """Resources a property was computed from: per property when the engine says, else all dependencies.

        The engine sends propertyDependencies in AnalyzeStack; the offline check sends only the resource's
        dependencies (the captured run does not record them per property), so both paths use the union
        when the per-property map is empty.
        """
        if self.property_dependencies:
            return list(self.property_dependencies.get(prop, []))
        return list(self.dependencies)


def stack_name(resources: Iterable[Resource]) -> str:
    """The stack, from any URN (urn:pulumi:<stack>::<project>::...)."""
    for r in resources:
        if r.urn.startswith("urn:pulumi:"):
            return r.urn.split("::", 1)[0].removeprefix("urn:pulumi:")
    return ""


class NotApplicable(Exception):
    """Raised by a stack check that cannot judge this stack yet (reported, not a violation)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


Config = Mapping[str, Any]
ResourceCheck = Callable[[Resource, Config], Iterable[str]]
StackFinding = tuple[str, str | None]  # (message, urn or None for the whole stack)
StackCheck = Callable[[list[Resource], Config], Iterable[StackFinding]]


@dataclass(frozen=True)
class Param:
    """One tunable threshold: JSON schema for the engine, default for the rule."""

    type: str
    default: Any
    description: str

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type, "default": self.default, "description": self.description}
        if self.type == "array":
            sample = self.default[0] if self.default else ""
            schema["items"] = {"type": "integer" if isinstance(sample, int) else "string"}
        return schema


@dataclass(frozen=True)
class _RuleBase:
    name: str
    description: str
    enforcement: EnforcementLevel
    severity: Severity
    params: Mapping[str, Param]

    def config(self, given: Config | None = None) -> dict[str, Any]:
        return {**{k: p.default for k, p in self.params.items()}, **dict(given or {})}

    def _schema(self) -> PolicyConfigSchema | None:
        return PolicyConfigSchema({k: p.schema() for k, p in self.params.items()}) if self.params else None


@dataclass(frozen=True)
class Rule(_RuleBase):
    """A resource rule: checked on each resource of `resource_types` as it is registered (Analyze)."""

    resource_types: tuple[str, ...] = ()
    check: ResourceCheck = field(default=lambda r, c: ())

    def evaluate(self, resource: Resource, config: Config | None = None) -> list[str]:
        if resource.type not in self.resource_types:
            return []
        return list(self.check(resource, self.config(config)))

    def policy(self) -> ResourceValidationPolicy:
        def validate(args, report_violation) -> None:
            if args.resource_type not in self.resource_types:
                return
            resource = Resource(type=args.resource_type, props=plain_props(args.props), urn=args.urn, name=args.name,
                                protect=bool(args.opts.protect))
            for message in self.evaluate(resource, args.get_config()):
                report_violation(message, None)

        policy = ResourceValidationPolicy(name=self.name, description=self.description, validate=validate,
                                          enforcement_level=self.enforcement, severity=self.severity,
                                          config_schema=self._schema())
        policy.resource_types = self.resource_types  # what it reads: lets an offline runner skip the rest
        return policy


@dataclass(frozen=True)
class StackRule(_RuleBase):
    """A stack rule: checked once on every resource of the stack (AnalyzeStack)."""

    resource_types: tuple[str, ...] = ()  # what it reads, for the docs
    check: StackCheck = field(default=lambda rs, c: ())

    def evaluate(self, resources: list[Resource], config: Config | None = None) -> list[StackFinding]:
        return list(self.check(resources, self.config(config)))

    def policy(self) -> StackValidationPolicy:
        def validate(args, report_violation) -> None:
            resources = stack_resources(args.resources)
            try:
                findings = self.evaluate(resources, args.get_config())
            except NotApplicable as exc:
                args.not_applicable(exc.reason)
                return
            for message, urn in findings:
                report_violation(message, urn)

        return StackValidationPolicy(name=self.name, description=self.description, validate=validate,
                                     enforcement_level=self.enforcement, severity=self.severity,
                                     config_schema=self._schema())


_PLAIN_KEEP = 50_000  # converted property sets kept: a whole large stack, for every stack policy
_plain_props: OrderedDict[int, tuple[Any, Any]] = OrderedDict()


def plain_props(props: Any) -> Any:
    """`plain(props)`, converted once per props object: every stack policy of one analysis reads the
    same resources (the offline runner hands each policy the same property proxies; the engine's own
    analyzer builds new ones per policy, and then this is plain `plain`). The policies only read what
    they get. The entry keeps `props` alive, so its id cannot be reused while cached."""
    key = id(props)
    hit = _plain_props.get(key)
    if hit is not None and hit[0] is props:
        _plain_props.move_to_end(key)
        return hit[1]
    converted = plain(props)
    _plain_props[key] = (props, converted)
    if len(_plain_props) > _PLAIN_KEEP:
        _plain_props.popitem(last=False)
    return converted


def stack_resources(policy_resources: Sequence[Any]) -> list[Resource]:
    """pulumi_policy PolicyResource graph -> Resource graph (parents, dependencies kept as objects)."""
    by_id: dict[int, Resource] = {}
    for pr in policy_resources:
        by_id[id(pr)] = Resource(type=pr.resource_type, props=plain_props(pr.props), urn=pr.urn, name=pr.name,
                                 protect=bool(pr.opts.protect))
    for pr in policy_resources:
        r = by_id[id(pr)]
        r.parent = by_id.get(id(pr.parent)) if pr.parent is not None else None
        r.dependencies = [by_id[id(d)] for d in pr.dependencies if id(d) in by_id]
        r.property_dependencies = {k: [by_id[id(d)] for d in v if id(d) in by_id]
                                   for k, v in (pr.property_dependencies or {}).items()}
    return list(by_id.values())


def rule(name: str, description: str, *, enforcement: EnforcementLevel, severity: Severity,
         types: Iterable[str], params: Mapping[str, Param] | None = None) -> Callable[[ResourceCheck], Rule]:
    """Decorator: turn a check function into a `Rule` of the same module."""

    def wrap(check: ResourceCheck) -> Rule:
        return Rule(name=name, description=description, enforcement=enforcement, severity=severity,
                    params=dict(params or {}), resource_types=tuple(types), check=check)

    return wrap


def stack_rule(name: str, description: str, *, enforcement: EnforcementLevel, severity: Severity,
               reads: Iterable[str], params: Mapping[str, Param] | None = None) -> Callable[[StackCheck], StackRule]:
    def wrap(check: StackCheck) -> StackRule:
        return StackRule(name=name, description=description, enforcement=enforcement, severity=severity,
                         params=dict(params or {}), resource_types=tuple(reads), check=check)

    return wrap
