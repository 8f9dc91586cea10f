"""Why a sizing problem has no solution, in words an operator can act on.

Run before the MILP: if none of these fire, the problem is feasible (every region at its quota, or
unbounded where there is none, is an integral plan that meets every rule), so the solver can only
fail on time, never on infeasibility.
"""

from __future__ import annotations

import math
from fractions import Fraction

from infra.errors import ConfigError
from infra.planning.sizing.check import HallViolation, hall_violation
from infra.planning.sizing.problem import SizingProblem


def _nearest(problem: SizingProblem, geo_index: int, exclude: str | None = None) -> str:
    options = [
        (rtt, r) for r, rtt in zip(problem.regions, problem.rtt_ms[geo_index], strict=True) if r != exclude
    ]
    if not options:
        return "no other region"
    rtt, region = min(options)
    return f"nearest is {problem.label(region)} at {rtt:g} ms"


def max_capacity(problem: SizingProblem) -> dict[str, float]:
    """Raw capacity of each region with every quota used to the full (inf where a type has no quota)."""
    out: dict[str, float] = {}
    for region in problem.regions:
        cands = problem.candidates_in(region)
        unbounded = any(c.max_nodes is None for c in cands)
        out[region] = math.inf if unbounded else sum(c.rps_per_node * (c.max_nodes or 0) for c in cands)
    return out


def capacity_certificate(problem: SizingProblem, lost: str | None) -> HallViolation | None:
    """Demand that cannot be absorbed even with every quota used to the full, as a Hall set: the
    geographies whose demand exceeds what every region they reach can carry at its quota."""
    max_cap = max_capacity(problem)
    budget = problem.normal_budget_ms if lost is None else problem.failover_budget_ms
    util = problem.util_normal if lost is None else problem.util_failover
    unbounded = [
        j for j, r in enumerate(problem.regions) if r != lost and math.isinf(max_cap[r])
    ]
    if all(any(problem.rtt_ms[i][j] <= budget for j in unbounded) for i in range(len(problem.geos))):
        return None  # every geography reaches a region without quota: any demand can be absorbed there
    return hall_violation(problem, max_cap, budget_ms=budget, utilization=util, lost=lost)


def _capacity_problems(problem: SizingProblem, lost: str | None) -> list[str]:
    cut = capacity_certificate(problem, lost)
    if cut is None:
        return []
    budget = problem.normal_budget_ms if lost is None else problem.failover_budget_ms
    util = problem.util_normal if lost is None else problem.util_failover
    quotas = [
        f"{c.region}.{c.instance_type} <= {c.max_nodes}" for r in cut.regions for c in problem.candidates_in(r)
    ]
    state = "in normal state" if lost is None else f"when {problem.label(lost)} is lost"
    return [
        f"{state}, {cut.shortfall_rps:.2f} rps of demand from {', '.join(cut.geographies)} cannot be "
        f"served within {budget:g} ms at utilisation {util:g}: they need {float(cut.demand_rps):.2f} rps and "
        f"the regions in reach ({', '.join(cut.regions) or 'none'}) carry at most "
        f"{float(cut.capacity_rps):.2f} rps at their quotas "
        f"({'; '.join(quotas) or 'none'}); raise sizing.quotas or the budget"
    ]


def certificates(problem: SizingProblem) -> list[tuple[str | None, HallViolation]]:
    """(lost region or None, certificate) for every state whose demand no plan can serve: geographies
    out of every region's reach (reach: nothing) and demand above the quotas of what they reach."""
    out: list[tuple[str | None, HallViolation]] = []
    states: list[str | None] = [None]
    if problem.survive_region_loss and len(problem.regions) > 1:
        states += list(problem.regions)
    for lost in states:
        budget = problem.normal_budget_ms if lost is None else problem.failover_budget_ms
        for i, geo in enumerate(problem.geos):
            if not any(r != lost and rtt <= budget for r, rtt in zip(problem.regions, problem.rtt_ms[i], strict=True)):
                out.append((lost, HallViolation((geo.name,), (), Fraction(geo.rps), Fraction(0))))
        if not out:
            cut = capacity_certificate(problem, lost)
            if cut is not None:
                out.append((lost, cut))
    return out


MAX_FLEET_NODES = 1_000_000  # a plan needing more nodes than this is a typo in demand or throughput


def fleet_too_large(problem: SizingProblem) -> str | None:
    """Even at the best rps per node everywhere, the demand needs more than MAX_FLEET_NODES nodes."""
    best = max((c.rps_per_node for c in problem.candidates), default=0.0)
    if best <= 0:
        return None
    needed = problem.total_rps / (best * problem.util_normal)
    if needed <= MAX_FLEET_NODES:
        return None
    return (f"demand: {problem.total_rps:,.0f} rps needs at least {needed:,.0f} nodes at the best throughput "
            f"per node ({best:g} rps, model.throughputRps) and utilisation {problem.util_normal:g}; more than "
            f"{MAX_FLEET_NODES:,} nodes is not a plan: check demand[].rps and model.throughputRps")


def diagnose(problem: SizingProblem) -> list[str]:
    """Every reason the problem is infeasible (empty list = feasible)."""
    too_large = fleet_too_large(problem)
    if too_large:
        return [too_large]
    out: list[str] = []
    for region in problem.regions:
        cands = problem.candidates_in(region)
        if not cands:
            out.append(f"region {problem.label(region)}: no priced candidate instance type")
        elif all(c.max_nodes is not None for c in cands):
            room = sum(c.max_nodes or 0 for c in cands)
            if room < problem.min_replicas:
                out.append(
                    f"region {problem.label(region)}: quotas allow {room} nodes in total, below "
                    f"sizing.minReplicasPerRegion = {problem.min_replicas}"
                )
    for i, geo in enumerate(problem.geos):
        if min(problem.rtt_ms[i]) > problem.normal_budget_ms:
            out.append(
                f"geography {geo.name}: no region within latency.normalMs = "
                f"{problem.normal_budget_ms:g} ms ({_nearest(problem, i)})"
            )
    if problem.survive_region_loss:
        if len(problem.regions) < 2:
            out.append(
                f"surviving the loss of a region needs at least 2 regions; the stack has only "
                f"{problem.label(problem.regions[0])}: add a region (N-1 is checked for every stack)"
            )
        else:
            for f in problem.regions:
                for i, geo in enumerate(problem.geos):
                    ok = any(
                        r != f and rtt <= problem.failover_budget_ms
                        for r, rtt in zip(problem.regions, problem.rtt_ms[i], strict=True)
                    )
                    if not ok:
                        out.append(
                            f"geography {geo.name}: when {problem.label(f)} is lost no other region "
                            f"is within latency.failoverMs = {problem.failover_budget_ms:g} ms "
                            f"({_nearest(problem, i, exclude=f)})"
                        )
    if out:
        return out
    out += _capacity_problems(problem, None)
    if problem.survive_region_loss:
        for f in problem.regions:
            out += _capacity_problems(problem, f)
    return out


def raise_if_infeasible(problem: SizingProblem) -> None:
    problems = diagnose(problem)
    if problems:
        raise ConfigError(problems, title="no sizing plan meets the rules")
