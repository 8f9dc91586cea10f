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
so states share cuts. With a rounding reserve (reserve.py) a failover state's region r offers
util x K[r] - reserve[r] instead, so a cut needs (demand(S) + reserve of N(S)) / util.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

from infra.planning.sizing.problem import SizingProblem
from infra.planning.sizing.reserve import rounding_reserve

_SCALE_BUDGET = 2**29  # max-flow works in int32 units


@dataclass(frozen=True)
class Scenario:
    """A state (lost region f, or -1 for normal) and its classes: (summed rps, usable region indices)."""

    lost: int
    util: float
    classes: tuple[tuple[float, tuple[int, ...]], ...]
    reserve: tuple[float, ...] = ()  # per region: rps of room kept free (reserve.py); () = none

    def need(self, regions: Iterable[int], demand: float) -> float:
        """Raw capacity `regions` need to carry `demand` at this state's utilisation and reserve."""
        kept = sum(self.reserve[r] for r in regions) if self.reserve else 0.0
        return (demand + kept) / self.util


def scenarios(problem: SizingProblem) -> tuple[Scenario, ...]:
    """The normal state, then one state per lost region when N-1 is required."""
    rtt = np.asarray(problem.rtt_ms, dtype=float).reshape(len(problem.geos), len(problem.regions))
    states = [(-1, problem.util_normal, rtt <= problem.normal_budget_ms)]
    if problem.survive_region_loss:
        states += [
            (f, problem.util_failover, rtt <= problem.failover_budget_ms) for f in range(len(problem.regions))
        ]
    reserve = rounding_reserve(problem) if problem.weight_units else None
    out = []
    for lost, util, ok in states:
        classes: dict[tuple[int, ...], float] = {}
        for s, geo in enumerate(problem.geos):
            reach = tuple(int(r) for r in np.flatnonzero(ok[s]) if r != lost)
            classes[reach] = classes.get(reach, 0.0) + geo.rps
        out.append(Scenario(lost, util, tuple((d, reach) for reach, d in classes.items()),
                            tuple(float(v) for v in reserve[lost]) if reserve is not None and lost >= 0 else ()))
    return tuple(out)


def initial_cuts(scens: Iterable[Scenario]) -> dict[frozenset[int], float]:
    """Per state: each class with every class whose regions it covers, and all classes: {region set: need}."""
    cuts: dict[frozenset[int], float] = {}
    for sc in scens:
        reaches = [frozenset(reach) for _, reach in sc.classes]
        for reach in reaches:  # the class and every class reaching only regions it reaches
            inside = sum(d for (d, _), other in zip(sc.classes, reaches, strict=True) if other <= reach)
            merge_cut(cuts, reach, sc.need(reach, inside))
        everything = frozenset(r for _, reach in sc.classes for r in reach)
        merge_cut(cuts, everything, sc.need(everything, sum(d for d, _ in sc.classes)))
    return cuts


def merge_cut(cuts: dict[frozenset[int], float], regions: frozenset[int], demand: float) -> bool:
    if demand > cuts.get(regions, 0.0) + 1e-9:
        cuts[regions] = demand
        return True
    return False


