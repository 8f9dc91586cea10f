"""The pinned fleet: a reviewed sizing lock is what the program deploys, until it stops holding."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from infra.config import PROJECT, config_from_stack_file
from infra.errors import ConfigError
from infra.planning.plan import plan_for_stack_file
from infra.planning.sizing import problem_from_config, solve
from infra.planning.sizing.cli import main as sizing_main
from infra.planning.sizing.lock import (
    inputs_digest,
    lock_of,
    lock_path,
    pinned_plan,
    read_lock,
    sizing_diff,
    write_lock,
)
from tests.factories import ROOT, raw_config, write_stack_file
from tests.test_sizing import problems


def stack_copy(tmp_path: Path, stack: str, change) -> Path:
    """Pulumi.<stack>.yaml and its lock copied to tmp_path, with `change(config)` applied to the config."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    change(document["config"])
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    shutil.copy(lock_path(ROOT / f"Pulumi.{stack}.yaml"), lock_path(path))
    return path


def prices_up_one_percent(config: dict) -> None:
    """Every candidate's price in every prod region, 1% higher, as config overrides."""
    problem = problem_from_config(config_from_stack_file(ROOT / "Pulumi.prod.yaml"))
    prices: dict[str, dict[str, float]] = {}
    for c in problem.candidates:
        prices.setdefault(c.region, {})[c.instance_type] = round(c.usd_per_hour * 1.01, 6)
    config[f"{PROJECT}:sizing"] = {**config[f"{PROJECT}:sizing"], "prices": prices}


def test_the_committed_locks_hold_for_dev_and_prod():
    for stack in ("dev", "prod"):
        path = ROOT / f"Pulumi.{stack}.yaml"
        lock = read_lock(lock_path(path))
        assert lock is not None, f"{stack} has no sizing lock"
        plan = plan_for_stack_file(path).sizing
        assert plan.status == "pinned" and plan.replicas == lock.replicas
        assert plan.lower_bound <= plan.hourly_cost


