"""Specification of the sizing planner (infra.planning.sizing): every rule a plan must meet, checked from outside.

The feasibility oracle here is a scipy.optimize.linprog transportation problem per state, written
independently of both the solver's model and infra.planning.sizing.check (which uses max-flow).
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from infra.catalog import estimated_rtt_ms, load_catalog
from infra.config import config_from_stack_file
from infra.errors import ConfigError
from infra.planning.sizing import (
    Candidate,
    Geo,
    SizingPlan,
    SizingProblem,
    SolveOptions,
    check_replicas,
    diagnose,
    plan_sizing,
    problem_from_config,
    solve,
)
from infra.planning.sizing.cli import main as sizing_main
from tests.previews import run_cli

ROOT = Path(__file__).resolve().parent.parent
GAP = SolveOptions().mip_rel_gap
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

# Node shapes like the catalog's (DESIGN.md s.7): (type, gpu model, gpus, rps per node, $/h).
SHAPES = (
    ("small", "L4", 1, 1.2, 0.80),
    ("medium", "A10G", 1, 1.5, 1.01),
    ("big", "A100-40GB", 8, 40.0, 21.96),
)


def _routable(problem: SizingProblem, replicas: dict[str, dict[str, int]], lost: str | None) -> bool:
    """Oracle: is there a routing of all demand in this state? (linprog feasibility, 0 objective)."""
    budget = problem.normal_budget_ms if lost is None else problem.failover_budget_ms
    util = problem.util_normal if lost is None else problem.util_failover
    rate = {(c.region, c.instance_type): c.rps_per_node for c in problem.candidates}
    cap = [util * sum(rate[r, t] * n for t, n in replicas.get(r, {}).items()) for r in problem.regions]
    pairs = [
        (s, j)
        for s in range(len(problem.geos))
        for j, r in enumerate(problem.regions)
        if r != lost and problem.rtt_ms[s][j] <= budget
    ]
    if not pairs:
        return False
    a_eq = np.zeros((len(problem.geos), len(pairs)))
    a_ub = np.zeros((len(problem.regions), len(pairs)))
    for k, (s, j) in enumerate(pairs):
        a_eq[s, k] = 1.0
        a_ub[j, k] = 1.0
    res = linprog(
        np.zeros(len(pairs)),
        A_ub=a_ub,
        b_ub=np.array(cap) + 1e-6,
        A_eq=a_eq,
        b_eq=[g.rps for g in problem.geos],
        method="highs",
    )
    return res.status == 0


def _assert_meets_every_rule(problem: SizingProblem, plan: SizingPlan) -> None:
    replicas = plan.replicas
    by_key = {(c.region, c.instance_type): c for c in problem.candidates}
    for region in problem.regions:
        assert sum(replicas.get(region, {}).values()) >= problem.min_replicas
    for region, per in replicas.items():
        for itype, n in per.items():
            assert isinstance(n, int) and n > 0
            quota = by_key[region, itype].max_nodes
            assert quota is None or n <= quota
    assert _routable(problem, replicas, None)
    for lost in problem.regions if problem.survive_region_loss else ():
        assert _routable(problem, replicas, lost), f"N-1 fails when {lost} is lost"
    cost = sum(by_key[r, t].usd_per_hour * n for r, per in replicas.items() for t, n in per.items())
    assert math.isclose(plan.hourly_cost, cost, rel_tol=1e-9)
    assert plan.lower_bound <= plan.hourly_cost + 1e-9
    assert plan.gap <= GAP + 1e-9


@st.composite
def problems(draw: st.DrawFn, max_regions: int = 4, max_geos: int = 5) -> SizingProblem:
    """Small random problems on the globe with RTT from coordinates (infra.catalog.estimated_rtt_ms)."""
    n_reg = draw(st.integers(2, max_regions))
    catalog_regions = sorted(load_catalog().regions.values(), key=lambda r: r.number)
    regions = draw(
        st.lists(
            st.sampled_from(catalog_regions), min_size=n_reg, max_size=n_reg, unique_by=lambda r: r.number
        )
    )
    # users near the regions (within ~8 degrees), so most draws are feasible and few are filtered out
    near = st.tuples(st.sampled_from(regions), st.floats(-8, 8), st.floats(-8, 8), st.floats(0.5, 60))
    geos = [
        (r.latitude + dlat, r.longitude + dlon, d)
        for r, dlat, dlon, d in draw(st.lists(near, min_size=1, max_size=max_geos))
    ]
    rtt = tuple(
        tuple(estimated_rtt_ms(lat, lon, r.latitude, r.longitude) for r in regions) for lat, lon, _ in geos
    )
    normal = draw(st.sampled_from([60.0, 100.0, 150.0]))
    cands = []
    for r in regions:
        shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3, unique=True))
        factor = draw(st.floats(1.0, 1.5))
        quota = draw(st.one_of(st.none(), st.integers(0, 30)))
        for i, (name, gpu, count, rps, price) in enumerate(shapes):
            cands.append(
                Candidate(
                    r.location, name, gpu, count, rps, round(price * factor, 4), quota if i == 0 else None
                )
            )
    problem = SizingProblem(
        regions=tuple(r.location for r in regions),
        candidates=tuple(cands),
        geos=tuple(Geo(f"g{i}", round(d, 2)) for i, (_, _, d) in enumerate(geos)),
        rtt_ms=rtt,
        normal_budget_ms=normal,
        failover_budget_ms=normal + draw(st.sampled_from([0.0, 50.0, 150.0])),
        util_normal=draw(st.sampled_from([0.6, 0.7])),
        util_failover=0.9,
        min_replicas=draw(st.integers(0, 2)),
        survive_region_loss=draw(st.sampled_from([True, True, False])),
    )
    assume(not diagnose(problem))
    return problem


@SETTINGS
@given(problems())
def test_every_plan_meets_every_rule_by_an_independent_oracle(problem: SizingProblem) -> None:
    _assert_meets_every_rule(problem, solve(problem))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(problems(max_regions=4, max_geos=4))
def test_cut_formulation_matches_the_plain_flow_formulation(problem: SizingProblem) -> None:
    cuts = solve(problem)
    flow = solve(problem, SolveOptions(formulation="flow"))
    assert flow.lower_bound <= cuts.hourly_cost + 1e-6
    assert cuts.lower_bound <= flow.hourly_cost + 1e-6


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(problems(), st.sampled_from(SHAPES), st.floats(0.3, 1.2))
def test_adding_a_capacity_option_never_raises_the_optimal_cost(
    problem: SizingProblem, shape: tuple, price_factor: float
) -> None:
    before = solve(problem)
    name, gpu, count, rps, price = shape
    region = problem.regions[0]
    extra = Candidate(region, f"new-{name}", gpu, count, rps, round(price * price_factor, 4))
    after = solve(replace(problem, candidates=(*problem.candidates, extra)))
    # after.lower_bound <= optimum(after) <= optimum(before) <= before.hourly_cost
    assert after.lower_bound <= before.hourly_cost + 1e-6
    assert after.hourly_cost <= before.hourly_cost / (1 - GAP) + 1e-6


def _origin_problem(min_replicas: int) -> SizingProblem:
    """The product's origin example: three nodes of 1000, 1500 and 2000 QPS; 500 QPS of demand."""
    regions = ("a", "b", "c")
    return SizingProblem(
        regions=regions,
        candidates=tuple(
            Candidate(r, f"node-{q}", "X", 1, float(q), p)
            for r, q, p in zip(regions, (1000, 1500, 2000), (1.0, 1.4, 1.8), strict=True)
        ),
        geos=(Geo("users", 500.0),),
        rtt_ms=((20.0, 30.0, 40.0),),
        normal_budget_ms=100.0,
        failover_budget_ms=100.0,
        min_replicas=min_replicas,
    )


