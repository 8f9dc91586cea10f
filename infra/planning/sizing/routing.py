"""Routing tables for fixed capacities: nearest-first in normal state, stable under failure.

The MILP decides capacity; these small LPs then decide the tables Route 53 gets. Normal state
minimises rps x RTT. While a region is lost, traffic that can stay where it was stays (moving costs
a large penalty), and what must move goes to the nearest region with room, so a failover touches as
few geographies as possible.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import maximum_flow

from infra.planning.sizing.plan import Routing
from infra.planning.sizing.problem import SizingProblem
from infra.planning.sizing.reserve import rounding_reserve

MOVE_PENALTY_MS = 10_000.0  # far above any RTT: moving traffic is worse than any latency gain
_MIN_FLOW = 1e-7


def _solve(
    problem: SizingProblem,
    capacity: Mapping[str, float],
    arcs: list[tuple[int, int, float, float]],
    util: float,
    reserve: np.ndarray | None = None,
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
    if reserve is not None:
        cap = np.maximum(cap - reserve, 0.0)
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
    reserve = rounding_reserve(problem)[problem.regions.index(lost)]
    return _solve(problem, capacity, arcs, problem.util_failover, reserve)


def failover_routings(
    problem: SizingProblem, capacity: Mapping[str, float], normal: Routing
) -> dict[str, Routing]:
    """`failover_routing` for every lost region at once, with the same optimum per region.

    1. Reduced form: traffic not on the lost region keeps its normal placement and only the
       displaced traffic is placed, nearest first, into the room left (util_failover x K[r] minus
       what stays). When that is feasible it is an optimum of the full LP: any cheaper full
       solution would differ by a cycle that moves some staying traffic, costing at least one
       MOVE_PENALTY_MS per unit while saving at most (number of regions x failover budget) in RTT,
       which is less (checked below; otherwise the full LP is used).
    2. Otherwise (a chain of moves is needed somewhere, or the bound does not hold), the full LPs.
    Either way every region's LP is one block of a single block-diagonal LP: the blocks share no
    variable or row, so an optimum of the sum is an optimum of each (one HiGHS call, not 30).
    """
    geos, regions = problem.geos, problem.regions
    n_geo, n_reg = len(geos), len(regions)
    rtt = np.asarray(problem.rtt_ms, dtype=float).reshape(n_geo, n_reg)
    ok = rtt <= problem.failover_budget_ms
    stay = np.zeros((n_geo, n_reg))
    index = {r: j for j, r in enumerate(regions)}
    for s, geo in enumerate(geos):
        for region, rps in normal[geo.name].items():
            stay[s, index[region]] += rps
    stay = np.where(ok, stay, 0.0)
    demand = np.array([g.rps for g in geos])
    # room kept free for whole-weight rounding (reserve.py): the tables plan within it
    full = problem.util_failover * np.array([capacity[r] for r in regions])
    reserve = rounding_reserve(problem)
    ok_s, ok_r = np.nonzero(ok)
    st_s, st_r = np.nonzero(stay > 0)
    reduce = n_reg * problem.failover_budget_ms < MOVE_PENALTY_MS
    blocks = []
    for f in range(n_reg):
        kept = stay.copy()
        kept[:, f] = 0.0
        displaced = demand - kept.sum(axis=1)
        displaced[displaced < 1e-9] = 0.0
        cap = np.maximum(full - reserve[f], 0.0)
        room = cap - kept.sum(axis=0)
        room[f] = 0.0
        moving = (displaced > 0)[ok_s] & (ok_r != f)
        arcs = (ok_s[moving], ok_r[moving], rtt[ok_s[moving], ok_r[moving]], np.full(moving.sum(), np.inf))
        if reduce and (room >= 0).all() and _fits(n_geo, n_reg, arcs[0], arcs[1], displaced, room):
            blocks.append((arcs, displaced, room, kept))
            continue
        keep, move = st_r != f, ok_r != f
        arcs = (
            np.concatenate([st_s[keep], ok_s[move]]),
            np.concatenate([st_r[keep], ok_r[move]]),
            np.concatenate([rtt[st_s[keep], st_r[keep]], rtt[ok_s[move], ok_r[move]] + MOVE_PENALTY_MS]),
            np.concatenate([stay[st_s[keep], st_r[keep]], np.full(move.sum(), np.inf)]),
        )
        blocks.append((arcs, demand, cap, np.zeros((n_geo, n_reg))))
    flows = _stacked(n_geo, n_reg, blocks)
    if flows is None:
        raise RuntimeError("routing LP failed for fixed capacities")
    return {regions[f]: _table(problem, base, *flows[f]) for f, (_, _, _, base) in enumerate(blocks)}


def _fits(
    n_geo: int, n_reg: int, geo: np.ndarray, reg: np.ndarray, supply: np.ndarray, room: np.ndarray
) -> bool:
    """Can `supply` (per geo) be placed on the arcs within `room` (per region)? A conservative max-flow
    (supply rounded up, room down, in micro-rps): False may only cost the full LP, never a wrong table."""
    scale = min(1e6, 2**29 / max(float(supply.sum()), float(room.sum()), 1.0))
    need = np.ceil(supply * scale).astype(np.int64)
    sink = 1 + n_geo + n_reg
    rows = np.concatenate([np.zeros(n_geo, dtype=np.int64), 1 + geo, 1 + n_geo + np.arange(n_reg)])
    cols = np.concatenate([1 + np.arange(n_geo), 1 + n_geo + reg, np.full(n_reg, sink)])
    big = int(need.sum()) + 1
    caps = np.concatenate([need, np.full(len(geo), big), np.minimum(np.floor(room * scale), big).astype(np.int64)])
    graph = csr_array((caps.astype(np.int32), (rows, cols)), shape=(sink + 1, sink + 1))
    return maximum_flow(graph, 0, sink, method="dinic").flow_value >= int(need.sum())


def _stacked(
    n_geo: int, n_reg: int, blocks: list
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """Solve independent transportation LPs as one; per block (geo, region, flow) of its arcs, or None
    if some block is infeasible. Block = ((geo, region, cost, upper) arrays, supply, room, _)."""
    offsets = np.cumsum([0] + [len(arcs[0]) for arcs, *_ in blocks])
    n_col = int(offsets[-1])
    geo = np.concatenate([arcs[0] for arcs, *_ in blocks])
    reg = np.concatenate([arcs[1] for arcs, *_ in blocks])
    block = np.repeat(np.arange(len(blocks)), np.diff(offsets))
    cols = np.arange(n_col)
    a_eq = coo_array((np.ones(n_col), (block * n_geo + geo, cols)), shape=(len(blocks) * n_geo, n_col)).tocsr()
    a_ub = coo_array((np.ones(n_col), (block * n_reg + reg, cols)), shape=(len(blocks) * n_reg, n_col)).tocsr()
    res = linprog(
        c=np.concatenate([arcs[2] for arcs, *_ in blocks]),
        A_ub=a_ub,
        b_ub=np.concatenate([room for _, _, room, _ in blocks]),
        A_eq=a_eq,
        b_eq=np.concatenate([supply for _, supply, _, _ in blocks]),
        bounds=np.column_stack([np.zeros(n_col), np.concatenate([arcs[3] for arcs, *_ in blocks])]),
        method="highs",
    )
    if res.status != 0:
        return None
    return [(geo[a:b], reg[a:b], res.x[a:b]) for a, b in itertools.pairwise(offsets)]


def _table(
    problem: SizingProblem, base: np.ndarray, geo: np.ndarray, reg: np.ndarray, flow: np.ndarray
) -> Routing:
    """Routing table of `base` (geo x region rps) plus the LP's arc flows."""
    total = base.copy()
    np.add.at(total, (geo, reg), flow)
    out: dict[str, dict[str, float]] = {}
    for s, g in enumerate(problem.geos):
        row = total[s]
        out[g.name] = {problem.regions[r]: float(row[r]) for r in np.flatnonzero(row > _MIN_FLOW)}
    return out
