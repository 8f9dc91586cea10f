"""solve(problem) -> SizingPlan: explain infeasibility, run HiGHS, derive routing, check, return."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy.optimize import LinearConstraint, OptimizeResult, milp
from scipy.sparse import csr_array

from infra.sizing.check import check_plan, region_capacity
from infra.sizing.cuts import initial_cuts, merge_cut, scenarios, violated_cut
from infra.sizing.explain import raise_if_infeasible
from infra.sizing.model import Model, build_model
from infra.sizing.plan import NodeGroup, RegionHeadroom, Routing, SizingPlan
from infra.sizing.problem import Candidate, SizingProblem
from infra.sizing.routing import failover_routing, normal_routing


@dataclass(frozen=True)
class SolveOptions:
    """HiGHS limits. Gap target: the issue's 0.5% (the cut master has no tie-break term to allow for)."""

    mip_rel_gap: float = 0.0049
    time_limit_s: float = 60.0
    presolve: bool = True
    formulation: Literal["cuts", "flow"] = "cuts"  # "flow" = plain model, kept as the reference
    heuristic_effort: float = 0.0  # HiGHS mip_heuristic_effort (its default is 0.05)


MAX_LP_ROUNDS = 30


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
    highs = {
        "mip_rel_gap": options.mip_rel_gap,
        "time_limit": max(0.05, time_left),
        "presolve": options.presolve,
    }
    if integrality.any():
        # Passed to HiGHS verbatim (scipy warns that it does). Measured on the 30x50x6 benchmark: root
        # heuristics cost ~25% of the time and never beat the solution the root LP rounding finds.
        highs["mip_heuristic_effort"] = options.heuristic_effort
    with warnings.catch_warnings(), _native_stdout_silenced():
        warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
        return milp(c, integrality=integrality, bounds=bounds, constraints=constraints, options=highs)


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """HiGHS 1.12 prints debug lines ("transformNewIntegerFeasibleSolution") from C++ to fd 1 even with
    output off; they would corrupt `--json`. Point fd 1 at /dev/null around the call."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _solve_with_cuts(
    problem: SizingProblem, options: SolveOptions, deadline: float
) -> tuple[np.ndarray, float, int] | None:
    """Master over node counts only + lazily generated Hall cuts (infra.sizing.cuts); None if out of time.

    Rows: min replicas per region, and per cut sum_{c in N} rps[c] n[c] >= needed capacity. No
    routing and no capacity columns: a pure integer covering problem of ~100 columns.
    """
    cands = problem.candidates
    price = np.array([c.usd_per_hour for c in cands])
    rps = np.array([c.rps_per_node for c in cands])
    region_of = np.array([problem.regions.index(c.region) for c in cands])
    bounds = (np.zeros(len(cands)), np.array([np.inf if c.max_nodes is None else c.max_nodes for c in cands]))
    n_reg = len(problem.regions)
    member = np.zeros((n_reg, len(cands)))
    member[region_of, np.arange(len(cands))] = 1.0
    floor = LinearConstraint(csr_array(member), problem.min_replicas, np.inf)
    scens = scenarios(problem)
    cuts = initial_cuts(scens)

    def rows() -> list[LinearConstraint]:
        sets = np.zeros((len(cuts), n_reg))
        for i, regions in enumerate(cuts):
            sets[i, list(regions)] = 1.0
        return [
            floor,
            LinearConstraint(csr_array(sets[:, region_of] * rps), np.fromiter(cuts.values(), float), np.inf),
        ]

    def separate(n: np.ndarray) -> int:
        capacity = np.bincount(region_of, weights=n * rps, minlength=n_reg)
        found = (violated_cut(sc, capacity) for sc in scens)
        return sum(merge_cut(cuts, *cut) for cut in found if cut is not None)

    relaxed, integral = np.zeros(len(cands)), np.ones(len(cands))
    for _ in range(MAX_LP_ROUNDS):  # cheap LP rounds first: most cuts are found on the relaxation
        res = _milp(price, relaxed, bounds, rows(), options, deadline - time.perf_counter())
        if res.x is None or not separate(res.x):
            break
    while time.perf_counter() < deadline:
        res = _milp(price, integral, bounds, rows(), options, deadline - time.perf_counter())
        if res.x is None:
            return None
        n = np.round(res.x)
        if not separate(n):
            bound = getattr(res, "mip_dual_bound", None)
            bound = float(res.fun) if bound is None or not math.isfinite(bound) else float(bound)
            return n, bound, (0 if res.status == 0 else 1)
    return None


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


def solve(problem: SizingProblem, options: SolveOptions | None = None) -> SizingPlan:
    """Cheapest integral plan meeting every rule; raises ConfigError explaining infeasible input."""
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
    capacity = region_capacity(problem, replicas)
    routing = normal_routing(problem, capacity)
    failover = (
        {lost: failover_routing(problem, capacity, routing, lost) for lost in problem.regions}
        if problem.survive_region_loss
        else {}
    )
    by_key = {(c.region, c.instance_type): c for c in problem.candidates}
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
        for r in problem.regions
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
        headroom=_headroom(problem, capacity, routing, failover),
        status=status,
    )
    violations = check_plan(given, plan)
    if violations:
        raise SizingBug("sizing plan failed its own check:\n  " + "\n  ".join(violations))
    return plan
