"""A small price or demand change does not reshuffle the fleet: the plan in effect is kept while it
meets every rule and is within the gap target of the new optimum's lower bound."""

from __future__ import annotations

from dataclasses import replace

from infra.planning.sizing import Geo, SolveOptions, check_plan, plan_still_valid, solve
from tests.test_sizing_scale import random_problem

OPTIONS = SolveOptions(time_limit_s=10.0)


def problem():
    return random_problem(5, 12, 30, 4, 2.0, 0.0)


def moved_nodes(a, b) -> int:
    keys = {(r, t) for table in (a, b) for r, per in table.items() for t in per}
    return sum(abs(a.get(r, {}).get(t, 0) - b.get(r, {}).get(t, 0)) for r, t in keys)


def test_a_one_percent_price_cut_keeps_the_fleet_and_never_raises_the_bill():
    before = solve(problem(), OPTIONS)
    used = before.node_groups[0]
    cheaper = replace(problem(), candidates=tuple(
        replace(c, usd_per_hour=round(c.usd_per_hour * 0.99, 6))
        if (c.region, c.instance_type) == (used.region, used.instance_type) else c
        for c in problem().candidates))
    after = solve(cheaper, OPTIONS, previous=before.replicas)
    assert after.status == "previous" and moved_nodes(before.replicas, after.replicas) == 0
    assert after.hourly_cost < before.hourly_cost
    assert after.hourly_cost - after.lower_bound <= OPTIONS.mip_rel_gap * after.hourly_cost + 1e-9
    assert check_plan(cheaper, after) == []


def test_a_small_demand_drop_moves_nothing():
    """Without `previous` the solver is free to pick another plan within the gap; with it, nothing moves."""
    before = solve(problem(), OPTIONS)
    quieter = replace(problem(), geos=tuple(Geo(g.name, round(g.rps * 0.999, 2)) for g in problem().geos))
    assert plan_still_valid(quieter, before.replicas) == []
    after = solve(quieter, OPTIONS, previous=before.replicas)
    assert after.replicas == before.replicas and after.status == "previous"
    assert check_plan(quieter, after) == []


def test_a_previous_plan_that_breaks_a_rule_is_replaced_by_a_valid_one():
    before = solve(problem(), OPTIONS)
    doubled = replace(problem(), geos=tuple(Geo(g.name, g.rps * 2) for g in problem().geos))
    assert plan_still_valid(doubled, before.replicas)  # demand x2: the old fleet is short somewhere
    after = solve(doubled, OPTIONS, previous=before.replicas)
    assert after.status != "previous" and check_plan(doubled, after) == []


def test_a_previous_plan_far_above_the_optimum_is_not_kept():
    before = solve(problem(), OPTIONS)
    padded = {r: {t: k * 3 for t, k in per.items()} for r, per in before.replicas.items()}
    after = solve(problem(), OPTIONS, previous=padded)
    assert after.status != "previous" and after.hourly_cost < before.hourly_cost * 1.01
