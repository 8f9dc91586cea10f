"""Independent checks of a sizing result.

Written apart from the solver's model on purpose: feasibility of each state is decided by a
max-flow (Dinic, scipy.sparse.csgraph) on source -> geography -> region -> sink, not by HiGHS, so
a modelling slip in the MILP cannot also hide in its own verification. Demand is routable iff the
max flow saturates every geography (max-flow/min-cut; for this bipartite shape it is Hall's
condition: every set of geographies has enough capacity within reach).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

from infra.planning.sizing.plan import Routing, SizingPlan
from infra.planning.sizing.problem import SizingProblem

TOLERANCE_RPS = 1e-3  # flows are compared in milli-rps integers (max-flow needs integer capacities)
_INT32_BUDGET = 2**30


def region_capacity(problem: SizingProblem, replicas: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Raw capacity (rps at 100% utilisation) per region."""
    rate = {(c.region, c.instance_type): c.rps_per_node for c in problem.candidates}
    return {
        r: sum(rate.get((r, t), 0.0) * n for t, n in replicas.get(r, {}).items()) for r in problem.regions
    }


def max_routable(
    problem: SizingProblem,
    capacity: Mapping[str, float],
    *,
    budget_ms: float,
    utilization: float,
    lost: str | None = None,
) -> dict[str, float]:
    """Most rps each geography can have served within `budget_ms` with regions at `utilization`."""
    n_geo, n_reg = len(problem.geos), len(problem.regions)
    finite = [capacity[r] for r in problem.regions if np.isfinite(capacity[r])]
    top = max([problem.total_rps, *finite, 1.0])
    scale = min(1.0 / TOLERANCE_RPS, _INT32_BUDGET / (4 * top * max(n_geo, n_reg, 1)))
    source, sink = 0, 1 + n_geo + n_reg
    big = round(problem.total_rps * scale) + 1
    alive = np.array([region != lost for region in problem.regions], dtype=bool)
    usable = (np.asarray(problem.rtt_ms, dtype=float).reshape(n_geo, n_reg) <= budget_ms) & alive
    geo_i, reg_j = np.nonzero(usable)
    demand = np.floor(np.array([geo.rps for geo in problem.geos], dtype=float) * scale).astype(np.int64)
    cap = np.array([capacity[r] for r in problem.regions], dtype=float) * utilization
    with np.errstate(invalid="ignore", over="ignore"):
        cap_int = np.where(np.isfinite(cap), np.ceil(np.where(np.isfinite(cap), cap, 0.0) * scale), big)
    cap_int = np.minimum(cap_int, big).astype(np.int64)  # ceil: lenient by < 1 unit
    to_sink = np.flatnonzero(alive & (cap_int > 0))
    rows = np.concatenate([np.full(n_geo, source), 1 + geo_i, 1 + n_geo + to_sink])
    cols = np.concatenate([1 + np.arange(n_geo), 1 + n_geo + reg_j, np.full(len(to_sink), sink)])
    caps = np.concatenate([demand, np.full(len(geo_i), big), cap_int[to_sink]]).astype(np.int32)
    graph = csr_array((caps, (rows, cols)), shape=(sink + 1, sink + 1))
    flow = maximum_flow(graph, source, sink, method="dinic").flow
    served = flow[source : source + 1, 1 : 1 + n_geo].toarray().ravel()
    return {geo.name: float(served[i]) / scale for i, geo in enumerate(problem.geos)}


def _state_problems(problem: SizingProblem, capacity: Mapping[str, float], lost: str | None) -> list[str]:
    budget = problem.normal_budget_ms if lost is None else problem.failover_budget_ms
    util = problem.util_normal if lost is None else problem.util_failover
    routed = max_routable(problem, capacity, budget_ms=budget, utilization=util, lost=lost)
    short = {g.name: g.rps - routed[g.name] for g in problem.geos if g.rps - routed[g.name] > TOLERANCE_RPS}
    if not short:
        return []
    state = "normal state" if lost is None else f"with {lost} lost"
    detail = ", ".join(f"{geo} short {v:.3f} rps" for geo, v in short.items())
    return [f"{state}: demand not routable within {budget:g} ms at utilisation {util:g} ({detail})"]


