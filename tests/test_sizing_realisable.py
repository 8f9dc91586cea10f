"""Every plan the sizing accepts can be deployed: Route 53's whole weights realise it.

Stacks of 2 to 45 regions, generated as the scale bench generates them (a demand next to each
region) with random regions and demands. For each, `plan_sizing` either refuses with a ConfigError
or returns a plan whose record tree the preview builds without error, and the resolver simulation of
that tree keeps every region within capacity x failover ceiling when any single region is lost (no
rounding overshoot allowed).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from infra.config import parse_config
from infra.errors import ConfigError
from infra.planning.resolver import check_traffic, geography_shares, region_loads
from infra.planning.sizing import check_plan, dns_problems, plan_sizing, problem_from_config
from infra.planning.traffic import traffic_from_config
from tests.factories import generated_raw


def assert_realisable(cfg) -> None:
    try:
        sizing = plan_sizing(cfg)
    except ConfigError:
        return  # refused with a reason: nothing accepted, nothing to deploy
    assert check_plan(problem_from_config(cfg), sizing) == []
    traffic = traffic_from_config(cfg, sizing)  # what the preview builds: no exception
    assert check_traffic(traffic) == []
    assert traffic.rounding_overshoot == 0.0
    for lost in traffic.regions:
        loads = region_loads(traffic, geography_shares(traffic, (lost,)))
        for region, load in loads.items():
            assert load <= traffic.failover_capacity(region) + 1e-6, (lost, region, load)
    assert dns_problems(cfg, sizing) == []


@seed(29)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 45), st.integers(0, 2**16))
def test_every_plan_the_sizing_accepts_is_realised_within_the_failover_ceiling(regions, stack_seed):
    assert_realisable(parse_config(generated_raw(regions, stack_seed)))


def test_the_bench_stacks_that_needed_rounding_slack_are_realised():
    """8 to 20 regions of the scale bench: the plain optimum filled failover rooms exactly and the
    tree needed rounding slack above the ceiling (or failed: 'cannot be placed in whole DNS weights')."""
    for regions in (8, 12, 20):
        assert_realisable(parse_config(generated_raw(regions)))
