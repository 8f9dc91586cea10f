"""Routing tables for fixed capacities: nearest-first in normal state, stable under failure.

The MILP decides capacity; these small LPs then decide the tables Route 53 gets. Normal state
minimises rps x RTT. While a region is lost, traffic that can stay where it was stays (moving costs
a large penalty), and what must move goes to the nearest region with room, so a failover touches as
few geographies as possible.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array

from infra.sizing.plan import Routing
from infra.sizing.problem import SizingProblem

MOVE_PENALTY_MS = 10_000.0  # far above any RTT: moving traffic is worse than any latency gain
_MIN_FLOW = 1e-7


def _solve(
    problem: SizingProblem,
    capacity: Mapping[str, float],
    arcs: list[tuple[int, int, float, float]],
    util: float,
) -> Routing:
    """min sum cost*flow; arcs = (geo, region, cost, upper bound); every geo fully served."""
    n_geo, regions = len(problem.geos), problem.regions
    r_idx, c_idx, vals = [], [], []
    for col, (s, r, _, _) in enumerate(arcs):
        r_idx += [s, n_geo + r]
        c_idx += [col, col]
        vals += [1.0, 1.0]
    a = coo_array((vals, (r_idx, c_idx)), shape=(n_geo + len(regions), len(arcs))).tocsr()
    demand = np.array([g.rps for g in problem.geos])
    cap = np.array([util * capacity[r] for r in regions])
    res = linprog(
        c=np.array([a_[2] for a_ in arcs]),
        A_ub=a[n_geo:],
        b_ub=cap,
        A_eq=a[:n_geo],
        b_eq=demand,
        bounds=[(0, a_[3]) for a_ in arcs],
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"routing LP failed for fixed capacities: {res.message}")
    out: dict[str, dict[str, float]] = {g.name: {} for g in problem.geos}
    for (s, r, _, _), v in zip(arcs, res.x, strict=True):
        if v > _MIN_FLOW:
            per = out[problem.geos[s].name]
            per[regions[r]] = per.get(regions[r], 0.0) + float(v)
    return out


def normal_routing(problem: SizingProblem, capacity: Mapping[str, float]) -> Routing:
    arcs = [
        (s, r, problem.rtt_ms[s][r], np.inf)
        for s in range(len(problem.geos))
        for r in range(len(problem.regions))
        if problem.rtt_ms[s][r] <= problem.normal_budget_ms
    ]
    return _solve(problem, capacity, arcs, problem.util_normal)


def failover_routing(
    problem: SizingProblem, capacity: Mapping[str, float], normal: Routing, lost: str
) -> Routing:
    arcs = []
    for s, geo in enumerate(problem.geos):
        for r, region in enumerate(problem.regions):
            if region == lost or problem.rtt_ms[s][r] > problem.failover_budget_ms:
                continue
            stay = normal[geo.name].get(region, 0.0)
            if stay > 0:
                arcs.append((s, r, problem.rtt_ms[s][r], stay))
            arcs.append((s, r, problem.rtt_ms[s][r] + MOVE_PENALTY_MS, np.inf))
    return _solve(problem, capacity, arcs, problem.util_failover)
