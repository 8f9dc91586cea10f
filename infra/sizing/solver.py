"""solve(problem) -> SizingPlan: explain infeasibility, run HiGHS, derive routing, check, return."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp

from infra.sizing.check import check_plan, region_capacity
from infra.sizing.explain import raise_if_infeasible
from infra.sizing.model import Model, build_model
from infra.sizing.plan import NodeGroup, RegionHeadroom, Routing, SizingPlan
from infra.sizing.problem import SizingProblem
from infra.sizing.routing import failover_routing, normal_routing


@dataclass(frozen=True)
class SolveOptions:
    """HiGHS limits. The gap target is the issue's 0.5%, with margin for the tie-break term."""

    mip_rel_gap: float = 0.004
    time_limit_s: float = 60.0
    presolve: bool = True


class SizingBug(RuntimeError):
    """The solver returned a plan its independent check rejects: a defect here, not bad input."""


def _lp_rounded_up(model: Model, options: SolveOptions) -> tuple[np.ndarray, float]:
    """Fallback when HiGHS finds no integer point in time: the LP relaxation rounded up.

    Rounding n up only adds capacity, and every constraint is monotone in capacity (quotas are
    integers, so ceil stays within them), so the result is feasible; the LP value is a lower bound.
    """
    res = milp(model.c, integrality=np.zeros_like(model.integrality), bounds=(model.lb, model.ub),
               constraints=LinearConstraint(model.a, model.row_lb, model.row_ub))
    n = np.ceil(res.x[model.n_cols] - 1e-7)
    return n, float(res.fun)


def _replicas(problem: SizingProblem, n: np.ndarray) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for cand, count in zip(problem.candidates, n, strict=True):
        if int(round(count)) > 0:
            out.setdefault(cand.region, {})[cand.instance_type] = int(round(count))
    return out


def _headroom(problem: SizingProblem, capacity: dict[str, float], routing: Routing,
              failover: dict[str, Routing]) -> tuple[RegionHeadroom, ...]:
    def load(table: Routing, region: str) -> float:
        return sum(per.get(region, 0.0) for per in table.values())

    out = []
    for region in problem.regions:
        cap = capacity[region]
        normal = load(routing, region)
        worst, worst_lost = 0.0, None
        for lost, table in failover.items():
            if lost != region and cap > 0 and load(table, region) / cap > worst:
                worst, worst_lost = load(table, region) / cap, lost
        out.append(RegionHeadroom(region, cap, normal, normal / cap if cap else 0.0, worst, worst_lost))
    return tuple(out)


def solve(problem: SizingProblem, options: SolveOptions | None = None) -> SizingPlan:
    """Cheapest integral plan meeting every rule; raises ConfigError explaining infeasible input."""
    options = options or SolveOptions()
    started = time.perf_counter()
    raise_if_infeasible(problem)
    model = build_model(problem)
    res = milp(
        model.c, integrality=model.integrality, bounds=(model.lb, model.ub),
        constraints=LinearConstraint(model.a, model.row_lb, model.row_ub),
        options={"mip_rel_gap": options.mip_rel_gap, "time_limit": options.time_limit_s,
                 "presolve": options.presolve},
    )
    if res.x is not None:
        n = res.x[model.n_cols]
        bound = getattr(res, "mip_dual_bound", None)
        bound = float(res.fun) if bound is None or not math.isfinite(bound) else float(bound)
    else:
        n, bound = _lp_rounded_up(model, options)
    status = "optimal" if res.status == 0 else "time limit"
    replicas = _replicas(problem, n)
    capacity = region_capacity(problem, replicas)
    routing = normal_routing(problem, capacity)
    failover = ({lost: failover_routing(problem, capacity, routing, lost) for lost in problem.regions}
                if problem.survive_region_loss else {})
    by_key = {(c.region, c.instance_type): c for c in problem.candidates}
    groups = tuple(
        NodeGroup(region=r, instance_type=t, gpu_model=by_key[r, t].gpu_model, nodes=k,
                  gpus=k * by_key[r, t].gpu_count, capacity_rps=k * by_key[r, t].rps_per_node,
                  usd_per_hour=k * by_key[r, t].usd_per_hour)
        for r in problem.regions for t, k in sorted(replicas.get(r, {}).items())
    )
    cost = sum(g.usd_per_hour for g in groups)
    plan = SizingPlan(
        node_groups=groups, routing=routing, failover=failover, hourly_cost=cost,
        lower_bound=min(cost, max(0.0, bound - model.tiebreak_max)),
        solve_seconds=time.perf_counter() - started,
        headroom=_headroom(problem, capacity, routing, failover), status=status,
    )
    violations = check_plan(problem, plan)
    if violations:
        raise SizingBug("sizing plan failed its own check:\n  " + "\n  ".join(violations))
    return plan