class Separator:
    """Max-flow separation for one state, its graph built once (only capacities change per call).

    Graph: source -> class k (its demand) -> usable region r (unbounded) -> sink (util x K[r]).
    After a max flow, the source side of the min cut is found by a search over the residual
    graph: classes whose demand is not saturated, the regions they reach, and back to every class
    sending flow into one of those regions.
    """

    def __init__(self, sc: Scenario, n_reg: int) -> None:
        self.sc = sc
        n_cls = len(sc.classes)
        self.n_cls, self.n_reg = n_cls, n_reg
        self.demand = np.array([d for d, _ in sc.classes], dtype=float)
        self.total = float(self.demand.sum())
        self.reach = np.zeros((n_cls, n_reg), dtype=bool)
        for k, (_, reach) in enumerate(sc.classes):
            self.reach[k, list(reach)] = True
        self.alive = np.array([r != sc.lost for r in range(n_reg)])
        self.reserve = np.array(sc.reserve, dtype=float) if sc.reserve else np.zeros(n_reg)
        self.sink = 1 + n_cls + n_reg
        kk, rr = np.nonzero(self.reach)
        live = np.flatnonzero(self.alive)
        rows = np.concatenate([np.zeros(n_cls, dtype=np.int64), 1 + kk, 1 + n_cls + live])
        cols = np.concatenate([1 + np.arange(n_cls), 1 + n_cls + rr, np.full(len(live), self.sink)])
        # CSR layout computed once: `order` maps CSR slots to (source arcs, class arcs, region arcs)
        order = np.lexsort((cols, rows))
        self.order = order
        self.indices = cols[order].astype(np.int32)
        self.indptr = np.searchsorted(rows[order], np.arange(self.sink + 2)).astype(np.int32)
        self.n_class_arcs = len(kk)
        self.live = live

    def violated(self, capacity: np.ndarray, tol: float = 1e-6) -> tuple[frozenset[int], float] | None:
        """Most violated Hall set for region capacities `capacity`, or None if the state is routable.

        Returns (region set, raw capacity those regions need = demand of the set / util).
        """
        sc, n_cls = self.sc, self.n_cls
        util = sc.util
        scale = _SCALE_BUDGET / max(self.total, float(np.max(capacity) * util), 1.0) / 4
        big = int(self.total * scale) + 2
        src = np.rint(self.demand * scale).astype(np.int64)
        usable = np.maximum(capacity * util - self.reserve, 0.0)
        reg = np.minimum(big, np.rint(usable[self.live] * scale)).astype(np.int64)
        caps = np.concatenate([src, np.full(self.n_class_arcs, big, dtype=np.int64), reg])
        graph = csr_array(
            (caps[self.order].astype(np.int32), self.indices, self.indptr), shape=(self.sink + 1, self.sink + 1)
        )
        result = maximum_flow(graph, 0, self.sink, method="dinic")
        if result.flow_value >= src.sum() - tol * scale - n_cls:
            return None
        flow = result.flow
        sent = flow[0:1, 1 : 1 + n_cls].toarray().ravel()
        into = flow[1 : 1 + n_cls, 1 + n_cls : 1 + n_cls + self.n_reg].toarray() > 0
        chosen = sent < src
        while True:
            regions = self.reach[chosen].any(axis=0)
            more = chosen | into[:, regions].any(axis=1)
            if (more == chosen).all():
                break
            chosen = more
        demand = float(self.demand[chosen].sum())
        region_set = frozenset(int(r) for r in np.flatnonzero(regions))
        if demand <= float((util * capacity[regions] - self.reserve[regions]).sum()) + tol:
            return None
        return region_set, sc.need(region_set, demand)


def violated_cut(
    sc: Scenario, capacity: np.ndarray, tol: float = 1e-6
) -> tuple[frozenset[int], float] | None:
    """Most violated Hall set of one state (see Separator), or None if routable."""
    return Separator(sc, len(capacity)).violated(capacity, tol)