def test_a_pinned_prod_plan_survives_a_one_percent_price_change_and_the_diff_shows_it(tmp_path, capsys):
    path = stack_copy(tmp_path, "prod", prices_up_one_percent)
    lock = read_lock(lock_path(path))
    plan = plan_for_stack_file(path).sizing
    assert plan.replicas == lock.replicas  # the fleet did not move
    assert plan.hourly_cost == pytest.approx(lock.hourly_cost * 1.01, rel=1e-4)  # priced at today's prices

    assert sizing_main(["--stack-file", str(path), "--diff", "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    pinned_rows = [r for r in diff["rows"] if r["pinned_nodes"] > 0]
    assert {(r["region"], r["instance_type"]) for r in pinned_rows} == {
        (region, itype) for region, per in lock.replicas.items() for itype in per}
    for row in pinned_rows:
        assert row["changed"]
        assert row["pinned_usd_per_hour_now"] == pytest.approx(row["pinned_usd_per_hour_written"] * 1.01, rel=1e-4)
    assert diff["pinned_usd_per_hour_now"] == pytest.approx(diff["pinned_usd_per_hour_written"] * 1.01, rel=1e-4)

    assert sizing_main(["--stack-file", str(path), "--diff"]) == 0  # the table form names the lock
    assert "Pulumi.prod.sizing.json" in capsys.readouterr().out


def test_the_diff_shows_nodes_a_re_solve_would_move(tmp_path):
    cfg_path = write_stack_file(tmp_path / "Pulumi.t.yaml", raw_config())
    problem = problem_from_config(config_from_stack_file(cfg_path))
    lock = lock_of(solve(problem))
    (region, per), *_ = lock.replicas.items()
    itype = next(iter(per))
    padded = {r: dict(p) for r, p in lock.replicas.items()}
    padded[region][itype] += 2
    bigger = type(lock)(padded, lock.routing, lock.failover, lock.usd_per_hour)
    rows = {(r.region, r.instance_type): r for r in sizing_diff(problem, bigger, solve(problem))}
    row = rows[region, itype]
    assert (row.pinned_nodes, row.resolved_nodes) == (per[itype] + 2, per[itype]) and row.changed


def test_a_pin_that_no_longer_meets_demand_fails_and_shows_the_re_solved_plan(tmp_path):
    def more_demand(config: dict) -> None:
        config[f"{PROJECT}:demand"] = [{**d, "rps": d["rps"] * 1.5} for d in config[f"{PROJECT}:demand"]]

    path = stack_copy(tmp_path, "prod", more_demand)
    with pytest.raises(ConfigError) as caught:
        plan_for_stack_file(path)
    text = str(caught.value)
    assert "Pulumi.prod.sizing.json" in text and "no longer holds" in text
    assert "demand not routable" in text  # the checker's own words
    assert "re-solved plan:" in text and "--write" in text


def test_a_pin_naming_a_type_no_longer_offered_fails(tmp_path):
    def only_l4(config: dict) -> None:
        config[f"{PROJECT}:sizing"] = {**config[f"{PROJECT}:sizing"],
                                      "instanceTypes": ["g6.xlarge", "g2-standard-4"]}

    path = stack_copy(tmp_path, "prod", only_l4)
    with pytest.raises(ConfigError, match=r"replicas\.use1\.p4d\.24xlarge: not a candidate"):
        plan_for_stack_file(path)


def test_write_pins_and_the_program_deploys_the_pin_not_a_fresh_solve(tmp_path):
    from infra.offline.run import run_stack

    path = write_stack_file(tmp_path / "Pulumi.t.yaml", raw_config())
    assert sizing_main(["--stack-file", str(path), "--write"]) == 0
    lock = read_lock(lock_path(path))
    assert lock is not None and lock.replicas == solve(problem_from_config(config_from_stack_file(path))).replicas
    # A reviewer adds two nodes by hand: still valid, so the program must deploy exactly that.
    region = "use1"
    itype = next(iter(lock.replicas[region]))
    padded = {r: dict(p) for r, p in lock.replicas.items()}
    padded[region][itype] += 2
    write_lock(lock_path(path), type(lock)(padded, lock.routing, lock.failover, lock.usd_per_hour), "t")
    run = run_stack(path, "t")
    assert run.outputs["sizing"]["replicas"] == padded
    # EKS GPU groups carry the plan as their ceiling (the floor is the servers' replicas; created at 1 node
    # so every later scaling update is accepted: infra/planning/cluster_plan.py eks_scaling)
    burst = config_from_stack_file(path).sizing.burst_replicas
    ceilings = {tuple(g.inputs["instanceTypes"]): g.inputs["scalingConfig"]["maxSize"]
                for g in run.of_type("aws:eks/nodeGroup:NodeGroup") if g.inputs.get("taints")}
    assert ceilings[(itype,)] == padded[region][itype] + burst


def test_an_unreadable_lock_is_a_config_error(tmp_path):
    path = tmp_path / "Pulumi.x.sizing.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_lock(path)
    path.write_text(json.dumps({"version": 1, "replicas": {"use1": {"g5.xlarge": 1.5}}, "routing": {}}))
    with pytest.raises(ConfigError, match="expected an integer"):
        read_lock(path)
    assert read_lock(tmp_path / "absent.json") is None


def test_lock_sits_beside_the_stack_file():
    assert lock_path(Path("/x/Pulumi.prod.yaml")) == Path("/x/Pulumi.prod.sizing.json")


def test_pinned_plan_quotes_its_gap_against_a_re_solve(tmp_path):
    path = write_stack_file(tmp_path / "Pulumi.t.yaml", raw_config())
    problem = problem_from_config(config_from_stack_file(path))
    lock = lock_of(solve(problem))
    plan = pinned_plan(problem, lock)
    assert plan.status == "pinned" and 0 <= plan.gap <= 0.005


PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@PROPERTY
@given(problems(max_regions=4, max_geos=4), st.floats(0.5, 2.0))
def test_any_written_lock_is_accepted_and_keeps_its_nodes_when_prices_move(tmp_path_factory, problem, factor):
    path = tmp_path_factory.mktemp("lock") / "Pulumi.p.sizing.json"
    write_lock(path, lock_of(solve(problem)), "p")
    lock = read_lock(path)  # through JSON, routing rounded to 6 digits
    repriced = replace(problem, candidates=tuple(replace(c, usd_per_hour=c.usd_per_hour * factor)
                                                 for c in problem.candidates))
    plan = pinned_plan(repriced, lock)
    assert plan.replicas == {r: dict(per) for r, per in lock.replicas.items()}
    assert plan.hourly_cost == pytest.approx(lock.hourly_cost * factor, rel=1e-6, abs=1e-3)


@PROPERTY
@given(problems(max_regions=4, max_geos=4))
def test_with_n_minus_1_any_single_region_wave_is_safe_to_drain(problem):
    from infra.planning.plan import RegionRelease
    from infra.planning.waves import drain_problems, plan_waves

    assume(problem.survive_region_loss)
    plan = solve(problem)
    old, new = RegionRelease("m", "i:1"), RegionRelease("m", "i:2")
    waves = plan_waves(list(problem.regions), target=new, deployed=dict.fromkeys(problem.regions, old))
    assert all(len(w.regions) == 1 for w in waves.waves)
    assert drain_problems(problem, plan.replicas, waves) == []


def test_a_pin_is_checked_not_re_solved_while_its_inputs_are_those_it_was_written_for(tmp_path, monkeypatch):
    import infra.planning.sizing.lock as lock_module

    path = write_stack_file(tmp_path / "Pulumi.t.yaml", raw_config())
    problem = problem_from_config(config_from_stack_file(path))
    plan = solve(problem)
    write_lock(lock_path(path), lock_of(plan, problem), "t")
    pinned = read_lock(lock_path(path))
    assert pinned.inputs_sha256 and pinned.lower_bound == plan.lower_bound

    def no_solve(*_, **__):
        raise AssertionError("a pin with matching inputs must not be re-solved")

    monkeypatch.setattr(lock_module, "solve", no_solve)
    checked = pinned_plan(problem, pinned)
    assert checked.replicas == plan.replicas and checked.lower_bound == plan.lower_bound
    cheaper = replace(problem, candidates=tuple(replace(c, usd_per_hour=c.usd_per_hour * 0.9)
                                                for c in problem.candidates))
    with pytest.raises(AssertionError, match="must not be re-solved"):  # inputs changed: a bound is solved again
        pinned_plan(cheaper, pinned)


def test_the_repository_pins_carry_their_bound_for_todays_inputs():
    for stack in ("dev", "prod"):
        path = ROOT / f"Pulumi.{stack}.yaml"
        pinned = read_lock(lock_path(path))
        assert pinned.inputs_sha256 == inputs_digest(problem_from_config(config_from_stack_file(path))), (
            f"{stack}: the sizing inputs changed since the pin was written, so every preview re-solves for its "
            f"bound; review `python -m infra.sizing --stack {stack} --diff` and pin with `--write`")
