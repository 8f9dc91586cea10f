"""Network components under mocks: the resources carry exactly what the plan decided."""

from __future__ import annotations

import pytest

from components.network.aws_vpc import AwsNetwork, AwsNetworkArgs
from components.network.gcp_network import (
    GcpGlobalNetwork,
    GcpGlobalNetworkArgs,
    GcpRegionalNetwork,
    GcpRegionalNetworkArgs,
)
from infra.config import parse_config
from infra.offline.mock_runtime import run_mocked
from infra.planning.plan import build_plan
from tests.factories import raw_config

FLOW_ROLE = "arn:aws:iam::123456789012:role/flow-logs"


def plan_for(**network):
    return build_plan(parse_config(raw_config(network=network) if network else raw_config()))


def run_aws(plan):
    region = plan.region("use1")
    run = run_mocked(lambda: AwsNetwork("use1", AwsNetworkArgs(region, plan.tags, FLOW_ROLE)), stack="test")
    assert run.resources, "the component registered nothing"
    return region, run


def only(run, typ):
    (found,) = run.of_type(typ)
    return found.inputs


def test_vpc_has_the_planned_cidr_dns_and_required_tags_in_its_region():
    region, run = run_aws(plan_for())
    vpc = only(run, "aws:ec2/vpc:Vpc")
    assert vpc["cidrBlock"] == region.addresses.network == "10.0.0.0/16"
    assert vpc["region"] == "us-east-1"
    assert vpc["enableDnsSupport"] and vpc["enableDnsHostnames"]
    assert {"owner": "platform-team", "cost-center": "cc-1", "stack": "test"}.items() <= vpc["tags"].items()


def test_each_zone_gets_public_private_and_intra_subnets_from_the_address_plan():
    region, run = run_aws(plan_for())
    subnets = {s.inputs["cidrBlock"]: s.inputs for s in run.of_type("aws:ec2/subnet:Subnet")}
    assert len(subnets) == 3 * len(region.zones) == 9
    for zone in region.addresses.zones:
        assert subnets[zone.private]["availabilityZone"] == zone.zone
        assert subnets[zone.public]["availabilityZone"] == zone.zone
        assert subnets[zone.intra]["tags"]["tier"] == "intra"
    assert not any(s.get("mapPublicIpOnLaunch") for s in subnets.values())


@pytest.mark.parametrize(("per_zone", "expected"), [(False, 1), (True, 3)])
def test_nat_gateways_follow_the_plan_and_every_private_route_table_uses_one(per_zone, expected):
    _, run = run_aws(plan_for(natPerZone=per_zone))
    nats = run.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == expected
    nat_ids = {r.inputs["natGatewayId"] for r in run.of_type("aws:ec2/route:Route") if "natGatewayId" in r.inputs}
    assert len(nat_ids) == expected
    private_defaults = [r for r in run.of_type("aws:ec2/route:Route") if "natGatewayId" in r.inputs]
    assert len(private_defaults) == 3 and all(r.inputs["destinationCidrBlock"] == "0.0.0.0/0"
                                              for r in private_defaults)


def test_flow_logs_capture_all_traffic_into_a_retained_log_group():
    _, run = run_aws(plan_for(flowLogRetentionDays=90))
    log_group = only(run, "aws:cloudwatch/logGroup:LogGroup")
    flow = only(run, "aws:ec2/flowLog:FlowLog")
    assert log_group["retentionInDays"] == 90
    assert flow["trafficType"] == "ALL" and flow["logDestinationType"] == "cloud-watch-logs"
    assert flow["logDestination"].startswith("arn:aws:logs:us-east-1:") and log_group["name"] in flow["logDestination"]
    assert flow["iamRoleArn"] == FLOW_ROLE
    assert flow["vpcId"].startswith("vpc-")


def test_the_default_security_group_admits_nothing():
    _, run = run_aws(plan_for())
    sg = only(run, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert sg["ingress"] == [] and sg["egress"] == []


def test_a_transit_gateway_with_its_own_asn_is_attached_through_the_intra_subnets():
    region, run = run_aws(plan_for())
    tgw = only(run, "aws:ec2transitgateway/transitGateway:TransitGateway")
    attachment = only(run, "aws:ec2transitgateway/vpcAttachment:VpcAttachment")
    assert tgw["amazonSideAsn"] == 64512 + region.catalog.number
    assert tgw["vpnEcmpSupport"] == "enable"
    intra_ids = {s.name: s for s in run.of_type("aws:ec2/subnet:Subnet") if "intra" in s.name}
    assert len(attachment["subnetIds"]) == len(intra_ids) == 3
    assert all(sid.startswith("subnet-") for sid in attachment["subnetIds"])


def test_gcp_region_has_a_subnetwork_with_pod_and_service_ranges_router_and_nat():
    plan = plan_for()
    region = plan.region("euw4")

    def program():
        network = GcpGlobalNetwork("g", GcpGlobalNetworkArgs("test"))
        GcpRegionalNetwork("euw4", GcpRegionalNetworkArgs(region, network.self_link))

    run = run_mocked(program, stack="test")
    network = only(run, "gcp:compute/network:Network")
    subnet = only(run, "gcp:compute/subnetwork:Subnetwork")
    router = only(run, "gcp:compute/router:Router")
    nat = only(run, "gcp:compute/routerNat:RouterNat")
    assert network["autoCreateSubnetworks"] is False and network["routingMode"] == "GLOBAL"
    assert subnet["ipCidrRange"] == region.addresses.primary
    assert subnet["region"] == "europe-west4" and subnet["privateIpGoogleAccess"] is True
    assert {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]} == {
        "pods": region.addresses.pods, "services": region.addresses.services}
    assert subnet["logConfig"]["metadata"] == "INCLUDE_ALL_METADATA"
    assert subnet["network"] == router["network"] and subnet["network"].startswith("https://")
    assert router["bgp"]["asn"] == 65000 + region.catalog.number
    assert nat["logConfig"] == {"enable": True, "filter": "ERRORS_ONLY"}
    assert nat["subnetworks"][0]["sourceIpRangesToNats"] == ["ALL_IP_RANGES"]