def test_origin_example_puts_one_node_everywhere_when_every_region_must_serve() -> None:
    problem = _origin_problem(min_replicas=1)
    plan = solve(problem)
    _assert_meets_every_rule(problem, plan)
    assert plan.replicas == {"a": {"node-1000": 1}, "b": {"node-1500": 1}, "c": {"node-2000": 1}}
    assert plan.routing == {"users": {"a": pytest.approx(500.0)}}  # nearest region has room at 50%
    assert set(plan.failover["a"]["users"]) == {"b"}  # the next nearest takes over


def test_origin_example_uses_the_two_cheapest_nodes_when_regions_may_stay_empty() -> None:
    problem = _origin_problem(min_replicas=0)
    plan = solve(problem)
    _assert_meets_every_rule(problem, plan)
    # one node is not N-1 safe; the two cheapest nodes in different regions are (1000 + 1500 QPS)
    assert plan.replicas == {"a": {"node-1000": 1}, "b": {"node-1500": 1}}
    assert plan.hourly_cost == pytest.approx(2.4)


def _two_region_problem(**changes: object) -> SizingProblem:
    base = SizingProblem(
        regions=("east", "west"),
        candidates=(
            Candidate("east", "small", "L4", 1, 1.2, 0.8),
            Candidate("west", "small", "L4", 1, 1.2, 0.9),
        ),
        geos=(Geo("nyc", 10.0), Geo("sf", 5.0)),
        rtt_ms=((10.0, 70.0), (70.0, 12.0)),
        normal_budget_ms=50.0,
        failover_budget_ms=100.0,
        min_replicas=2,
    )
    return replace(base, **changes)


