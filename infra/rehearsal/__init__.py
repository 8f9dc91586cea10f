"""Rehearsals: pure checks over a captured run that replay what the engine, the clouds and the
Kubernetes admission and network layers would do with it.

A captured run is the offline preview's JSON document (`python -m infra.preview --json`): resources
with their wire-form inputs and options (dependencies, property dependencies, custom timeouts). Rules
never import pulumi; they read a `RunView` and, where a budget comes from the plan, the `RolloutPlan`.

    from infra.rehearsal import rehearse
    report = rehearse(document, plan)        # every registered rule, one report
    report.violations                         # [Violation(rule, urn, message, source)]

Rules register with `@rule(...)` (see `registry.py`) in the modules that `RULE_MODULES` names.
"""

from __future__ import annotations

from infra.rehearsal.model import RunView
from infra.rehearsal.registry import rehearse, rule
from infra.rehearsal.report import RehearsalReport, Violation

__all__ = ["RehearsalReport", "RunView", "Violation", "rehearse", "rule"]
