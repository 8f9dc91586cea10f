"""Independent checks of a sizing result.

Written apart from the solver's model on purpose: feasibility of each state is decided by a
max-flow (Dinic, scipy.sparse.csgraph) on source -> geography -> region -> sink, not by HiGHS, so
a modelling slip in the MILP cannot also hide in its own verification. Demand is routable iff the
max flow saturates every geography (max-flow/min-cut; for this bipartite shape it is Hall's
condition: every set of geographies has enough capacity within reach).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

from infra.planning.sizing.plan import Routing, SizingPlan
from infra.planning.sizing.problem import SizingProblem

TOLERANCE_RPS = 1e-3  # routing tables: absolute slack per entry (plus RELATIVE_TOLERANCE of the demand)
RELATIVE_TOLERANCE = 1e-7  # of the total demand: float error of the LP routing at any scale
_FLOW_BITS = 30  # max-flow runs on int32: every flow fits in 2**30 units


@dataclass(frozen=True)
class HallViolation:
    """A certificate that a state cannot be served: these geographies together demand more than every
    region they can reach (within the budget, at the utilisation limit) can carry. Checked in exact
    rational arithmetic, so it is never a rounding artefact."""

    geographies: tuple[str, ...]
    regions: tuple[str, ...]
    demand_rps: Fraction
    capacity_rps: Fraction  # utilisation x raw capacity of `regions`

    @property
    def shortfall_rps(self) -> float:
        return float(self.demand_rps - self.capacity_rps)


def region_capacity(problem: SizingProblem, replicas: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Raw capacity (rps at 100% utilisation) per region."""
    rate = {(c.region, c.instance_type): c.rps_per_node for c in problem.candidates}
    return {
        r: sum(rate.get((r, t), 0.0) * n for t, n in replicas.get(r, {}).items()) for r in problem.regions
    }


def _exact(value: float) -> Fraction | None:
    """The float as an exact rational; None for +inf (unbounded capacity)."""
    return None if math.isinf(value) else Fraction(value)


def _flow(problem: SizingProblem, capacity: Mapping[str, float], budget_ms: float, utilization: float,
          lost: str | None):
    """Integer max-flow on the lenient rounding of the state (demand floored, capacity ceiled, in units
    of total demand / 2**30). Rounding only in the lenient direction makes it a relaxation: a geography
    it cannot saturate is short in the exact problem too; a saturated one is short by < 1 unit."""
    n_geo, n_reg = len(problem.geos), len(problem.regions)
    demand_q = [Fraction(g.rps) for g in problem.geos]
    total = sum(demand_q, Fraction(0))
    # scale: a power of two, so that sum(floor(demand * scale)) <= 2**30 (int32 flows never overflow).
    exponent = _FLOW_BITS - max(0, math.ceil(math.log2(float(total)))) if total > 0 else 0
    scale = Fraction(2) ** exponent
    big = math.floor(total * scale) + 1
    util = Fraction(utilization)
    demand = np.array([math.floor(d * scale) for d in demand_q], dtype=np.int64)
    cap_q = [_exact(capacity[r]) for r in problem.regions]
    cap_int = np.array([big if c is None else min(big, math.ceil(c * util * scale)) for c in cap_q], dtype=np.int64)
    alive = np.array([region != lost for region in problem.regions], dtype=bool)
    usable = (np.asarray(problem.rtt_ms, dtype=float).reshape(n_geo, n_reg) <= budget_ms) & alive
    geo_i, reg_j = np.nonzero(usable)
    source, sink = 0, 1 + n_geo + n_reg
    to_sink = np.flatnonzero(alive & (cap_int > 0))
    rows = np.concatenate([np.full(n_geo, source), 1 + geo_i, 1 + n_geo + to_sink])
    cols = np.concatenate([1 + np.arange(n_geo), 1 + n_geo + reg_j, np.full(len(to_sink), sink)])
    caps = np.concatenate([demand, np.full(len(geo_i), big), cap_int[to_sink]])
    assert caps.max(initial=0) < 2**31, "flow capacities exceed int32"
    graph = csr_array((caps.astype(np.int32), (rows, cols)), shape=(sink + 1, sink + 1))
    flow = maximum_flow(graph, source, sink, method="dinic").flow
    served = flow[source : source + 1, 1 : 1 + n_geo].toarray().ravel().astype(np.int64)
    return scale, demand, served, usable, cap_q, util, flow