def test_a_geography_with_no_region_within_the_normal_budget_is_named() -> None:
    problem = _two_region_problem(normal_budget_ms=8.0, failover_budget_ms=100.0)
    with pytest.raises(ConfigError) as err:
        solve(problem)
    assert "geography nyc" in str(err.value) and "latency.normalMs" in str(err.value)
    assert "nearest is east at 10 ms" in str(err.value)


def test_a_failure_nobody_can_absorb_within_the_failover_budget_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        solve(_two_region_problem(failover_budget_ms=60.0))
    text = str(err.value)
    assert "when west is lost" in text and "geography sf" in text and "latency.failoverMs" in text


def test_a_single_region_stack_cannot_survive_a_region_loss_and_says_so() -> None:
    problem = SizingProblem(
        regions=("only",),
        candidates=(Candidate("only", "small", "L4", 1, 1.2, 0.8),),
        geos=(Geo("nyc", 1.0),),
        rtt_ms=((10.0,),),
        normal_budget_ms=50.0,
        failover_budget_ms=100.0,
    )
    with pytest.raises(ConfigError, match="at least 2 regions"):
        solve(problem)
    plan = solve(replace(problem, survive_region_loss=False))  # the explicit opt-out
    assert plan.failover == {} and plan.replicas == {"only": {"small": 2}}


def test_a_binding_quota_is_named_with_the_capacity_shortfall() -> None:
    capped = (
        Candidate("east", "small", "L4", 1, 1.2, 0.8, max_nodes=3),
        Candidate("west", "small", "L4", 1, 1.2, 0.9, max_nodes=3),
    )
    with pytest.raises(ConfigError) as err:
        solve(_two_region_problem(candidates=capped))
    text = str(err.value)
    assert "east.small <= 3" in text and "rps of demand" in text and "sizing.quotas" in text
    # each city reaches only its own region, 3 nodes x 1.2 rps at 70%: (10 - 2.52) + (5 - 2.52) short
    assert "in normal state, 9.96 rps" in text


def test_a_quota_below_the_minimum_replicas_is_named() -> None:
    capped = (
        Candidate("east", "small", "L4", 1, 1.2, 0.8, max_nodes=1),
        Candidate("west", "small", "L4", 1, 1.2, 0.9),
    )
    with pytest.raises(ConfigError, match="east: quotas allow 1 nodes"):
        solve(_two_region_problem(candidates=capped))


def test_quotas_are_respected_by_spilling_to_another_type() -> None:
    problem = _two_region_problem(
        candidates=(
            Candidate("east", "small", "L4", 1, 1.2, 0.8, max_nodes=4),
            Candidate("east", "medium", "A10G", 1, 1.5, 1.2),
            Candidate("west", "small", "L4", 1, 1.2, 0.9),
        )
    )
    plan = solve(problem)
    _assert_meets_every_rule(problem, plan)
    assert plan.replicas["east"]["small"] <= 4 and plan.replicas["east"].get("medium", 0) > 0