def undominated(cuts: dict[frozenset[int], float], n_reg: int) -> list[tuple[frozenset[int], float]]:
    """The cuts no other cut implies: (R, D) is implied by (R', D') when R' is inside R and D' >= D.

    Capacities are non-negative, so sum over R' >= D' >= D forces sum over R >= D; dropping implied
    rows leaves the feasible set (and the optimum) unchanged and shrinks the master ~5x.
    """
    items = list(cuts.items())
    if not items:
        return []
    # region sets as 62-bit words (no BLAS: its threads crawl on a busy machine)
    n_words = max(1, -(-n_reg // 62))
    masks = np.array([_words(regions, n_words) for regions in cuts], dtype=np.int64)
    need = np.array([d for _, d in items])
    implies = need[:, None] >= need[None, :] - 1e-9  # implies[j, i]: cut j implies cut i
    for w in range(n_words):
        implies &= (masks[:, w][:, None] & ~masks[:, w][None, :]) == 0
    np.fill_diagonal(implies, False)
    # two cuts that imply each other (same set, same need up to 1e-9): keep the first
    equal = implies & implies.T
    implies &= ~equal | np.tri(len(items), k=-1, dtype=bool).T
    keep = ~implies.any(axis=0)
    return [items[i] for i in np.flatnonzero(keep)]


@functools.lru_cache(maxsize=1 << 14)
def _words(regions: frozenset[int], n_words: int) -> tuple[int, ...]:
    return tuple(sum(1 << (r - 62 * w) for r in regions if r // 62 == w) for w in range(n_words))


class AllStates:
    """Separation for every state with one max-flow call: the states' graphs side by side.

    The components share only the source and the sink, so the max flow of the union is each
    state's max flow, and the source side of its min cut (searched from every unsaturated class at
    once) is each state's. Demands are rounded up and capacities down, so a saturated state is
    routable for the exact numbers; an unsaturated state whose cut does not hold up in exact
    arithmetic (a rounding artefact, rare) is separated again alone at full precision.
    """

    def __init__(self, scens: Iterable[Scenario], n_reg: int) -> None:
        self.seps = [Separator(sc, n_reg) for sc in scens]
        self.n_reg = n_reg
        n_st = len(self.seps)
        self.cls_start = np.cumsum([0] + [s.n_cls for s in self.seps])
        n_cls = int(self.cls_start[-1])
        self.n_cls = n_cls
        # nodes: 0 source, 1..n_cls classes, then n_reg region nodes per state, then the sink
        self.reg0 = 1 + n_cls
        self.sink = self.reg0 + n_st * n_reg
        rows, cols = [], []
        cls_reach = []
        for i, s in enumerate(self.seps):
            kk, rr = np.nonzero(s.reach)
            rows.append(1 + self.cls_start[i] + kk)
            cols.append(self.reg0 + i * n_reg + rr)
            cls_reach.append((self.cls_start[i] + kk, i * n_reg + rr))
        self.arc_cls = np.concatenate([c for c, _ in cls_reach])
        self.arc_reg = np.concatenate([r for _, r in cls_reach])
        live = np.concatenate([i * n_reg + s.live for i, s in enumerate(self.seps)])
        self.live = live
        rows = np.concatenate([np.zeros(n_cls, dtype=np.int64), *rows, self.reg0 + live])
        cols = np.concatenate([1 + np.arange(n_cls), *cols, np.full(len(live), self.sink)])
        order = np.lexsort((cols, rows))
        self.order = order
        self.indices = cols[order].astype(np.int32)
        self.indptr = np.searchsorted(rows[order], np.arange(self.sink + 2)).astype(np.int32)
        self.demand = np.concatenate([s.demand for s in self.seps])
        self.state_of_cls = np.repeat(np.arange(n_st), [s.n_cls for s in self.seps])
        self.util = np.array([s.sc.util for s in self.seps])
        self.reserve = np.concatenate([s.reserve for s in self.seps])  # state-major, like the region nodes
        self.reach = csr_array(
            (np.ones(len(self.arc_cls)), (self.arc_cls, self.arc_reg)), shape=(n_cls, n_st * n_reg)
        )

    def violated(self, capacity: np.ndarray, tol: float = 1e-6) -> list[tuple[frozenset[int], float]]:
        """The most violated Hall set of every state that is not routable with `capacity`."""
        n_reg, n_st = self.n_reg, len(self.seps)
        totals = np.array([s.total for s in self.seps])
        # every arc value and the flow through the shared source stay far below 2**31
        scale = _SCALE_BUDGET / 4 / n_st / np.maximum(np.maximum(totals, float(np.max(capacity)) * self.util), 1.0)
        big = (totals * scale).astype(np.int64) + 2
        need = np.ceil(self.demand * scale[self.state_of_cls]).astype(np.int64)
        usable = np.maximum(np.outer(self.util, capacity).ravel() - self.reserve, 0.0)
        room = np.floor(usable * np.repeat(scale, n_reg))[self.live]
        room = np.minimum(room, big[self.live // n_reg]).astype(np.int64)
        caps = np.concatenate([need, big[self.state_of_cls[self.arc_cls]], room])
        graph = csr_array(
            (caps[self.order].astype(np.int32), self.indices, self.indptr), shape=(self.sink + 1, self.sink + 1)
        )
        flow = maximum_flow(graph, 0, self.sink, method="dinic").flow.tocoo()
        f_row, f_col, f_val = flow.row, flow.col, flow.data
        src = f_row == 0
        sent = np.zeros(self.n_cls, dtype=np.int64)
        sent[f_col[src] - 1] = f_val[src]
        short = sent < need
        if not short.any():
            return []
        back = (f_row >= 1) & (f_row <= self.n_cls) & (f_col >= self.reg0) & (f_col < self.sink) & (f_val > 0)
        into = csr_array(
            (np.ones(int(back.sum())), (f_row[back] - 1, f_col[back] - self.reg0)), shape=self.reach.shape
        )
        chosen = short.astype(float)
        while True:
            regions = (self.reach.T @ chosen) > 0
            more = ((chosen > 0) | ((into @ regions.astype(float)) > 0)).astype(float)
            if (more == chosen).all():
                break
            chosen = more
        out = []
        picked = chosen > 0
        for i in np.unique(self.state_of_cls[short]):
            sep = self.seps[i]
            lo, hi = self.cls_start[i], self.cls_start[i + 1]
            mine = picked[lo:hi]
            regs = regions[i * n_reg : (i + 1) * n_reg]
            demand = float(sep.demand[mine].sum())
            if demand > float((sep.sc.util * capacity[regs] - sep.reserve[regs]).sum()) + tol:
                region_set = frozenset(int(r) for r in np.flatnonzero(regs))
                out.append((region_set, sep.sc.need(region_set, demand)))
            else:  # rounding artefact or a tiny shortfall: decide at full precision
                cut = sep.violated(capacity, tol)
                if cut is not None:
                    out.append(cut)
        return out
