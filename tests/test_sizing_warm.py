"""`sizing --write` from a pinned plan: the valid plan that moves the fewest nodes within the stated cost
tolerance of the optimum, reported with both numbers."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config import PROJECT
from infra.planning.sizing import Geo, SolveOptions, check_plan, plan_still_valid, solve
from infra.planning.sizing.cli import main as sizing_main
from infra.planning.sizing.lock import lock_path, read_lock
from infra.planning.sizing.solver import plan_for_replicas
from infra.planning.sizing.warm import fewest_moves, moved_nodes
from tests.test_sizing_lock import stack_copy
from tests.test_sizing_scale import random_problem

OPTIONS = SolveOptions(time_limit_s=10.0)


def more_demand(factor):
    def change(config: dict) -> None:
        config[f"{PROJECT}:demand"] = [{**d, "rps": round(d["rps"] * factor, 3)} for d in config[f"{PROJECT}:demand"]]
    return change


def test_more_prod_demand_moves_fewer_nodes_from_the_pin_than_a_fresh_solve(tmp_path, capsys):
    path = stack_copy(tmp_path, "prod", more_demand(1.05))
    before = read_lock(lock_path(path))
    assert sizing_main(["--stack-file", str(path), "--write"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"warm start from the pinned plan: (\d+) nodes moved \(a fresh solve moves (\d+)\), "
                      r"\$([\d,.]+)/h vs optimum \$([\d,.]+)/h \(([-+][\d.]+)%, tolerance 1.00%\)", out)
    assert found, out
    warm, fresh = int(found[1]), int(found[2])
    cost, optimum = (float(found[i].replace(",", "")) for i in (3, 4))
    assert warm < fresh and cost <= optimum * 1.01 + 0.01
    after = read_lock(lock_path(path))
    assert moved_nodes(before.replicas, after.replicas) == warm
    assert sizing_main(["--stack-file", str(path), "--write", "--fresh"]) == 0  # the optimum, whatever it moves
    assert "warm start" not in capsys.readouterr().out


def test_a_pin_that_still_holds_moves_nothing():
    problem = random_problem(3, 8, 20, 3, 2.0, 0.0)
    plan = solve(problem, OPTIONS)
    warm = fewest_moves(problem, plan.replicas, plan.hourly_cost, 0.01)
    assert warm is not None and warm.moved == 0 and warm.replicas == plan.replicas


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), growth=st.sampled_from([1.03, 1.1, 1.3]),
       tolerance=st.sampled_from([0.0, 0.01, 0.05]))
def test_the_warm_start_never_moves_more_than_a_fresh_solve_nor_costs_more_than_allowed(seed, growth, tolerance):
    problem = random_problem(seed, 6, 15, 3, 2.0, 0.0)
    pinned = solve(problem, OPTIONS).replicas
    grown = replace(problem, geos=tuple(Geo(g.name, round(g.rps * growth, 3)) for g in problem.geos))
    fresh = solve(grown, OPTIONS)
    warm = fewest_moves(grown, pinned, fresh.hourly_cost, tolerance)
    assert warm is not None
    assert warm.moved <= moved_nodes(pinned, fresh.replicas)
    assert warm.cost <= fresh.hourly_cost * (1 + tolerance) + 1e-6
    assert plan_still_valid(grown, warm.replicas) == []
    plan = plan_for_replicas(grown, warm.replicas, fresh.lower_bound, "warm start")
    assert check_plan(grown, plan) == [] and plan.hourly_cost == pytest.approx(warm.cost)


def test_a_bad_tolerance_is_refused(capsys):
    assert sizing_main(["--stack", "dev", "--write", "--cost-tolerance", "-0.1"]) == 2
    assert "--cost-tolerance" in capsys.readouterr().err