def check_replicas(problem: SizingProblem, replicas: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Every rule a replica count must meet; returns the violations (empty = valid)."""
    out: list[str] = []
    by_key = {(c.region, c.instance_type): c for c in problem.candidates}
    for region, per_type in replicas.items():
        for itype, n in per_type.items():
            cand = by_key.get((region, itype))
            if cand is None:
                out.append(f"{region}.{itype}: not a candidate (no price or not offered)")
            elif not isinstance(n, (int, np.integer)) or n < 0:
                out.append(f"{region}.{itype}: replicas must be a non-negative integer, got {n!r}")
            elif cand.max_nodes is not None and n > cand.max_nodes:
                out.append(f"{region}.{itype}: {n} nodes exceed the quota of {cand.max_nodes}")
    for region in problem.regions:
        total = sum(replicas.get(region, {}).values())
        if total < problem.min_replicas:
            out.append(f"{region}: {total} nodes, below the minimum of {problem.min_replicas}")
    capacity = region_capacity(problem, replicas)
    out += _state_problems(problem, capacity, None)
    if problem.survive_region_loss:
        for lost in problem.regions:
            out += _state_problems(problem, capacity, lost)
    return out


def check_routing(
    problem: SizingProblem,
    replicas: Mapping[str, Mapping[str, int]],
    routing: Routing,
    lost: str | None = None,
) -> list[str]:
    """A concrete routing table: full demand, within budget, under the utilisation limit, not to `lost`."""
    budget = problem.normal_budget_ms if lost is None else problem.failover_budget_ms
    util = problem.util_normal if lost is None else problem.util_failover
    state = "normal" if lost is None else f"failover({lost})"
    capacity = region_capacity(problem, replicas)
    load = dict.fromkeys(problem.regions, 0.0)
    out: list[str] = []
    for i, geo in enumerate(problem.geos):
        per = routing.get(geo.name, {})
        if abs(sum(per.values()) - geo.rps) > TOLERANCE_RPS:
            out.append(f"{state}: {geo.name} routes {sum(per.values()):.4f} of {geo.rps} rps")
        for region, rps in per.items():
            if rps < -TOLERANCE_RPS or region not in load:
                out.append(f"{state}: {geo.name} -> {region}: invalid flow {rps}")
                continue
            j = problem.regions.index(region)
            if rps > TOLERANCE_RPS and (region == lost or problem.rtt_ms[i][j] > budget):
                out.append(f"{state}: {geo.name} -> {region} ({problem.rtt_ms[i][j]} ms) breaks the rules")
            load[region] += rps
    for region, used in load.items():
        if used > util * capacity[region] + TOLERANCE_RPS:
            out.append(f"{state}: {region} carries {used:.3f} rps > {util:g} x {capacity[region]:.3f}")
    return out


def check_plan(problem: SizingProblem, plan: SizingPlan) -> list[str]:
    """All guarantees of a plan: replica rules, N-1 existence, and its own routing tables."""
    replicas = plan.replicas
    out = check_replicas(problem, replicas)
    out += check_routing(problem, replicas, plan.routing)
    if problem.survive_region_loss:
        missing = set(problem.regions) - set(plan.failover)
        out += [f"failover plan for {r} missing" for r in sorted(missing)]
    for lost, routing in plan.failover.items():
        out += check_routing(problem, replicas, routing, lost)
    cost = sum(g.usd_per_hour for g in plan.node_groups)
    if abs(cost - plan.hourly_cost) > 1e-6 * max(1.0, cost):
        out.append(f"hourly cost {plan.hourly_cost} does not match the node groups ({cost})")
    return out
