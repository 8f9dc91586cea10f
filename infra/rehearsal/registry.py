"""Rule registration and the one entry point that runs every registered rule.

A rule is a function `(ctx: Context) -> Iterable[Violation]`, registered with its stable id, the
stage it belongs to and the source of the fact it encodes:

    @rule("deploy/name-length", stage="deploy", source="https://...")
    def names_fit(ctx): ...

Rule modules are listed in `RULE_MODULES` and imported on first use.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infra.rehearsal.model import RunView
from infra.rehearsal.report import RehearsalReport, Violation

if TYPE_CHECKING:
    from infra.planning.plan import RolloutPlan

# Every module that registers rules. Stage packages list their own modules in their __init__.
RULE_MODULES: tuple[str, ...] = (
    "infra.rehearsal.deploy",
    "infra.rehearsal.incluster",
)


@dataclass(frozen=True)
class Context:
    run: RunView
    plan: RolloutPlan | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # facts a rule reports besides violations


@dataclass(frozen=True)
class Rule:
    id: str
    stage: str
    source: str
    check: Callable[[Context], Iterable[Violation]]
    doc: str = ""


_RULES: dict[str, Rule] = {}


def rule(rule_id: str, *, stage: str, source: str) -> Callable:
    """Register a rule under a stable id. `source` is where its fact comes from (URL or file@version)."""
    def register(fn: Callable[[Context], Iterable[Violation]]):
        if rule_id in _RULES and _RULES[rule_id].check.__qualname__ != fn.__qualname__:
            raise ValueError(f"rehearsal rule id {rule_id!r} registered twice")
        _RULES[rule_id] = Rule(id=rule_id, stage=stage, source=source, check=fn,
                               doc=(fn.__doc__ or "").strip().split("\n")[0])
        return fn
    return register


def registered_rules() -> dict[str, Rule]:
    for module in RULE_MODULES:
        importlib.import_module(module)
    return dict(_RULES)


def rehearse(document: Mapping[str, Any] | RunView, plan: RolloutPlan | None = None, *,
             stages: Iterable[str] | None = None) -> RehearsalReport:
    """Run every registered rule (optionally only some stages) over a captured run."""
    started = time.perf_counter()
    run = document if isinstance(document, RunView) else RunView.from_document(document)
    ctx = Context(run=run, plan=plan)
    wanted = set(stages) if stages is not None else None
    violations: list[Violation] = []
    ran: list[str] = []
    for rule_id, r in sorted(registered_rules().items()):
        if wanted is not None and r.stage not in wanted:
            continue
        ran.append(rule_id)
        for v in r.check(ctx):
            violations.append(v if v.source else Violation(v.rule, v.urn, v.message, r.source))
    return RehearsalReport(violations=tuple(sorted(set(violations))), rules=tuple(ran),
                           seconds=time.perf_counter() - started, notes=ctx.notes)
