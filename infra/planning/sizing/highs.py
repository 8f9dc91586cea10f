"""HiGHS for the cut master: the `highspy` package (HiGHS's own Python API, pinned in requirements.txt)
because it accepts a MIP start; `scipy.optimize.milp` (the same solver, bundled in scipy, no MIP
start: slower on large instances, same guarantees) when highspy is missing or does not match.

`scipy.optimize.milp` cannot be given a starting solution. The heuristic plan of the cut master
(infra.planning.sizing.solver) is within ~0.5% of the optimum, and with it HiGHS proves the gap at the root in
~0.1 s instead of running its own sub-MIP heuristics for ~1-2 s.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import csr_array

try:  # pinned in requirements.txt; the milp fallback below keeps results correct without it
    import highspy as _hc

    _HAVE_CORE = all(hasattr(_hc, n) for n in ("Highs", "HighsLp", "HighsSolution", "MatrixFormat"))
except ImportError:  # pragma: no cover - depends on the environment
    _hc = None
    _HAVE_CORE = False


@dataclass(frozen=True)
class MipResult:
    x: np.ndarray | None  # None: no (integer) solution
    objective: float
    bound: float  # dual bound (MIP) or optimal value (LP); -inf when unknown
    optimal: bool  # solved to the requested gap (not stopped by the time limit)


@contextlib.contextmanager
def native_stdout_silenced() -> Iterator[None]:
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


def solve(
    c: np.ndarray,
    a: csr_array,
    row_lb: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    *,
    integer: bool,
    time_limit: float,
    mip_rel_gap: float = 1e-4,
    heuristic_effort: float = 0.05,
    presolve: bool = True,
    start: np.ndarray | None = None,
) -> MipResult:
    """min c x  s.t.  a x >= row_lb, lb <= x <= ub, x integer if `integer`; `start` = a feasible MIP start."""
    time_limit = max(0.05, time_limit)
    if _HAVE_CORE:
        try:
            return _solve_core(c, a, row_lb, lb, ub, integer, time_limit, mip_rel_gap, heuristic_effort,
                               presolve, start)
        except (AttributeError, TypeError):  # pragma: no cover - private API changed: use the public one
            pass
    return _solve_milp(c, a, row_lb, lb, ub, integer, time_limit, mip_rel_gap, heuristic_effort, presolve)


def _solve_core(c, a, row_lb, lb, ub, integer, time_limit, gap, effort, presolve, start) -> MipResult:
    inf = _hc.kHighsInf
    a = csr_array(a)
    lp = _hc.HighsLp()
    lp.num_col_, lp.num_row_ = len(c), a.shape[0]
    lp.col_cost_ = np.asarray(c, dtype=float)
    lp.col_lower_ = np.asarray(lb, dtype=float)
    lp.col_upper_ = np.where(np.isfinite(ub), ub, inf).astype(float)
    lp.row_lower_ = np.asarray(row_lb, dtype=float)
    lp.row_upper_ = np.full(a.shape[0], inf)
    lp.a_matrix_.format_ = _hc.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(c), a.shape[0]
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    if integer:
        lp.integrality_ = [_hc.HighsVarType.kInteger] * len(c)
    h = _hc.Highs()
    for key, val in (
        ("output_flag", False),
        ("time_limit", float(time_limit)),
        ("presolve", "on" if presolve else "off"),
        ("mip_rel_gap", float(gap)),
        ("mip_heuristic_effort", float(effort)),
    ):
        h.setOptionValue(key, val)
    with native_stdout_silenced():
        h.passModel(lp)
        if integer and start is not None:
            sol = _hc.HighsSolution()
            sol.col_value = [float(v) for v in start]
            sol.value_valid = True
            h.setSolution(sol)
        h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    optimal = status == _hc.HighsModelStatus.kOptimal
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.array(h.getSolution().col_value) if has_x else None
    objective = float(info.objective_function_value) if has_x else math.inf
    if integer:
        bound = float(info.mip_dual_bound)
        if not math.isfinite(bound) and optimal:
            bound = objective
    else:
        bound = objective if optimal else -math.inf
    return MipResult(x, objective, bound, optimal)


def _solve_milp(c, a, row_lb, lb, ub, integer, time_limit, gap, effort, presolve) -> MipResult:
    options = {"time_limit": time_limit, "presolve": presolve, "mip_rel_gap": gap}
    if integer:
        options["mip_heuristic_effort"] = effort  # passed to HiGHS verbatim (scipy warns that it does)
    with warnings.catch_warnings(), native_stdout_silenced():
        warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
        res = milp(
            c,
            integrality=np.full(len(c), 1 if integer else 0),
            bounds=(lb, ub),
            constraints=LinearConstraint(a, row_lb, np.inf),
            options=options,
        )
    if res.x is None:
        return MipResult(None, math.inf, -math.inf, False)
    bound = getattr(res, "mip_dual_bound", None)
    bound = float(res.fun) if bound is None or not math.isfinite(bound) else float(bound)
    return MipResult(np.asarray(res.x), float(res.fun), bound, res.status == 0)