def test_the_checker_rejects_a_plan_missing_one_node_it_needs() -> None:
    problem = _two_region_problem()
    replicas = solve(problem).replicas
    assert check_replicas(problem, replicas) == []
    for region, per in replicas.items():
        for itype in per:
            fewer = {r: dict(p) for r, p in replicas.items()}
            fewer[region][itype] -= 1
            assert check_replicas(problem, fewer), f"removing a {itype} in {region} should break a rule"


def test_the_checker_rejects_quota_overruns_and_unknown_types() -> None:
    problem = _two_region_problem(
        candidates=(
            Candidate("east", "small", "L4", 1, 1.2, 0.8, max_nodes=20),
            Candidate("west", "small", "L4", 1, 1.2, 0.9),
        )
    )
    assert any("quota" in p for p in check_replicas(problem, {"east": {"small": 21}, "west": {"small": 20}}))
    assert any("not a candidate" in p for p in check_replicas(problem, {"east": {"huge": 1}}))


def test_summary_is_json_with_the_documented_keys() -> None:
    summary = solve(_two_region_problem()).summary()
    assert {"replicas", "hourly_cost", "lower_bound", "gap", "routing", "failover", "solve_seconds"} <= set(
        summary
    )
    assert json.loads(json.dumps(summary)) == summary
    assert set(summary["failover"]) == {"east", "west"}


def _priced_stack(tmp_path: Path, source: str = "Pulumi.dev.yaml", **sizing: object) -> Path:
    """A copy of a stack with a price for every candidate type in every region (not the CSV's rows)."""
    doc = yaml.safe_load((ROOT / source).read_text())
    cfg = doc["config"]
    catalog = load_catalog()
    allowed = cfg.get("global-ai-rollout:sizing", {}).get("instanceTypes")
    prices = {
        r["name"]: {
            name: 1.0 + 0.1 * i
            for i, (cloud, name) in enumerate(sorted(catalog.instance_types))
            if cloud == r["cloud"] and (allowed is None or name in allowed)
        }
        for r in cfg["global-ai-rollout:regions"]
    }
    cfg.setdefault("global-ai-rollout:sizing", {}).update({"prices": prices, **sizing})
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(sizing_main, *args)  # the CLI's main in this process (tests/previews.py)


