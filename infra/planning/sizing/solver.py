"""solve(problem) -> SizingPlan: explain infeasibility, run HiGHS, derive routing, check, return."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy.optimize import LinearConstraint, OptimizeResult, milp
from scipy.sparse import csr_array

from infra.planning.sizing import highs
from infra.planning.sizing.check import check_plan, plan_still_valid, region_capacity
from infra.planning.sizing.cuts import AllStates, initial_cuts, merge_cut, scenarios, undominated
from infra.planning.sizing.explain import raise_if_infeasible
from infra.planning.sizing.model import Model, build_model
from infra.planning.sizing.plan import NodeGroup, RegionHeadroom, Routing, SizingPlan
from infra.planning.sizing.problem import Candidate, SizingProblem
from infra.planning.sizing.reserve import rounding_reserve
from infra.planning.sizing.routing import failover_routings, normal_routing


@dataclass(frozen=True)
class SolveOptions:
    """HiGHS limits. Gap target: the issue's 0.5% (the cut master has no tie-break term to allow for)."""

    mip_rel_gap: float = 0.0049
    time_limit_s: float = 60.0
    presolve: bool = True
    formulation: Literal["cuts", "flow"] = "cuts"  # "flow" = plain model, kept as the reference
    heuristic_effort: float = 0.0  # HiGHS mip_heuristic_effort (its default is 0.05)


MAX_LP_ROUNDS = 30
HEURISTIC_ROUNDS = 4  # sub-MIP attempts before the master MILP (each ~0.05-0.1 s at 30 regions)


class SizingBug(RuntimeError):
    """The solver returned a plan its independent check rejects: a defect here, not bad input."""


def _lp_rounded_up(model: Model) -> tuple[np.ndarray, float]:
    """Fallback when HiGHS finds no integer point in time: the LP relaxation rounded up.

    Rounding n up only adds capacity, and every constraint is monotone in capacity (quotas are
    integers, so ceil stays within them), so the result is feasible; the LP value is a lower bound.
    """
    res = milp(
        model.c,
        integrality=np.zeros_like(model.integrality),
        bounds=(model.lb, model.ub),
        constraints=LinearConstraint(model.a, model.row_lb, model.row_ub),
    )
    n = np.ceil(res.x[model.n_cols] - 1e-7)
    return n, float(res.fun)


def without_dominated(problem: SizingProblem) -> SizingProblem:
    """Drop candidates another unbounded candidate in the same region replaces at no more cost.

    b is dominated by a when ceil(rps_b / rps_a) nodes of a cost no more than one node of b: swapping
    keeps capacity and node count (so min replicas) and never raises cost, so the optimum is
    unchanged. With the catalog's prices this removes g5.12xlarge, a2-ultragpu-1g and p5.48xlarge
    (per rps dearer than g6.xlarge / p4d.24xlarge) and halves the integer columns.
    """

    def dominated(b: Candidate) -> bool:
        for a in problem.candidates_in(b.region):
            if a is b or a.max_nodes is not None:
                continue
            swap = math.ceil(b.rps_per_node / a.rps_per_node - 1e-9) * a.usd_per_hour
            if swap < b.usd_per_hour - 1e-12 or (
                swap <= b.usd_per_hour
                and (a.usd_per_hour, a.instance_type) < (b.usd_per_hour, b.instance_type)
            ):
                return True
        return False

    return replace(problem, candidates=tuple(c for c in problem.candidates if not dominated(c)))


def _replicas(problem: SizingProblem, n: np.ndarray) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for cand, count in zip(problem.candidates, n, strict=True):
        if round(count) > 0:
            out.setdefault(cand.region, {})[cand.instance_type] = round(count)
    return out


def _headroom(
    problem: SizingProblem, capacity: dict[str, float], routing: Routing, failover: dict[str, Routing]
) -> tuple[RegionHeadroom, ...]:
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


