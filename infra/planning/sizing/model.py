"""The mixed-integer program (DESIGN.md section 5), built as sparse matrices for scipy.optimize.milp.

Variables, in column order:
  n[c]        integer nodes per candidate c = (region, instance type), bounded by its quota
  K[r]        continuous capacity of region r in rps (= sum_c rps_per_node[c] * n[c]); one column per
              region so the many routing rows reference one capacity column, not every candidate
  x[s,r]      normal routing, only for pairs within the normal budget
  y[f,k,r]    routing while region f is lost, for aggregated demand classes k (below), r != f,
              only pairs within the failover budget

Structure that keeps it small (each one exact, none changes the optimum):
  * pairs outside a latency budget get no column at all;
  * in scenario f, geographies with the same set of reachable surviving regions are one class k with
    their summed demand: routing only sees capacities per region, so such geographies are
    interchangeable (a transportation problem's feasibility depends only on Hall sets, and two
    geographies with equal neighbourhoods are in the same Hall sets);
  * a scenario's capacity row exists only for regions some class can reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_array, csr_array

from infra.planning.sizing.problem import SizingProblem
from infra.planning.sizing.reserve import rounding_reserve

# Latency tie-break: $0.0001/h per rps routed over 100 ms. Small against any node price (the cheapest
# GPU node is ~$0.8/h, DESIGN.md s.7), so it only orders plans of equal cost; it is subtracted in full
# from the solver's bound, so the reported lower bound stays a bound on hourly cost alone.
TIEBREAK_USD_PER_RPS_MS = 1e-6


@dataclass(frozen=True)
class Model:
    c: np.ndarray
    integrality: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    a: csr_array
    row_lb: np.ndarray
    row_ub: np.ndarray
    n_cols: slice
    k_cols: slice
    x_pairs: tuple[tuple[int, int], ...]  # (geo, region) per x column
    x_start: int
    tiebreak_max: float  # largest possible value of the tie-break term


class _Rows:
    """Accumulates sparse rows as COO triplets."""

    def __init__(self) -> None:
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: list[int], vals: list[float], lo: float, hi: float) -> None:
        row = len(self.lo)
        self.r += [row] * len(cols)
        self.c += cols
        self.v += vals
        self.lo.append(lo)
        self.hi.append(hi)


def build_model(problem: SizingProblem, *, routing_columns: bool = True) -> Model:
    """The full model; without `routing_columns` (only n, K) it is the master of infra.planning.sizing.cuts."""
    regions, geos, cands = problem.regions, problem.geos, problem.candidates
    n_reg, n_cand = len(regions), len(cands)
    rtt = np.asarray(problem.rtt_ms, dtype=float).reshape(len(geos), n_reg)
    demand = np.array([g.rps for g in geos], dtype=float)
    normal_ok = rtt <= problem.normal_budget_ms
    fail_ok = rtt <= problem.failover_budget_ms
    region_of = {name: j for j, name in enumerate(regions)}

    cost: list[float] = [c.usd_per_hour for c in cands] + [0.0] * n_reg
    lb: list[float] = [0.0] * (n_cand + n_reg)
    ub: list[float] = [float(c.max_nodes) if c.max_nodes is not None else np.inf for c in cands]
    ub += [np.inf] * n_reg
    rows = _Rows()
    k0 = n_cand
    # K[r] - sum_c rps[c] n[c] = 0; sum_c n[c] >= min replicas (every configured region serves).
    for j in range(n_reg):
        mine = [i for i, c in enumerate(cands) if region_of[c.region] == j]
        rows.add([k0 + j, *mine], [1.0] + [-cands[i].rps_per_node for i in mine], 0.0, 0.0)
        if problem.min_replicas > 0:
            rows.add(mine, [1.0] * len(mine), float(problem.min_replicas), np.inf)

    x_start = len(cost)
    x_pairs = tuple(
        (s, r) for s in range(len(geos)) for r in range(n_reg) if normal_ok[s, r] and routing_columns
    )
    cost += [TIEBREAK_USD_PER_RPS_MS * rtt[s, r] for s, r in x_pairs]
    lb += [0.0] * len(x_pairs)
    ub += [np.inf] * len(x_pairs)
    if routing_columns:
        _routing_rows(
            rows,
            [
                (demand[s], [(x_start + i, r) for i, (s2, r) in enumerate(x_pairs) if s2 == s])
                for s in range(len(geos))
            ],
            k0,
            problem.util_normal,
        )
    tiebreak_max = TIEBREAK_USD_PER_RPS_MS * float(
        sum(demand[s] * rtt[s, normal_ok[s]].max() for s in range(len(geos)) if normal_ok[s].any())
    )

    if problem.survive_region_loss and routing_columns:
        reserve = rounding_reserve(problem)
        floor = reserve.max(axis=0)
        for j in np.flatnonzero(floor > 0):  # room for the reserve at all (as in the cut master)
            rows.add([k0 + int(j)], [problem.util_failover], float(floor[j]), np.inf)
        for f in range(n_reg):
            classes: dict[tuple[int, ...], float] = {}
            for s in range(len(geos)):
                reach = tuple(r for r in range(n_reg) if r != f and fail_ok[s, r])
                classes[reach] = classes.get(reach, 0.0) + demand[s]
            commodities = []
            for reach, total in classes.items():
                start = len(cost)
                cost += [0.0] * len(reach)
                lb += [0.0] * len(reach)
                ub += [np.inf] * len(reach)
                commodities.append((total, [(start + i, r) for i, r in enumerate(reach)]))
            _routing_rows(rows, commodities, k0, problem.util_failover, reserve[f])

    n_cols = len(cost)
    a = coo_array((rows.v, (rows.r, rows.c)), shape=(len(rows.lo), n_cols)).tocsr()
    integrality = np.zeros(n_cols, dtype=np.uint8)
    integrality[:n_cand] = 1
    return Model(
        c=np.array(cost),
        integrality=integrality,
        lb=np.array(lb),
        ub=np.array(ub),
        a=a,
        row_lb=np.array(rows.lo),
        row_ub=np.array(rows.hi),
        n_cols=slice(0, n_cand),
        k_cols=slice(k0, k0 + n_reg),
        x_pairs=x_pairs,
        x_start=x_start,
        tiebreak_max=tiebreak_max,
    )


def _routing_rows(
    rows: _Rows, commodities: list[tuple[float, list[tuple[int, int]]]], k0: int, util: float,
    reserve: np.ndarray | None = None,
) -> None:
    """Demand rows (each commodity fully routed) and capacity rows (load <= util * K[r] - reserve[r])."""
    load: dict[int, list[int]] = {}
    for total, cols in commodities:
        rows.add([col for col, _ in cols], [1.0] * len(cols), total, total)
        for col, r in cols:
            load.setdefault(r, []).append(col)
    for r, cols in sorted(load.items()):
        rows.add([*cols, k0 + r], [1.0] * len(cols) + [-util], -np.inf,
                 0.0 if reserve is None else -float(reserve[r]))