def test_cli_json_on_the_dev_stack_has_the_documented_keys(tmp_path: Path) -> None:
    out = _cli("--stack-file", str(_priced_stack(tmp_path)), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert {"replicas", "hourly_cost", "lower_bound", "gap", "routing", "failover", "solve_seconds"} <= set(
        summary
    )
    assert set(summary["replicas"]) == {"use1", "euw4"}
    assert set(summary["failover"]) == {"use1", "euw4"}


def test_cli_prints_the_table_and_exits_0(tmp_path: Path) -> None:
    out = _cli("--stack-file", str(_priced_stack(tmp_path, "Pulumi.prod.yaml")))
    assert out.returncode == 0, out.stderr
    assert "replicas" in out.stdout and "Routing" in out.stdout


def test_cli_explains_an_unsizable_stack_and_exits_2_without_traceback(tmp_path: Path) -> None:
    stack = _priced_stack(tmp_path, quotas={"use1": {"g6.xlarge": 0, "g5.xlarge": 0}})
    out = _cli("--stack-file", str(stack), "--json")
    assert out.returncode == 2
    assert "use1" in out.stderr and "Traceback" not in out.stderr and out.stdout == ""


def test_cli_exits_2_on_a_missing_stack_file(tmp_path: Path) -> None:
    out = _cli("--stack-file", str(tmp_path / "Pulumi.nope.yaml"))
    assert out.returncode == 2 and "no such stack file" in out.stderr and "Traceback" not in out.stderr


def test_plan_sizing_on_a_config_routes_all_demand_of_every_geography(tmp_path: Path) -> None:
    cfg = config_from_stack_file(_priced_stack(tmp_path, "Pulumi.prod.yaml"))
    plan = plan_sizing(cfg)
    for d in cfg.demand:
        assert sum(plan.routing[d.geography].values()) == pytest.approx(d.rps)
    assert {g.region for g in plan.node_groups} == {r.name for r in cfg.regions}


def test_a_region_without_any_priced_type_is_named_with_the_fix(tmp_path: Path) -> None:
    doc = yaml.safe_load(_priced_stack(tmp_path).read_text())
    del doc["config"]["global-ai-rollout:sizing"]["prices"]["euw4"]
    path = tmp_path / "Pulumi.noprice.yaml"
    path.write_text(yaml.safe_dump(doc))
    no_catalog_prices = replace(load_catalog(), offerings={})  # independent of the CSV's current rows
    with pytest.raises(ConfigError, match=r"euw4 \(gcp europe-west4\).*sizing\.prices\.euw4") as err:
        problem_from_config(config_from_stack_file(path), catalog=no_catalog_prices)
    assert "use1" not in str(err.value)  # use1 has config prices, so only euw4 is named


# --- the fast paths agree with the plain ones they replace -------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problems(max_regions=5, max_geos=6), st.lists(st.floats(0.0, 80.0), min_size=5, max_size=5))
def test_one_max_flow_for_all_states_finds_the_cuts_of_the_per_state_max_flows(
    problem: SizingProblem, caps: list[float]
) -> None:
    from infra.planning.sizing.cuts import AllStates, Separator, scenarios

    n_reg = len(problem.regions)
    capacity = np.array(caps[:n_reg])
    scens = scenarios(problem)
    alone = [c for c in (Separator(sc, n_reg).violated(capacity) for sc in scens) if c is not None]
    together = AllStates(scens, n_reg).violated(capacity)
    key = sorted((sorted(regions), round(need, 6)) for regions, need in alone)
    assert sorted((sorted(regions), round(need, 6)) for regions, need in together) == key


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.frozensets(st.integers(0, 69), min_size=1, max_size=6), st.floats(0, 10)), max_size=40))
def test_dropped_cuts_are_implied_by_a_kept_one(raw: list[tuple[frozenset[int], float]]) -> None:
    from infra.planning.sizing.cuts import merge_cut, undominated

    cuts: dict[frozenset[int], float] = {}
    for regions, need in raw:
        merge_cut(cuts, regions, need)
    kept = undominated(cuts, 70)
    assert all(cuts[regions] == need for regions, need in kept)
    for regions, need in cuts.items():
        assert any(other <= regions and other_need >= need - 1e-9 for other, other_need in kept)


def _failover_cost(problem: SizingProblem, normal: dict, table: dict) -> float:
    """The objective of routing.failover_routing: RTT per rps, plus the move penalty for what moved."""
    from infra.planning.sizing.routing import MOVE_PENALTY_MS

    total = 0.0
    for i, geo in enumerate(problem.geos):
        for region, rps in table[geo.name].items():
            j = problem.regions.index(region)
            stay = normal[geo.name].get(region, 0.0) if problem.rtt_ms[i][j] <= problem.failover_budget_ms else 0.0
            total += problem.rtt_ms[i][j] * rps + MOVE_PENALTY_MS * max(0.0, rps - stay)
    return total


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problems(max_regions=5, max_geos=6))
def test_all_failover_tables_at_once_are_optimal_for_each_lost_region(problem: SizingProblem) -> None:
    from infra.planning.sizing.check import check_routing, region_capacity
    from infra.planning.sizing.routing import failover_routing, failover_routings

    assume(problem.survive_region_loss)
    plan = solve(problem)
    capacity = region_capacity(problem, plan.replicas)
    together = failover_routings(problem, capacity, plan.routing)
    for lost in problem.regions:
        assert check_routing(problem, plan.replicas, together[lost], lost) == []
        alone = failover_routing(problem, capacity, plan.routing, lost)
        expected = _failover_cost(problem, plan.routing, alone)
        assert _failover_cost(problem, plan.routing, together[lost]) <= expected + 1e-6 * max(1.0, expected)


def test_the_mip_start_path_is_the_one_in_use():
    """The benchmark's speed depends on HiGHS's object API (highspy, pinned): fail loudly if it is gone."""
    from infra.planning.sizing import highs

    assert highs._HAVE_CORE
