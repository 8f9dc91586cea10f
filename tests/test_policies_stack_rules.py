"""Stack rules as specifications, on small resource graphs (parents and dependencies as the engine sends them)."""

from __future__ import annotations

import pytest

from policies.rules.core import NotApplicable, Resource
from policies.rules.cost import nat_per_zone
from policies.rules.secrets import k8s_secret_generated, secret_material_generated
from policies.rules.stack import (
    gpu_capacity_meets_sizing,
    mongodb_voting_layout,
    regions_have_cluster,
    regions_linked,
    vpc_flow_logs_on,
)


def res(typ: str, name: str, props=None, parent=None, deps=(), stack="prod") -> Resource:
    return Resource(type=typ, props=props or {}, urn=f"urn:pulumi:{stack}::p::{typ}::{name}", name=name,
                    parent=parent, dependencies=list(deps))


def region(name: str) -> Resource:
    return res("rollout:region:Region", name)


def outputs(**values) -> Resource:
    return res("pulumi:pulumi:Stack", "p-prod", values)


REGIONS = {"use1": {"cloud": "aws", "zones": ["a", "b", "c"]}, "usw2": {"cloud": "aws", "zones": ["a", "b", "c"]},
           "euw4": {"cloud": "gcp", "zones": ["a", "b", "c"]}}


def test_a_vpc_without_flow_log_fails_and_with_one_passes():
    vpc = res("aws:ec2/vpc:Vpc", "vpc")
    assert [u for _, u in vpc_flow_logs_on.evaluate([vpc])] == [vpc.urn]
    assert vpc_flow_logs_on.evaluate([vpc, res("aws:ec2/flowLog:FlowLog", "fl", deps=[vpc])]) == []


def test_cluster_rule_is_not_applicable_before_clusters_exist():
    with pytest.raises(NotApplicable):
        regions_have_cluster.evaluate([region("use1")])


def test_every_region_needs_a_cluster_once_clusters_exist():
    use1, usw2 = region("use1"), region("usw2")
    only_one = [use1, usw2, res("aws:eks/cluster:Cluster", "c", parent=use1)]
    assert [u for _, u in regions_have_cluster.evaluate(only_one)] == [usw2.urn]
    both = [*only_one, res("aws:eks/cluster:Cluster", "c2", parent=usw2)]
    assert regions_have_cluster.evaluate(both) == []


def test_links_rule_is_not_applicable_before_links_exist():
    with pytest.raises(NotApplicable):
        regions_linked.evaluate([outputs(regions=REGIONS), region("use1"), region("usw2")])


def test_regions_must_form_one_linked_group():
    use1, usw2, euw4 = region("use1"), region("usw2"), region("euw4")
    tgw1 = res("aws:ec2transitgateway/transitGateway:TransitGateway", "t1", parent=use1)
    tgw2 = res("aws:ec2transitgateway/transitGateway:TransitGateway", "t2", parent=usw2)
    peering = res("aws:ec2transitgateway/peeringAttachment:PeeringAttachment", "p", parent=use1, deps=[tgw1, tgw2])
    base = [outputs(regions=REGIONS), use1, usw2, euw4, tgw1, tgw2, peering]
    assert "isolated groups: euw4 | use1, usw2" in regions_linked.evaluate(base)[0][0]
    ha = res("gcp:compute/haVpnGateway:HaVpnGateway", "ha", parent=euw4)
    vpn = res("aws:ec2/vpnConnection:VpnConnection", "vpn", parent=use1,
              deps=[tgw1, res("aws:ec2/customerGateway:CustomerGateway", "cgw", deps=[ha])])
    assert regions_linked.evaluate([*base, ha, vpn]) == []


def _gpu_pool(parent, max_size):
    return res("aws:eks/nodeGroup:NodeGroup", "gpu", parent=parent,
               props={"instanceTypes": ["g5.xlarge"], "scalingConfig": {"maxSize": max_size}})