def _milp(
    c: np.ndarray,
    integrality: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    constraints: list[LinearConstraint],
    options: SolveOptions,
    time_left: float,
) -> OptimizeResult:
    settings = {
        "mip_rel_gap": options.mip_rel_gap,
        "time_limit": max(0.05, time_left),
        "presolve": options.presolve,
    }
    if integrality.any():
        # Passed to HiGHS verbatim (scipy warns that it does).
        settings["mip_heuristic_effort"] = options.heuristic_effort
    with warnings.catch_warnings(), highs.native_stdout_silenced():
        warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
        return milp(c, integrality=integrality, bounds=bounds, constraints=constraints, options=settings)


def _solve_with_cuts(
    problem: SizingProblem, options: SolveOptions, deadline: float
) -> tuple[np.ndarray, float, int] | None:
    """Master over node counts only + lazily generated Hall cuts (infra.planning.sizing.cuts); None if out of time.

    Rows: min replicas per region, and per cut sum_{c in N} rps[c] n[c] >= needed capacity. No
    routing and no capacity columns: a pure integer covering problem of ~100 columns.

    1. LP rounds: solve the relaxation, add the violated Hall sets of every state, repeat.
    2. Heuristic plan: the master MILP with the coarse node types (p4d-like, in each region those
       with more than twice the smallest node's rps) held at the floor or ceiling of their LP value
       and the fine types free: ~0.1 s, typically within 0.1-0.5% of the optimum, and checked
       against every state like any master solution.
    3. The master MILP to the gap target, started from that plan (HiGHS then mostly just proves the
       bound). Its dual bound is valid for the full problem (the master is a relaxation), so when its
       own point misses a Hall set, the checked heuristic plan is still returned if it is within
       the gap of that bound; otherwise the cuts are added and the master solved again.
    """
    cands = problem.candidates
    price = np.array([c.usd_per_hour for c in cands])
    rps = np.array([c.rps_per_node for c in cands])
    region_of = np.array([problem.regions.index(c.region) for c in cands])
    lo0 = np.zeros(len(cands))
    hi0 = np.array([np.inf if c.max_nodes is None else c.max_nodes for c in cands], dtype=float)
    n_reg = len(problem.regions)
    member = np.zeros((n_reg, len(cands)))
    member[region_of, np.arange(len(cands))] = 1.0
    smallest = np.full(n_reg, np.inf)
    np.minimum.at(smallest, region_of, rps)
    coarse = rps > 2.0 * smallest[region_of]
    scens = scenarios(problem)
    separator = AllStates(scens, n_reg)
    cuts = initial_cuts(scens)
    # A region that keeps a rounding reserve must have that much failover room at all (K[r] >= reserve /
    # util): the cuts then never count a region's room below zero.
    reserve = rounding_reserve(problem).max(axis=0) if problem.survive_region_loss else np.zeros(n_reg)
    floor_rows = np.flatnonzero(reserve > 0)

    def master() -> tuple[csr_array, np.ndarray]:
        kept = undominated(cuts, n_reg)
        sets = np.zeros((len(kept), n_reg))
        for i, (regions, _) in enumerate(kept):
            sets[i, list(regions)] = 1.0
        a = np.vstack([member, member[floor_rows] * rps, sets[:, region_of] * rps])
        need = np.concatenate([np.full(n_reg, float(problem.min_replicas)),
                               reserve[floor_rows] / problem.util_failover, [d for _, d in kept]])
        return csr_array(a), need

    def separate(n: np.ndarray) -> int:
        capacity = np.bincount(region_of, weights=n * rps, minlength=n_reg)
        return sum(merge_cut(cuts, *cut) for cut in separator.violated(capacity))

    def repaired(n: np.ndarray) -> np.ndarray | None:
        """`n` made feasible greedily: for each violated Hall set, the cheapest nodes of one type in one
        of its regions that cover the shortfall (the master's cuts are added on the way)."""
        n = n.copy()
        for _ in range(4 * n_reg):
            capacity = np.bincount(region_of, weights=n * rps, minlength=n_reg)
            found = separator.violated(capacity)
            if not found:
                return n
            for regions, need in found:
                merge_cut(cuts, regions, need)
                capacity = np.bincount(region_of, weights=n * rps, minlength=n_reg)
                short = need - float(capacity[list(regions)].sum())
                if short <= 0:
                    continue
                add = np.ceil(short / rps * (1 + 1e-9))
                ok = np.isin(region_of, list(regions)) & (n + add <= hi0)
                if not ok.any():
                    return None
                pick = int(np.argmin(np.where(ok, add * price, np.inf)))
                n[pick] += add[pick]
        return None

    def run(integer: bool, lo: np.ndarray, hi: np.ndarray, start: np.ndarray | None = None) -> highs.MipResult:
        a, need = master()
        return highs.solve(
            price,
            a,
            need,
            lo,
            hi,
            integer=integer,
            time_limit=deadline - time.perf_counter(),
            mip_rel_gap=options.mip_rel_gap,
            heuristic_effort=options.heuristic_effort,
            presolve=options.presolve,
            start=start,
        )

    bound = -math.inf
    best: np.ndarray | None = None

    def cost(n: np.ndarray) -> float:
        return float(price @ n)

    def good_enough() -> bool:
        return best is not None and cost(best) - bound <= options.mip_rel_gap * cost(best) + 1e-9

    lp = None
    for _ in range(MAX_LP_ROUNDS):  # cheap LP rounds first: most cuts are found on the relaxation
        lp = run(False, lo0, hi0)
        if lp.x is None or not separate(lp.x):
            break
    if lp is not None and lp.x is not None and time.perf_counter() < deadline:
        bound = max(bound, lp.bound)
        x = lp.x
        lo = np.where(coarse, np.minimum(np.floor(x + 1e-7), hi0), lo0)
        hi = np.where(coarse, np.minimum(np.ceil(x - 1e-7), hi0), hi0)
        for _ in range(HEURISTIC_ROUNDS):  # a miss adds its cuts and the sub-MIP is solved again
            sub = run(True, lo, hi)
            if sub.x is None:
                break
            n = np.round(sub.x)
            fixed = repaired(n)
            if fixed is not None and (best is None or cost(fixed) < cost(best)):
                best = fixed
            if (fixed is not None and (fixed == n).all()) or time.perf_counter() >= deadline:
                break
    while time.perf_counter() < deadline and not good_enough():
        res = run(True, lo0, hi0, start=best)
        bound = max(bound, res.bound)
        if res.x is None:
            break
        n = np.round(res.x)
        fixed = repaired(n)  # n itself when it meets every state
        if fixed is not None and (best is None or cost(fixed) < cost(best)):
            best = fixed
        if fixed is not None and (fixed == n).all() and res.optimal:
            break
    if best is None:
        return None
    return best, bound, (0 if good_enough() else 1)


