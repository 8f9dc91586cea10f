"""The routing simulation (pure): reproducible, right against queueing theory where theory has an
answer, and showing what the serving design relies on: capacity-weighted least-outstanding routing
keeps mixed-GPU regions' queueing delay low where round robin overloads the small replicas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.catalog import load_catalog
from infra.planning.routing_sim import POLICIES, Replica, compare, percentile, replicas_of, simulate
from infra.routing_sim import main

ROOT = Path(__file__).resolve().parent.parent
MIXED = replicas_of([("big", 1, 40.0, 8), ("small", 6, 1.5, 1)], slots_per_gpu=8)


def test_one_single_slot_server_matches_mm1_theory():
    """M/M/1: mean wait in queue = rho / (mu - lambda) = 0.7 / 0.3 s at lambda 0.7, mu 1."""
    result = simulate([Replica("only", 1.0, 1)], 0.7, "round_robin", requests=200_000, seed=3)
    assert result.mean_wait_ms == pytest.approx(1000 * 0.7 / 0.3, rel=0.05)
    assert result.waited_share == pytest.approx(0.7, abs=0.01)  # P(wait) = rho


def test_the_same_seed_gives_the_same_numbers_and_another_seed_other_numbers():
    a = simulate(MIXED, 30.0, "weighted_least_outstanding", requests=20_000, seed=7)
    assert a == simulate(MIXED, 30.0, "weighted_least_outstanding", requests=20_000, seed=7)
    assert a != simulate(MIXED, 30.0, "weighted_least_outstanding", requests=20_000, seed=8)


def test_weighted_least_outstanding_beats_round_robin_on_a_mixed_region():
    rr, wlo, two_level = compare(MIXED, 0.7 * 49.0, requests=30_000, seed=1)
    assert (rr.policy, wlo.policy, two_level.policy) == POLICIES
    assert wlo.p99_wait_ms < rr.p99_wait_ms / 100 and two_level.p99_wait_ms < rr.p99_wait_ms / 100
    assert wlo.waited_share < rr.waited_share


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 6), st.floats(0.5, 20.0), st.floats(0.1, 0.6))
def test_identical_replicas_at_low_load_rarely_wait_under_any_policy(count, rps, load):
    replicas = replicas_of([("p", count, rps, 1)], slots_per_gpu=8)
    for result in compare(replicas, load * count * rps, requests=3_000, seed=2):
        assert result.requests == 3_000 and result.p50_wait_ms == 0.0
        assert 0 <= result.waited_share < 0.2


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile(values, 100) == 100.0
    assert percentile([], 50) == 0.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        simulate([], 1.0, "round_robin")
    with pytest.raises(ValueError, match="unknown policy"):
        simulate(MIXED, 1.0, "random")


def test_the_cli_prints_every_policy_for_the_mixed_prod_regions_with_one_server_per_gpu(capsys):
    assert main(["--stack", "prod", "--requests", "2000"]) == 0
    out = capsys.readouterr().out
    # use1 mixes p4d (eight 1-GPU servers per node), g5 and g6: one server per GPU of the pinned plan's
    # nodes, not one per node.
    lock = json.loads((ROOT / "Pulumi.prod.sizing.json").read_text())["replicas"]["use1"]
    catalog = load_catalog()
    servers = sum(n * catalog.instance_type("aws", t).gpu_count for t, n in lock.items())
    assert servers > sum(lock.values()) and len(lock) > 1
    assert f"| use1 planned load | {servers} |" in out and all(p in out for p in POLICIES)
    assert "euw4" not in out and "ane1" not in out  # one GPU model: every server alike


def test_the_cli_skips_regions_whose_servers_are_alike(capsys):
    assert main(["--stack", "dev", "--requests", "2000"]) == 0
    out = capsys.readouterr().out
    assert "use1" not in out and "euw4" not in out and "example" in out