def test_gpu_capacity_must_cover_the_sizing_plan():
    use1 = region("use1")
    plan = outputs(regions=REGIONS, sizing={"replicas": {"use1": {"g5.xlarge": 4}}})
    assert gpu_capacity_meets_sizing.evaluate([plan, use1, _gpu_pool(use1, 3)])[0][1] == use1.urn
    assert gpu_capacity_meets_sizing.evaluate([plan, use1, _gpu_pool(use1, 6)]) == []


def test_gpu_capacity_is_not_applicable_without_pools_or_plan():
    with pytest.raises(NotApplicable):
        gpu_capacity_meets_sizing.evaluate([outputs(sizing={"replicas": {}})])
    with pytest.raises(NotApplicable):
        gpu_capacity_meets_sizing.evaluate([_gpu_pool(region("use1"), 3)])


def _members(*regions_votes):
    return outputs(mongodb={"members": [{"region": r, "votes": 1, "priority": 1} for r, n in regions_votes
                                        for _ in range(n)]})


def test_mongodb_2_2_1_survives_any_region_loss():
    assert mongodb_voting_layout.evaluate([_members(("use1", 2), ("euw4", 2), ("usw2", 1))]) == []


@pytest.mark.parametrize("layout", [(("use1", 2), ("euw4", 2)), (("use1", 3), ("euw4", 2)),
                                    (("use1", 3), ("euw4", 3), ("usw2", 3))])
def test_mongodb_layouts_that_lose_majority_or_are_even_fail(layout):
    assert mongodb_voting_layout.evaluate([_members(*layout)])


def test_mongodb_rule_is_not_applicable_without_mongodb():
    with pytest.raises(NotApplicable):
        mongodb_voting_layout.evaluate([outputs(regions=REGIONS)])


def test_literal_psk_fails_and_generated_psk_passes():
    password = res("random:index/randomPassword:RandomPassword", "psk", {"length": 48})
    literal = res("gcp:compute/vPNTunnel:VPNTunnel", "t", {"sharedSecret": "typed-in"})
    generated = res("gcp:compute/vPNTunnel:VPNTunnel", "t", {"sharedSecret": "x" * 48}, deps=[password])
    assert [u for _, u in secret_material_generated.evaluate([literal])] == [literal.urn]
    assert secret_material_generated.evaluate([password, generated]) == []


def test_per_property_dependencies_win_when_the_engine_sends_them():
    password = res("random:index/randomPassword:RandomPassword", "psk")
    tunnel = res("gcp:compute/vPNTunnel:VPNTunnel", "t", {"sharedSecret": "typed-in"}, deps=[password])
    tunnel.property_dependencies = {"router": [password]}
    assert secret_material_generated.evaluate([password, tunnel])


def test_kubernetes_secret_from_a_literal_is_advised_against():
    secret = res("kubernetes:core/v1:Secret", "keyfile", {"stringData": {"keyfile": "abc"}})
    key = res("random:index/randomPassword:RandomPassword", "key")
    assert k8s_secret_generated.evaluate([secret])
    ok = res("kubernetes:core/v1:Secret", "keyfile", {"stringData": {"keyfile": "abc"}}, deps=[key])
    assert k8s_secret_generated.evaluate([key, ok]) == []


def test_prod_needs_a_nat_per_zone_dev_does_not():
    def network(stack):
        vpc = res("aws:ec2/vpc:Vpc", "vpc", stack=stack)
        subnets = [res("aws:ec2/subnet:Subnet", z, {"availabilityZone": z}, deps=[vpc], stack=stack) for z in "abc"]
        nat = res("aws:ec2/natGateway:NatGateway", "nat", deps=[subnets[0]], stack=stack)
        return [vpc, *subnets, nat], subnets

    prod, subnets = network("prod")
    assert nat_per_zone.evaluate(prod)
    assert nat_per_zone.evaluate(network("dev")[0]) == []
    more = [res("aws:ec2/natGateway:NatGateway", f"nat-{s.name}", deps=[s]) for s in subnets[1:]]
    assert nat_per_zone.evaluate(prod + more) == []
