"""Address plan: no overlaps anywhere, stable under change, user blocks honoured, tunnels legal."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.catalog import load_catalog
from infra.errors import ConfigError
from infra.planning.addressing import (
    AWS_RESERVED_INSIDE,
    AddressRequest,
    all_ranges,
    plan_addresses,
    tunnel_ranges_for,
)
from infra.planning.plan import cloud_ordinal

CATALOG = sorted(load_catalog().regions.values(), key=lambda r: r.number)


def request_for(region, zones: int, cidr: str | None = None, name: str | None = None) -> AddressRequest:
    return AddressRequest(name=name or f"r{region.number}", cloud=region.cloud, number=region.number,
                          cloud_ordinal=cloud_ordinal(region), zones=region.zones[:zones], cidr=cidr)


@st.composite
def region_sets(draw, max_size: int = 50):
    """Up to 50 distinct catalog regions, random zone counts, some with user-given /16 blocks."""
    chosen = draw(st.lists(st.sampled_from(CATALOG), min_size=1, max_size=min(max_size, len(CATALOG)),
                           unique_by=lambda r: r.number))
    user_blocks = iter(ipaddress.ip_network("172.16.0.0/12").subnets(new_prefix=16))
    out = []
    for region in chosen:
        zones = draw(st.integers(min_value=1, max_value=len(region.zones)))
        cidr = str(next(user_blocks)) if draw(st.integers(0, 4)) == 0 else None
        out.append(request_for(region, zones, cidr))
    return out


def test_the_catalog_holds_at_least_fifty_regions_for_the_property_tests():
    assert len(CATALOG) >= 50


@settings(max_examples=60, deadline=None)
@given(region_sets())
def test_no_two_ranges_in_a_plan_overlap(requests):
    plan = plan_addresses(requests)
    ranges = all_ranges(plan)
    assert len(ranges) >= len(requests)
    ordered = sorted(ranges, key=lambda item: int(item[1].network_address))
    for (name_a, a), (name_b, b) in itertools.pairwise(ordered):
        assert not a.overlaps(b), f"{name_a} {a} overlaps {name_b} {b}"


@settings(max_examples=60, deadline=None)
@given(region_sets())
def test_every_range_lies_inside_its_region_block_and_vpcs_fit_aws_limits(requests):
    plan = plan_addresses(requests)
    for region in plan.regions.values():
        block = ipaddress.ip_network(region.block)
        network = ipaddress.ip_network(region.network)
        assert network.subnet_of(block) and 16 <= network.prefixlen <= 28  # AWS VPC sizes /16../28
        for zone in region.zones:
            for cidr in (zone.private, zone.public, zone.intra):
                assert ipaddress.ip_network(cidr).subnet_of(network)
        for cidr in (region.primary, region.services, region.pods):
            if cidr:
                assert ipaddress.ip_network(cidr).subnet_of(block)


@settings(max_examples=40, deadline=None)
@given(region_sets(max_size=49), st.data())
def test_adding_a_region_never_renumbers_the_others(requests, data):
    taken = {r.number for r in requests}
    extra = data.draw(st.sampled_from([r for r in CATALOG if r.number not in taken]))
    before = plan_addresses(requests)
    position = data.draw(st.integers(0, len(requests)))
    after = plan_addresses([*requests[:position], request_for(extra, 3), *requests[position:]])
    for name, region in before.regions.items():
        assert after.regions[name] == region


def test_user_given_blocks_are_honoured():
    use1 = load_catalog().region("aws", "us-east-1")
    plan = plan_addresses([request_for(use1, 3, cidr="10.200.0.0/16", name="use1")])
    assert plan.region("use1").block == "10.200.0.0/16"
    assert plan.region("use1").network == "10.200.0.0/17"


def test_overlapping_blocks_name_both_regions():
    use1, euw4 = load_catalog().region("aws", "us-east-1"), load_catalog().region("gcp", "europe-west4")
    with pytest.raises(ConfigError) as caught:
        plan_addresses([request_for(use1, 3, cidr="10.100.0.0/15", name="use1"),
                        request_for(euw4, 3, cidr="10.101.0.0/16", name="euw4")])
    (problem,) = caught.value.problems
    assert "'use1'" in problem and "'euw4'" in problem and "10.100.0.0/15" in problem


def test_a_user_block_that_collides_with_a_default_slot_is_reported():
    use1, use2 = load_catalog().region("aws", "us-east-1"), load_catalog().region("aws", "us-east-2")
    default_slot_of_use2 = plan_addresses([request_for(use2, 3, name="use2")]).region("use2").block
    with pytest.raises(ConfigError, match=r"'use1'.*'use2'|'use2'.*'use1'"):
        plan_addresses([request_for(use1, 3, cidr=default_slot_of_use2, name="use1"),
                        request_for(use2, 3, name="use2")])


def test_a_slot_outside_a_small_supernet_asks_for_a_cidr():
    far = CATALOG[-1]
    with pytest.raises(ConfigError, match="give it a cidr or use a larger supernet"):
        plan_addresses([request_for(far, 3)], supernet="10.0.0.0/12", region_prefix=15)


def test_tunnel_inside_ranges_are_distinct_link_local_30s_that_aws_accepts():
    aws = [r for r in CATALOG if r.cloud == "aws"]
    gcp = [r for r in CATALOG if r.cloud == "gcp"]
    seen = set()
    for a, g in itertools.product(aws, gcp):
        ranges = tunnel_ranges_for(cloud_ordinal(a), cloud_ordinal(g))
        assert len(ranges) == 4
        for cidr in ranges:
            net = ipaddress.ip_network(cidr)
            assert net.prefixlen == 30 and net.subnet_of(ipaddress.ip_network("169.254.0.0/16"))
            assert not any(net.overlaps(reserved) for reserved in AWS_RESERVED_INSIDE)
            assert cidr not in seen
            seen.add(cidr)
    assert len(seen) == 4 * len(aws) * len(gcp)
