"""Sizing: how many GPU nodes of which type in each region, and how traffic is routed, normal and N-1.

Pure planning (no pulumi import). The Pulumi program calls `plan_sizing(cfg)`; tests and the
benchmark build a `SizingProblem` directly and call `solve(problem)`. See docs/sizing.md.
"""

from __future__ import annotations

from infra.config import RolloutConfig
from infra.planning.sizing.check import check_plan, check_replicas, check_routing, plan_still_valid
from infra.planning.sizing.explain import diagnose
from infra.planning.sizing.plan import NodeGroup, RegionHeadroom, SizingPlan
from infra.planning.sizing.problem import Candidate, Geo, SizingProblem, problem_from_config
from infra.planning.sizing.solver import SizingBug, SolveOptions, solve


def plan_sizing(
    cfg: RolloutConfig, options: SolveOptions | None = None, *, survive_region_loss: bool = True
) -> SizingPlan:
    """The stack's sizing plan; raises ConfigError (naming the problem) when no plan can exist."""
    return solve(problem_from_config(cfg, survive_region_loss=survive_region_loss), options)


__all__ = [
    "Candidate",
    "Geo",
    "NodeGroup",
    "RegionHeadroom",
    "SizingBug",
    "SizingPlan",
    "SizingProblem",
    "SolveOptions",
    "check_plan",
    "check_replicas",
    "check_routing",
    "diagnose",
    "plan_sizing",
    "plan_still_valid",
    "problem_from_config",
    "solve",
]
