"""Warm start: from the pinned plan, move as few nodes as a plan within a stated cost of the optimum needs.

`sizing --write` used to re-solve from scratch: a +1% price on one type could re-pin a plan that moved
nodes across regions for a saving inside the gap. The second stage here takes the optimum's cost C*
and the pinned replicas p, and solves

    minimise  sum_c |n_c - p_c|  (+ a cost tie-break)
    s.t.      cost(n) <= C* (1 + tolerance), min replicas per region, per-type quotas,
              and every Hall cut of every state (normal and each region lost; `cuts.py`),

adding the cuts a solution violates (one max-flow per state) until none is. The result passes the
same independent check as any plan (`check.plan_still_valid`), else it is not used. Pure.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import csr_array, hstack, identity, vstack

from infra.planning.sizing.check import plan_still_valid
from infra.planning.sizing.cuts import AllStates, initial_cuts, merge_cut, scenarios, undominated
from infra.planning.sizing.problem import SizingProblem

ROUNDS = 40


@dataclass(frozen=True)
class WarmStart:
    replicas: dict[str, dict[str, int]]
    moved: int  # nodes added plus nodes removed against the pinned plan
    cost: float  # $/h at today's prices
    max_cost: float  # the optimum's cost times (1 + tolerance)


def moved_nodes(before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]]) -> int:
    keys = {(r, t) for r, per in before.items() for t in per} | {(r, t) for r, per in after.items() for t in per}
    return sum(abs(before.get(r, {}).get(t, 0) - after.get(r, {}).get(t, 0)) for r, t in keys)


def fewest_moves(problem: SizingProblem, previous: Mapping[str, Mapping[str, int]], optimum_cost: float,
                 tolerance: float, time_limit_s: float = 30.0) -> WarmStart | None:
    """The valid plan closest to `previous` (fewest nodes moved) costing at most optimum x (1 + tolerance);
    None when the solver finds none in time (the caller keeps the optimum)."""
    cands = problem.candidates
    n_c, n_reg = len(cands), len(problem.regions)
    price = np.array([c.usd_per_hour for c in cands])
    rps = np.array([c.rps_per_node for c in cands])
    region_of = np.array([problem.regions.index(c.region) for c in cands])
    pinned = np.array([float(previous.get(c.region, {}).get(c.instance_type, 0)) for c in cands])
    hi = np.array([np.inf if c.max_nodes is None else float(c.max_nodes) for c in cands])
    max_cost = optimum_cost * (1.0 + tolerance)
    member = np.zeros((n_reg, n_c))
    member[region_of, np.arange(n_c)] = 1.0
    scens = scenarios(problem)
    separator = AllStates(scens, n_reg)
    cuts = initial_cuts(scens)
    # columns: n (integer), u (moves >= |n - p|)
    eye = identity(n_c, format="csr")
    tie = 1e-3 / max(1.0, float(price.sum()))
    c = np.concatenate([tie * price, np.ones(n_c)])
    bounds_lo = np.zeros(2 * n_c)
    bounds_hi = np.concatenate([hi, np.full(n_c, np.inf)])
    integrality = np.concatenate([np.ones(n_c), np.zeros(n_c)])
    for _ in range(ROUNDS):
        kept = undominated(cuts, n_reg)
        sets = np.zeros((len(kept), n_reg))
        for i, (regions, _) in enumerate(kept):
            sets[i, list(regions)] = 1.0
        cover = csr_array(np.vstack([member, sets[:, region_of] * rps]))
        need = np.concatenate([np.full(n_reg, float(problem.min_replicas)), [d for _, d in kept]])
        zeros = csr_array((cover.shape[0], n_c))
        rows = vstack([
            hstack([cover, zeros]),
            hstack([eye, eye]),  # n + u >= p   (u >= p - n)
            hstack([-eye, eye]),  # u - n >= -p (u >= n - p)
            hstack([csr_array(price.reshape(1, -1)), csr_array((1, n_c))]),
        ]).tocsr()
        lo = np.concatenate([need, pinned, -pinned, [-np.inf]])
        up = np.concatenate([np.full(len(need), np.inf), np.full(2 * n_c, np.inf), [max_cost]])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            res = milp(c, integrality=integrality, bounds=(bounds_lo, bounds_hi),
                       constraints=LinearConstraint(rows, lo, up),
                       options={"time_limit": time_limit_s, "mip_rel_gap": 0.0})
        if res.x is None:
            return None
        n = np.round(res.x[:n_c])
        capacity = np.bincount(region_of, weights=n * rps, minlength=n_reg)
        found = separator.violated(capacity)
        if not found:
            replicas: dict[str, dict[str, int]] = {}
            for cand, k in zip(cands, n, strict=True):
                if k > 0:
                    replicas.setdefault(cand.region, {})[cand.instance_type] = int(k)
            if plan_still_valid(problem, replicas):
                return None
            return WarmStart(replicas, moved_nodes(previous, replicas), float(price @ n), max_cost)
        for regions, demand in found:
            merge_cut(cuts, regions, demand)
    return None
