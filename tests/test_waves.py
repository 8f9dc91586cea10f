"""The wave planner (pure): canary first, configured groups next, every region exactly once, safe drains."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config import config_from_stack_file, parse_config
from infra.errors import ConfigError
from infra.planning.plan import RegionRelease, plan_for_stack_file
from infra.planning.sizing.problem import problem_from_config
from infra.planning.waves import drain_problems, least_loaded, plan_waves
from tests.factories import ROOT, raw_config

OLD = RegionRelease("m", "vllm/vllm-openai:v0.6.2")
NEW = RegionRelease("m", "vllm/vllm-openai:v0.6.3")
FAST = settings(max_examples=60, deadline=None)


@st.composite
def rollouts(draw):
    n = draw(st.integers(1, 12))
    regions = [f"r{i}" for i in range(n)]
    deployed = {r: draw(st.sampled_from([OLD, NEW, None, RegionRelease(NEW.model, NEW.image, False)]))
                for r in regions}
    canary = draw(st.one_of(st.none(), st.sampled_from(regions)))
    shuffled = draw(st.permutations(regions))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    groups, start = [], 0
    for cut in [*cuts, draw(st.integers(0, n))]:
        if cut > start:
            groups.append(list(shuffled[start:cut]))
            start = cut
    return regions, deployed, canary, groups


@FAST
@given(rollouts())
def test_every_region_not_on_the_target_is_in_exactly_one_wave(case):
    regions, deployed, canary, groups = case
    plan = plan_waves(regions, target=NEW, deployed=deployed, canary=canary, groups=groups)
    in_waves = [r for w in plan.waves for r in w.regions]
    assert len(in_waves) == len(set(in_waves))
    assert set(in_waves) == {r for r in regions if deployed[r] != NEW}  # drained ones included
    assert set(plan.up_to_date) == {r for r in regions if deployed[r] == NEW}
    assert all(w.regions for w in plan.waves)


@FAST
@given(rollouts())
def test_the_canary_goes_first_and_groups_keep_their_order(case):
    regions, deployed, canary, groups = case
    plan = plan_waves(regions, target=NEW, deployed=deployed, canary=canary, groups=groups)
    stuck = tuple(r for r in regions if deployed[r] is not None and not deployed[r].traffic)
    lead = stuck or ((canary or regions[0]),)  # drained regions lead; else the canary (or the first region)
    if stuck or deployed[lead[0]] != NEW:
        assert plan.waves[0].name == "canary" and plan.waves[0].regions == lead
    position = {r: i for i, w in enumerate(plan.waves) for r in w.regions}
    flat_groups = [[r for r in g if r in position and r not in lead] for g in groups]
    ranks = [position[g[0]] for g in flat_groups if g]
    assert ranks == sorted(ranks)  # groups in the configured order
    for g in flat_groups:
        assert len({position[r] for r in g}) <= 1  # a group is one wave


@FAST
@given(rollouts())
def test_pins_change_only_the_regions_of_finished_and_current_waves(case):
    regions, deployed, canary, groups = case
    plan = plan_waves(regions, target=NEW, deployed=deployed, canary=canary, groups=groups)
    for i, wave in enumerate(plan.waves):
        for step in ("drained", "serving"):
            pins = plan.pins(i, step)
            later = {r for w in plan.waves[i + 1:] for r in w.regions}
            for r in later:
                assert pins[r] == (deployed[r] or RegionRelease(NEW.model, NEW.image, False))
            for r in wave.regions:
                assert pins[r] == RegionRelease(NEW.model, NEW.image, step == "serving")
    assert all(p == NEW for p in plan.final_pins.values())


def test_the_least_loaded_region_is_the_default_canary():
    routing = {"us-east": {"a": 10.0, "b": 3.0}, "eu": {"c": 7.0, "b": 1.0}}
    assert least_loaded(["a", "b", "c"], routing) == "b"
    plan = plan_waves(["a", "b", "c"], target=NEW, deployed=dict.fromkeys("abc", OLD), routing=routing)
    assert [w.regions for w in plan.waves] == [("b",), ("a",), ("c",)]


def test_prod_waves_drain_one_region_at_a_time_and_a_pair_is_refused():
    cfg = config_from_stack_file(ROOT / "Pulumi.prod.yaml")
    sizing = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").sizing
    problem = problem_from_config(cfg)
    names = [r.name for r in cfg.regions]
    deployed = dict.fromkeys(names, OLD)
    single = plan_waves(names, target=NEW, deployed=deployed, canary=cfg.rollout.canary, routing=sizing.routing)
    assert drain_problems(problem, sizing.replicas, single) == []  # N-1 makes one region at a time safe
    paired = plan_waves(names, target=NEW, deployed=deployed, canary="euc1", groups=[["euw4", "ane1"]])
    (problem_text,) = drain_problems(problem, sizing.replicas, paired)
    assert "euw4, ane1" in problem_text and "split it in rollout.groups" in problem_text


def test_a_new_stack_has_no_traffic_to_protect():
    cfg = config_from_stack_file(ROOT / "Pulumi.prod.yaml")
    sizing = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").sizing
    names = [r.name for r in cfg.regions]
    plan = plan_waves(names, target=NEW, deployed=dict.fromkeys(names), groups=[names[1:]])
    assert drain_problems(problem_from_config(cfg), sizing.replicas, plan) == []


def test_rollout_config_names_only_stack_regions_once():
    with pytest.raises(ConfigError) as caught:
        parse_config(raw_config(rollout={"canary": "nope", "groups": [["euw4"], ["euw4"], []],
                                         "pins": {"x1x": {"model": "m", "image": "i:1"}}}))
    problems = caught.value.problems
    assert any(p.startswith("rollout.canary: no such region 'nope'") for p in problems)
    assert any(p.startswith("rollout.groups[1][0]: 'euw4' is already in rollout.groups[0][0]") for p in problems)
    assert any(p.startswith("rollout.groups[2]: an empty wave") for p in problems)
    assert any(p.startswith("rollout.pins.x1x: no such region") for p in problems)


def test_pins_become_the_regions_releases_in_the_plan():
    from infra.planning.plan import build_plan

    cfg = parse_config(raw_config(rollout={"pins": {"use1": {"model": "m", "image": "vllm/vllm-openai:v0.6.2",
                                                            "traffic": False}}}))
    releases = build_plan(cfg).releases
    assert releases["use1"] == RegionRelease("m", "vllm/vllm-openai:v0.6.2", False)
    assert releases["euw4"] == RegionRelease("m", "vllm/vllm-openai:v0.6.3", True)  # the model section
