"""Sizing: how many GPU nodes of which type in each region, and how traffic is routed, normal and N-1.

Pure planning (no pulumi import). The Pulumi program calls `plan_sizing(cfg)`; tests and the
benchmark build a `SizingProblem` directly and call `solve(problem)`. See docs/sizing.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from infra.config import RolloutConfig
from infra.errors import ConfigError
from infra.planning.sizing.check import check_plan, check_replicas, check_routing, plan_still_valid, region_capacity
from infra.planning.sizing.dns import dns_problems
from infra.planning.sizing.explain import diagnose
from infra.planning.sizing.plan import NodeGroup, RegionHeadroom, SizingPlan
from infra.planning.sizing.problem import DNS_WEIGHT_UNITS, Candidate, Geo, SizingProblem, problem_from_config
from infra.planning.sizing.reserve import leaves_reserve
from infra.planning.sizing.solver import SizingBug, SolveOptions, solve

# Reserves tried in turn (Route 53 weight units; 0 = none): the plain optimum first (kept when it
# already leaves the rounding reserve free), then the proven rounding reserve (reserve.py), then wider
# ones in case the reserve's premise (failover without a chain of moves) fails somewhere.
WEIGHT_UNITS_TRIED = (0, DNS_WEIGHT_UNITS, DNS_WEIGHT_UNITS // 2, DNS_WEIGHT_UNITS // 4)


def plan_sizing(
    cfg: RolloutConfig, options: SolveOptions | None = None, *, survive_region_loss: bool = True,
    previous: Mapping[str, Mapping[str, int]] | None = None,
) -> SizingPlan:
    """The stack's sizing plan that Route 53 weights realise (`dns_problems` empty: the preview's own
    check, within the failover ceiling); ConfigError (naming the problem) when none can exist.

    Its lower bound is the plain problem's (no reserve): a bound on every plan meeting the rules, so the
    gap includes what the rounding reserve costs. `previous`: see `solve`."""
    problem = problem_from_config(cfg, survive_region_loss=survive_region_loss)
    problems: list[str] = []
    bound = None
    for units in WEIGHT_UNITS_TRIED:
        plan = solve(replace(problem, weight_units=units), options, previous=previous)
        bound = plan.lower_bound if bound is None else bound  # the plain problem's: a bound on every plan
        plan = replace(plan, lower_bound=min(bound, plan.hourly_cost))
        if not survive_region_loss:
            return plan
        if units == 0 and not leaves_reserve(problem, region_capacity(problem, plan.replicas), plan.failover):
            continue  # the plain plan is tight: skip the (slow, likely failing) whole-weight fitting
        problems = dns_problems(cfg, plan)
        if not problems:
            return plan
        previous = None
    raise ConfigError(problems or ["no plan leaves room for whole DNS weights"],
                      title="no sizing plan found that Route 53 weights can realise")


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
    "dns_problems",
    "plan_sizing",
    "plan_still_valid",
    "problem_from_config",
    "solve",
]
