"""The link plan: who peers with whom, which tunnels carry which BGP sessions, and a route-table walk
proving every region reaches every other one - also after losing any single link between clouds, and
after losing any one whole region."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config import config_from_stack_file
from infra.planning.addressing import AWS_RESERVED_INSIDE
from infra.planning.plan import build_plan
from infra.planning.reachability import (
    GCP,
    delivers,
    index,
    reachability,
    region_loss_failures,
    route_tables,
    tgw,
    unreachable,
    vpc,
)
from infra.planning.topology import (
    MESH_MAX_AWS_REGIONS,
    VPNS_PER_AWS_REGION,
    choose_hub,
    cloud_router_asn,
    plan_topology,
    transit_gateway_asn,
)
from tests.factories import ROOT
from tests.topology_plans import all_locations, region_mixes, regions_plan

FAST = settings(max_examples=40, deadline=None)
PROD = [("aws", "us-east-1"), ("aws", "us-west-2"), ("aws", "eu-central-1"), ("gcp", "europe-west4"),
        ("gcp", "asia-northeast1")]


def single_link_failures(topology):
    """Every single thing between the clouds that can fail on its own: a tunnel, or an AWS VPN connection."""
    for v in topology.vpns:
        for t in v.tunnels:
            yield (t.id,)
        for conn in (0, 1):
            yield tuple(t.id for t in v.connection(conn))


# --- (a) reachability proof ------------------------------------------------------------------------
@FAST
@given(region_mixes())
def test_every_region_reaches_every_other_region_both_ways(locations):
    topology = plan_topology(regions_plan(locations))
    assert list(unreachable(topology)) == []


def test_the_walk_checks_something():
    """The property above is not vacuous: with no routes at all nothing crosses, and the walk sees it."""
    topology = plan_topology(regions_plan(PROD))
    verdict = reachability(topology)
    assert len(verdict) == 5 * 4 and all(verdict.values())
    tables = route_tables(topology)
    tables[vpc("a00")] = [r for r in tables[vpc("a00")] if r.next_node is None]  # drop the VPC's routes
    dst = ipaddress.ip_address("10.68.0.1")  # inside europe-west4's block (catalog number 34)
    assert not delivers(tables, vpc("a00"), dst)
    assert delivers(route_tables(topology), vpc("a00"), dst)


def test_the_prod_stack_plan_is_fully_reachable():
    plan = build_plan(config_from_stack_file(ROOT / "Pulumi.prod.yaml"))
    topology = plan_topology(plan)
    assert topology.mode == "mesh" and len(topology.peerings) == 3 and len(topology.vpns) == 6
    assert all(reachability(topology).values())


# --- (a') losing any one whole region keeps every pair of survivors connected ------------------------
def test_the_prod_stack_survives_the_loss_of_each_region():
    plan = build_plan(config_from_stack_file(ROOT / "Pulumi.prod.yaml"))
    topology = plan_topology(plan)
    assert region_loss_failures(topology) == {r.name: [] for r in plan.regions}
    for lost in topology.ranges:
        verdict = reachability(topology, lost=(lost,))
        assert len(verdict) == 4 * 3 and all(verdict.values()), lost


def test_with_one_vpn_per_aws_region_losing_its_gcp_region_cuts_aws_off():
    """What two VPNs per AWS region buy: the old single-attachment plan fails the region-loss walk
    (europe-west4 lost: AWS loses asia-northeast1), the same walk the plan above passes."""
    from dataclasses import replace

    topology = plan_topology(regions_plan(PROD))
    nearest_only = replace(topology, vpns=tuple(v for v in topology.vpns if v.gcp_region == "g34"))
    failures = region_loss_failures(nearest_only)
    assert failures["g34"] and {(s, d) for s, d, _ in failures["g34"]} >= {("a00", "g41"), ("g41", "a00")}
    assert all(not f for region, f in failures.items() if region != "g34")


@settings(max_examples=25, deadline=None)
@given(region_mixes(min_size=2, max_size=14).filter(lambda ls: any(c == "gcp" for c, _ in ls)))
def test_any_stack_with_gcp_regions_survives_the_loss_of_any_one_region(locations):
    topology = plan_topology(regions_plan(locations))
    assert region_loss_failures(topology) == {r: [] for r in topology.ranges}


@FAST
@given(region_mixes(min_size=2, max_size=6, ).map(lambda ls: [x for x in ls if x[0] == "aws"] or ls))
def test_aws_only_mesh_stacks_survive_the_loss_of_any_one_region(locations):
    topology = plan_topology(regions_plan(locations))
    assert region_loss_failures(topology) == {r: [] for r in topology.ranges}


def test_known_limit_an_aws_only_hub_stack_does_not_survive_losing_its_hub():
    """Above MESH_MAX_AWS_REGIONS AWS regions and with no GCP region to carry transit, the spokes meet
    only at the hub (docs/links.md). Every other single-region loss is survived."""
    topology = plan_topology(regions_plan(all_locations("aws")[:MESH_MAX_AWS_REGIONS + 2]))
    assert topology.mode == "hub"
    failures = region_loss_failures(topology)
    assert failures[topology.hub] and all(not f for r, f in failures.items() if r != topology.hub)


def test_every_aws_region_has_vpns_to_two_gcp_regions_when_there_are_two():
    for locations in (PROD, [*PROD, ("gcp", "us-east4")], [("aws", "us-east-1"), ("gcp", "us-east4")]):
        topology = plan_topology(regions_plan(locations))
        gcp = {n for n in topology.ranges if n not in topology.aws_regions}
        for region in topology.aws_regions:
            ends = [v.gcp_region for v in topology.vpns if v.aws_region == region]
            assert len(ends) == len(set(ends)) == min(VPNS_PER_AWS_REGION, len(gcp)), (region, ends)


# --- (b) losing any single link between two clouds keeps them connected ------------------------------
@settings(max_examples=25, deadline=None)
@given(region_mixes(min_size=2, max_size=12).filter(lambda ls: {c for c, _ in ls} == {"aws", "gcp"}))
def test_losing_any_tunnel_or_vpn_connection_keeps_every_pair_connected(locations):
    topology = plan_topology(regions_plan(locations))
    tables = index(route_tables(topology))
    failures = list(single_link_failures(topology))
    assert len(failures) == 6 * len(topology.vpns) > 0
    for failed in failures:
        assert list(unreachable(topology, failed, tables)) == [], failed


@FAST
@given(region_mixes(min_size=3, max_size=12).filter(
    lambda ls: sum(c == "aws" for c, _ in ls) >= 2 and any(c == "gcp" for c, _ in ls)))
def test_losing_a_whole_vpn_attachment_falls_back_over_tgw_peering(locations):
    topology = plan_topology(regions_plan(locations))
    tables = index(route_tables(topology))
    for v in topology.vpns:
        assert list(unreachable(topology, [t.id for t in v.tunnels], tables)) == [], v.id


def test_a_lone_aws_region_loses_gcp_with_its_only_attachment():
    """The fallback needs a neighbour: with one AWS region, losing all 4 tunnels does cut it off."""
    topology = plan_topology(regions_plan([("aws", "us-east-1"), ("gcp", "us-east4")]))
    (vpn,) = topology.vpns
    assert not all(reachability(topology, [t.id for t in vpn.tunnels]).values())
    assert all(reachability(topology, [t.id for t in vpn.tunnels[:3]]).values())


# --- links, tunnels and ASNs ---------------------------------------------------------------------------
@FAST
@given(region_mixes())
def test_tunnels_have_unique_valid_inside_ranges_and_matching_bgp_ends(locations):
    topology = plan_topology(regions_plan(locations))
    tunnels = [t for v in topology.vpns for t in v.tunnels]
    assert len({t.inside_cidr for t in tunnels}) == len(tunnels)
    for v in topology.vpns:
        assert [t.index for t in v.tunnels] == [0, 1, 2, 3]
        assert [(t.gcp_interface, t.aws_connection, t.aws_tunnel) for t in v.tunnels] == \
            [(0, 0, 1), (0, 0, 2), (1, 1, 1), (1, 1, 2)]
        for t in v.tunnels:
            net = ipaddress.ip_network(t.inside_cidr)
            assert net.prefixlen == 30 and net.subnet_of(ipaddress.ip_network("169.254.0.0/16"))
            assert not any(net.overlaps(r) for r in AWS_RESERVED_INSIDE)
            assert [str(h) for h in net.hosts()] == [t.aws_inside_ip, t.gcp_inside_ip]
            assert (t.aws_asn, t.gcp_asn) == (topology.asns[v.aws_region], topology.asns[v.gcp_region])


@FAST
@given(region_mixes())
def test_every_router_and_gateway_has_its_own_private_asn(locations):
    plan = regions_plan(locations)
    topology = plan_topology(plan)
    assert len(set(topology.asns.values())) == len(plan.regions)
    assert all(64512 <= a <= 65534 for a in topology.asns.values())
    for r in plan.regions:
        expected = transit_gateway_asn(r) if r.cloud == "aws" else cloud_router_asn(r)
        assert topology.asns[r.name] == expected


def test_each_aws_region_attaches_to_its_two_nearest_gcp_regions_nearest_first():
    topology = plan_topology(regions_plan([*PROD, ("aws", "ap-northeast-1"), ("gcp", "us-east4")]))
    ends: dict[str, list[str]] = {}
    for v in topology.vpns:
        ends.setdefault(v.aws_region, []).append(v.gcp_region)
    assert ends["a11"][0] == "g41" and ends["a08"][0] == "g34"
    assert all(len(e) == 2 for e in ends.values())


@pytest.mark.parametrize("aws_count", [1, 2, MESH_MAX_AWS_REGIONS, MESH_MAX_AWS_REGIONS + 1, 20])
def test_peerings_mesh_up_to_the_limit_then_hub_and_spoke(aws_count):
    locations = all_locations("aws")[:aws_count]
    topology = plan_topology(regions_plan(locations))
    n = aws_count
    if n == 1:
        assert topology.mode == "none" and topology.peerings == ()
    elif n <= MESH_MAX_AWS_REGIONS:
        assert topology.mode == "mesh" and len(topology.peerings) == n * (n - 1) // 2
    else:
        assert topology.mode == "hub" and len(topology.peerings) == n - 1
        assert all(topology.hub in (p.requester, p.accepter) for p in topology.peerings)
    assert all(reachability(topology).values())


def test_the_hub_is_the_most_central_aws_region():
    plan = regions_plan([("aws", loc) for loc in ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1",
                                                  "ca-central-1", "us-east-2", "sa-east-1")])
    assert choose_hub(plan.regions).location in ("us-east-1", "us-east-2", "ca-central-1")
    assert plan_topology(plan).hub == choose_hub(plan.regions).name


@FAST
@given(region_mixes(min_size=2))
def test_static_route_count_grows_linearly_beyond_the_mesh(locations):
    topology = plan_topology(regions_plan(locations))
    a = len(topology.aws_regions)
    limit = MESH_MAX_AWS_REGIONS * (MESH_MAX_AWS_REGIONS - 1) + MESH_MAX_AWS_REGIONS
    assert len(topology.tgw_routes) <= max(limit, 3 * a)
    assert len(topology.vpc_routes) == a  # the stack supernet covers every default region block


@given(st.sampled_from(all_locations("gcp")), st.sampled_from(all_locations("gcp")))
@settings(max_examples=10, deadline=None)
def test_gcp_regions_need_no_links(first, second):
    topology = plan_topology(regions_plan(sorted({first, second})))
    assert topology.peerings == () and topology.vpns == () and topology.tgw_routes == ()
    assert all(reachability(topology).values())


def test_fallback_routes_are_less_specific_than_what_bgp_brings():
    """A static route equal to a BGP prefix would win over it (static beats propagated); the fallback
    must only ever catch traffic after BGP withdrew the specifics."""
    topology = plan_topology(regions_plan(PROD))
    gcp_prefixes = [ipaddress.ip_network(c) for v in topology.vpns for c in topology.aws_learns[v.id]]
    fallbacks = [ipaddress.ip_network(r.destination) for r in topology.tgw_routes if r.purpose == "fallback"]
    assert fallbacks
    for f in fallbacks:
        assert all(f.prefixlen < g.prefixlen for g in gcp_prefixes if g.subnet_of(f))
    tables = route_tables(topology)
    assert any(r.next_node == GCP for r in tables[tgw("a00")])