def _solve_flow(
    problem: SizingProblem, options: SolveOptions, deadline: float
) -> tuple[np.ndarray, float, int] | None:
    """The plain formulation (every failover routing a column): the reference the cuts must match."""
    model = build_model(problem)
    res = _milp(
        model.c,
        model.integrality,
        (model.lb, model.ub),
        [LinearConstraint(model.a, model.row_lb, model.row_ub)],
        options,
        deadline - time.perf_counter(),
    )
    if res.x is None:
        return None
    bound = getattr(res, "mip_dual_bound", None)
    bound = float(res.fun) if bound is None or not math.isfinite(bound) else float(bound)
    return res.x[model.n_cols], bound - model.tiebreak_max, (0 if res.status == 0 else 1)


def solve(
    problem: SizingProblem,
    options: SolveOptions | None = None,
    *,
    previous: Mapping[str, Mapping[str, int]] | None = None,
) -> SizingPlan:
    """Cheapest integral plan meeting every rule; raises ConfigError explaining infeasible input.

    `previous` (region -> instance type -> nodes, e.g. the plan in effect) makes the result stable for
    reviewers: when it still meets every rule (`plan_still_valid`) and its cost is within the gap target
    of the proven lower bound, it is returned unchanged (status "previous") instead of a new plan that
    moves nodes for a saving inside the gap. A 1% price cut then leaves the fleet as it is.
    """
    options = options or SolveOptions()
    started = time.perf_counter()
    deadline = started + options.time_limit_s
    raise_if_infeasible(problem)
    given, problem = problem, without_dominated(problem)
    found = (_solve_with_cuts if options.formulation == "cuts" else _solve_flow)(problem, options, deadline)
    if found is None:  # out of time without an integer point: round the full LP up (always feasible)
        n, bound = _lp_rounded_up(build_model(problem))
        bound, code = bound - build_model(problem).tiebreak_max, 1
    else:
        n, bound, code = found
    status = "optimal" if code == 0 else "time limit"
    replicas = _replicas(problem, n)
    if previous is not None:
        kept = {r: {t: int(k) for t, k in per.items() if k} for r, per in previous.items()}
        kept = {r: per for r, per in kept.items() if per}
        cost = _cost(given, kept)
        if cost is not None and cost - max(0.0, bound) <= options.mip_rel_gap * cost + 1e-9 \
                and not plan_still_valid(given, kept):
            replicas, status = kept, "previous"
    return _plan_of(given, replicas, bound, status, started)


