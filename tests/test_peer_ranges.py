"""AWS peer security groups stay within the 60-rules quota at any number of regions, and the policy pack
fails a stack whose group would not."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from components.links.firewall import AwsPeerSecurityGroup, AwsPeerSecurityGroupArgs
from infra.offline.mock_runtime import run_mocked
from infra.planning.peer_ranges import AWS_SG_RULES_QUOTA, MAX_SG_RANGES, cover, security_group_ranges
from infra.planning.topology import plan_topology
from policies.rules.core import Resource
from policies.rules.quotas import security_group_rules_quota
from tests.topology_plans import SUPERNET, all_locations, regions_plan


def assert_covers(exact, covered, own):
    nets = [ipaddress.ip_network(c) for c in covered]
    for c in exact:
        assert any(ipaddress.ip_network(c).subnet_of(n) for n in nets), c
    for c in own:
        assert not any(ipaddress.ip_network(c).overlaps(n) for n in nets), c


def forty_five():
    aws, gcp = all_locations("aws"), all_locations("gcp")
    return regions_plan((aws + gcp)[:45] if len(aws) >= 20 else aws + gcp[: 45 - len(aws)])


def test_at_45_regions_every_group_admits_every_peer_within_the_quota():
    plan = forty_five()
    assert len(plan.regions) == 45 and plan.aws_regions and plan.gcp_regions
    topology = plan_topology(plan)
    for region in topology.aws_regions:
        exact = topology.peer_ranges(region)
        assert len(exact) > MAX_SG_RANGES  # the exact list would break the quota
        covered = security_group_ranges(topology, region, SUPERNET)
        assert len(covered) <= MAX_SG_RANGES
        assert_covers(exact, covered, topology.ranges[region])


def test_small_stacks_keep_the_exact_peer_ranges():
    plan = regions_plan([("aws", "us-east-1"), ("aws", "eu-west-1"), ("gcp", "europe-west4")])
    topology = plan_topology(plan)
    for region in topology.aws_regions:
        assert security_group_ranges(topology, region, SUPERNET) == topology.peer_ranges(region)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 127), min_size=1, max_size=120, unique=True), st.integers(1, 25),
       st.integers(0, 127))
def test_the_cover_always_fits_covers_every_peer_and_never_the_region_itself(slots, limit, me):
    peers = [f"10.{2 * s}.0.0/15" for s in slots if s != me]
    own = [f"10.{2 * me}.0.0/15"]
    covered = cover(peers, own, limit, SUPERNET)
    assert len(covered) <= max(limit, 7)  # 7: the supernet /8 minus one /15 (the fallback's size)
    assert_covers(peers, covered, own)


def test_under_mocks_the_45_region_groups_have_at_most_60_rules_each():
    """The groups as PrivateLinks declares them (networks and links left out: they take half a minute)."""
    plan = forty_five()
    topology = plan_topology(plan)

    def program():
        for r in plan.aws_regions:
            AwsPeerSecurityGroup(f"links-{r.name}-peers", AwsPeerSecurityGroupArgs(
                location=r.location, vpc_id="vpc-0123", tags=plan.tags,
                peer_ranges=security_group_ranges(topology, r.name, SUPERNET)))

    run = run_mocked(program, stack="test")
    groups = run.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert len(groups) == len(plan.aws_regions)
    for g in groups:
        for direction in ("ingress", "egress"):
            assert sum(len(r["cidrBlocks"]) for r in g.inputs[direction]) <= AWS_SG_RULES_QUOTA
    resources = [Resource(type=g.type, props=g.inputs, urn=g.urn, name=g.name) for g in groups]
    assert security_group_rules_quota.evaluate(resources) == []


def group(cidrs: int, extra_rules: int = 0) -> list[Resource]:
    blocks = [f"10.{i}.0.0/16" for i in range(cidrs)]
    sg = Resource(type="aws:ec2/securityGroup:SecurityGroup", urn="urn:sg", name="sg", props={
        "ingress": [{"protocol": "tcp", "fromPort": p, "toPort": p, "cidrBlocks": blocks} for p in (443, 27017)]
        + [{"protocol": "icmp", "fromPort": -1, "toPort": -1, "cidrBlocks": blocks}],
        "egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["10.0.0.0/8"]}]})
    rules = [Resource(type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", urn=f"urn:r{i}",
                      name=f"r{i}", props={"cidrIpv4": "192.168.0.0/24"}, dependencies=[sg])
             for i in range(extra_rules)]
    return [sg, *rules]


def test_the_quota_rule_passes_60_rules_and_fails_63():
    assert security_group_rules_quota.evaluate(group(20)) == []
    ((message, urn),) = security_group_rules_quota.evaluate(group(21))
    assert urn == "urn:sg" and "63 ingress ipv4 rules" in message and "60" in message


def test_the_quota_rule_counts_separate_rule_resources_of_the_group():
    assert security_group_rules_quota.evaluate(group(19, extra_rules=3)) == []
    ((message, _),) = security_group_rules_quota.evaluate(group(19, extra_rules=4))
    assert "61 ingress" in message
    assert security_group_rules_quota.evaluate(group(21), {"quota": 100}) == []