def max_routable(
    problem: SizingProblem,
    capacity: Mapping[str, float],
    *,
    budget_ms: float,
    utilization: float,
    lost: str | None = None,
) -> dict[str, float]:
    """Most rps each geography can have served within `budget_ms` with regions at `utilization`.

    Exact where it matters: a geography whose whole demand fits (up to one unit of total/2**30) is
    reported at its full demand, never a rounding short of it."""
    scale, demand, served, *_ = _flow(problem, capacity, budget_ms, utilization, lost)
    return {
        geo.name: geo.rps if served[i] >= demand[i] else float(Fraction(int(served[i])) / scale)
        for i, geo in enumerate(problem.geos)
    }


def hall_violation(
    problem: SizingProblem,
    capacity: Mapping[str, float],
    *,
    budget_ms: float,
    utilization: float,
    lost: str | None = None,
) -> HallViolation | None:
    """None when the state's demand is routable; else the certificate (a min cut of the max-flow,
    re-checked exactly): the geographies on the source side of the cut and every region they reach."""
    _, demand, served, usable, cap_q, util, flow = _flow(problem, capacity, budget_ms, utilization, lost)
    if (served >= demand).all():
        return None
    # Source side of the min cut in the residual graph: the unsaturated geographies, every region they
    # reach (geography -> region edges never saturate), the geographies sending flow into those regions
    # (reverse residual edges), and so on. No region on this side has spare capacity (max flow).
    n_geo, n_reg = usable.shape
    pair_flow = flow[1 : 1 + n_geo, 1 + n_geo : 1 + n_geo + n_reg].toarray() > 0
    geos = {i for i in range(n_geo) if served[i] < demand[i]}
    regions: set[int] = set()
    frontier = set(geos)
    while frontier:
        new_regions = {int(j) for i in frontier for j in np.flatnonzero(usable[i])} - regions
        regions |= new_regions
        frontier = {int(i) for j in new_regions for i in np.flatnonzero(pair_flow[:, j])} - geos
        geos |= frontier
    demand_q = sum((Fraction(problem.geos[i].rps) for i in geos), Fraction(0))
    if any(cap_q[j] is None for j in regions):
        return None  # an unbounded region in reach: not a certificate (cannot happen when the flow is short)
    capacity_q = sum((cap_q[j] * util for j in regions), Fraction(0))  # type: ignore[operator]
    if demand_q <= capacity_q:
        return None  # pragma: no cover - the lenient flow is a relaxation, so its cut is a real violation
    return HallViolation(
        geographies=tuple(problem.geos[i].name for i in sorted(geos)),
        regions=tuple(problem.regions[j] for j in sorted(regions)),
        demand_rps=demand_q,
        capacity_rps=capacity_q,
    )


def _state_problems(problem: SizingProblem, capacity: Mapping[str, float], lost: str | None) -> list[str]:
    budget = problem.normal_budget_ms if lost is None else problem.failover_budget_ms
    util = problem.util_normal if lost is None else problem.util_failover
    cut = hall_violation(problem, capacity, budget_ms=budget, utilization=util, lost=lost)
    if cut is None:
        return []
    state = "normal state" if lost is None else f"with {lost} lost"
    return [f"{state}: demand not routable within {budget:g} ms at utilisation {util:g} "
            f"({', '.join(cut.geographies)} need {float(cut.demand_rps):.3f} rps; the regions they reach "
            f"({', '.join(cut.regions) or 'none'}) carry at most {float(cut.capacity_rps):.3f})"]


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


def plan_still_valid(problem: SizingProblem, replicas: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Is this replica table (e.g. a pinned plan) still valid for this problem? Every rule it breaks
    (empty = valid): candidates, quotas, minimum replicas, and the demand routable in the normal state and
    with any one region lost. Independent of the solver; the same check every solved plan passes."""
    return check_replicas(problem, replicas)


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
    tol = TOLERANCE_RPS + RELATIVE_TOLERANCE * problem.total_rps  # LP float error grows with the demand
    for i, geo in enumerate(problem.geos):
        per = routing.get(geo.name, {})
        if abs(sum(per.values()) - geo.rps) > tol:
            out.append(f"{state}: {geo.name} routes {sum(per.values()):.4f} of {geo.rps} rps")
        for region, rps in per.items():
            if rps < -tol or region not in load:
                out.append(f"{state}: {geo.name} -> {region}: invalid flow {rps}")
                continue
            j = problem.regions.index(region)
            if rps > tol and (region == lost or problem.rtt_ms[i][j] > budget):
                out.append(f"{state}: {geo.name} -> {region} ({problem.rtt_ms[i][j]} ms) breaks the rules")
            load[region] += rps
    for region, used in load.items():
        if used > util * capacity[region] + tol:
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