def _cost(problem: SizingProblem, replicas: Mapping[str, Mapping[str, int]]) -> float | None:
    """Hourly cost of a replica table under this problem's prices; None if it names a non-candidate."""
    price = {(c.region, c.instance_type): c.usd_per_hour for c in problem.candidates}
    try:
        return sum(price[r, t] * k for r, per in replicas.items() for t, k in per.items())
    except KeyError:
        return None


def _plan_of(
    given: SizingProblem, replicas: dict[str, dict[str, int]], bound: float, status: str, started: float
) -> SizingPlan:
    capacity = region_capacity(given, replicas)
    routing = normal_routing(given, capacity)
    failover = {}
    if given.survive_region_loss:
        try:
            failover = failover_routings(given, capacity, routing)
        except RuntimeError:  # a kept `previous` plan need not leave the rounding reserve: plain tables
            failover = failover_routings(replace(given, weight_units=0), capacity, routing)
    by_key = {(c.region, c.instance_type): c for c in given.candidates}
    groups = tuple(
        NodeGroup(
            region=r,
            instance_type=t,
            gpu_model=by_key[r, t].gpu_model,
            nodes=k,
            gpus=k * by_key[r, t].gpu_count,
            capacity_rps=k * by_key[r, t].rps_per_node,
            usd_per_hour=k * by_key[r, t].usd_per_hour,
        )
        for r in given.regions
        for t, k in sorted(replicas.get(r, {}).items())
    )
    cost = sum(g.usd_per_hour for g in groups)
    plan = SizingPlan(
        node_groups=groups,
        routing=routing,
        failover=failover,
        hourly_cost=cost,
        lower_bound=min(cost, max(0.0, bound)),
        solve_seconds=time.perf_counter() - started,
        headroom=_headroom(given, capacity, routing, failover),
        status=status,
    )
    violations = check_plan(given, plan)
    if violations:
        raise SizingBug("sizing plan failed its own check:\n  " + "\n  ".join(violations))
    return plan


def plan_for_replicas(problem: SizingProblem, replicas: Mapping[str, Mapping[str, int]], lower_bound: float,
                      status: str) -> SizingPlan:
    """A checked plan (routing, failover, headroom) for a given replica table, e.g. a warm start's."""
    return _plan_of(problem, {r: dict(per) for r, per in replicas.items()}, lower_bound, status, time.perf_counter())
