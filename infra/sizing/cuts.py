"""Routing as capacity cuts instead of routing columns (the trick that makes 30 regions fast).

In a state (normal, or region f lost), demand classes k (geographies grouped by the set of
regions they may use in that state) can be routed iff Hall's condition holds: for every set S of
classes,
    demand(S) / util <= sum_{r in N(S)} K[r]
(max-flow/min-cut on source -> class -> region -> sink). Each inequality involves only the
capacity columns K, so the master problem keeps the integer nodes and a few hundred of these
cuts, never the ~10^4 routing columns. Cuts are generated lazily: solve the master, run one
max-flow per state, and add the Hall set of every deficient min cut (the source side of a min cut
is the most violated set). Cuts are keyed by region set and keep the largest required capacity,
so states share cuts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from infra.sizing.problem import SizingProblem

_SCALE_BUDGET = 2**29  # max-flow works in int32 units


@dataclass(frozen=True)
class Scenario:
    """A state (lost region f, or -1 for normal) and its classes: (summed rps, usable region indices)."""

    lost: int
    util: float
    classes: tuple[tuple[float, tuple[int, ...]], ...]


def scenarios(problem: SizingProblem) -> tuple[Scenario, ...]:
    """The normal state, then one state per lost region when N-1 is required."""
    rtt = np.asarray(problem.rtt_ms, dtype=float).reshape(len(problem.geos), len(problem.regions))
    states = [(-1, problem.util_normal, rtt <= problem.normal_budget_ms)]
    if problem.survive_region_loss:
        states += [
            (f, problem.util_failover, rtt <= problem.failover_budget_ms) for f in range(len(problem.regions))
        ]
    out = []
    for lost, util, ok in states:
        classes: dict[tuple[int, ...], float] = {}
        for s, geo in enumerate(problem.geos):
            reach = tuple(int(r) for r in np.flatnonzero(ok[s]) if r != lost)
            classes[reach] = classes.get(reach, 0.0) + geo.rps
        out.append(Scenario(lost, util, tuple((d, reach) for reach, d in classes.items())))
    return tuple(out)


def initial_cuts(scens: Iterable[Scenario]) -> dict[frozenset[int], float]:
    """Each class alone, and all classes together, for every state: {region set: capacity needed}."""
    cuts: dict[frozenset[int], float] = {}
    for sc in scens:
        for d, reach in sc.classes:
            merge_cut(cuts, frozenset(reach), d / sc.util)
        everything = frozenset(r for _, reach in sc.classes for r in reach)
        merge_cut(cuts, everything, sum(d for d, _ in sc.classes) / sc.util)
    return cuts


def merge_cut(cuts: dict[frozenset[int], float], regions: frozenset[int], demand: float) -> bool:
    if demand > cuts.get(regions, 0.0) + 1e-9:
        cuts[regions] = demand
        return True
    return False


def violated_cut(
    sc: Scenario, capacity: np.ndarray, tol: float = 1e-6
) -> tuple[frozenset[int], float] | None:
    """Most violated Hall set of one state for region capacities `capacity`, or None if routable.

    Returns (region set, raw capacity those regions need = demand of the set / util).
    """
    util = sc.util
    n_cls, n_reg = len(sc.classes), len(capacity)
    total = sum(d for d, _ in sc.classes)
    scale = _SCALE_BUDGET / max(total, float(np.max(capacity) * util), 1.0) / 4
    src, sink = 0, 1 + n_cls + n_reg
    big = int(total * scale) + 2
    rows, cols, caps = [], [], []
    for k, (d, reach) in enumerate(sc.classes):
        rows.append(src), cols.append(1 + k), caps.append(round(d * scale))
        for r in reach:
            rows.append(1 + k), cols.append(1 + n_cls + r), caps.append(big)
    for r in range(n_reg):
        if r != sc.lost:
            cap = min(big, round(capacity[r] * util * scale))
            rows.append(1 + n_cls + r), cols.append(sink), caps.append(cap)
    graph = csr_array((np.array(caps, dtype=np.int32), (rows, cols)), shape=(sink + 1, sink + 1))
    result = maximum_flow(graph, src, sink, method="dinic")
    if result.flow_value >= sum(caps[i] for i, r in enumerate(rows) if r == src) - tol * scale - n_cls:
        return None
    residual = (graph - result.flow).tocsr()
    residual.data = np.where(residual.data > 0, 1, 0).astype(np.int32)
    residual.eliminate_zeros()
    side = set(breadth_first_order(residual, src, directed=True, return_predecessors=False).tolist())
    chosen = [k for k in range(n_cls) if 1 + k in side]
    regions = frozenset(r for k in chosen for r in sc.classes[k][1])
    demand = sum(sc.classes[k][0] for k in chosen)
    if demand <= util * float(sum(capacity[r] for r in regions)) + tol:
        return None
    return regions, demand / util
