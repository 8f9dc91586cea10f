"""Verify: live resources against the plan. A `pulumi up` is replayed into moto (and the fake GCP) from the
plan, the way the program names and tags things; each test then changes one thing and expects that drift."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.ops import verify
from infra.ops.clouds import AwsClients
from infra.ops.kube import PrometheusUnreachable
from infra.ops.verify import ExpectedRecord, check_dns
from infra.planning.cluster_plan import POOL_LABEL
from infra.planning.monitoring import recording_rules
from infra.planning.plan import RolloutPlan
from infra.planning.serving import SERVING_NAMESPACE
from tests.ops_fakes import (
    FakeCluster,
    FakeGcp,
    set_tunnel_telemetry,
)
from tests.ops_stack import GCP_PROJECT, ops_plan, write_ops_stack

STACK = "ops"
ACCOUNT = "123456789012"  # moto's default account



def tags(name: str) -> list[dict[str, Any]]:
    return [{"Key": "Name", "Value": name}, {"Key": "stack", "Value": STACK}]


def spec(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": tags(name)}]


@dataclass
class World:
    """What `pulumi up` left behind, with handles the tests use to make drift."""

    plan: RolloutPlan
    aws: AwsClients
    gcp: FakeGcp
    vpcs: dict[str, str] = field(default_factory=dict)
    vpn_connections: dict[str, str] = field(default_factory=dict)  # tag Name -> VPN connection id
    telemetry: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # connection id -> tunnels
    nodegroups: dict[tuple[str, str], str] = field(default_factory=dict)  # (region, pool) -> nodegroup name
    clusters: dict[str, FakeCluster] = field(default_factory=dict)  # region -> its cluster's API

    def ec2(self, region: str) -> Any:
        return self.aws.client("ec2", self.plan.region(region).location)


def launch_nodes(ec2: Any, cluster: str, nodegroup: str, instance_type: str, count: int) -> list[str]:
    """The instances EKS launches for a managed node group, tagged as EKS tags them."""
    if count == 0:
        return []
    tags = [{"Key": "eks:cluster-name", "Value": cluster}, {"Key": "eks:nodegroup-name", "Value": nodegroup}]
    answer = ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count, InstanceType=instance_type,
                               TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    return [i["InstanceId"] for i in answer["Instances"]]


def deploy(plan: RolloutPlan, aws: AwsClients) -> World:
    world = World(plan, aws, FakeGcp(project=GCP_PROJECT))
    tgws = {}
    for r in plan.aws_regions:
        ec2 = world.ec2(r.name)
        vpc = ec2.create_vpc(CidrBlock=r.addresses.network, TagSpecifications=spec("vpc", f"{r.name}-vpc"))["Vpc"]
        world.vpcs[r.name] = vpc["VpcId"]
        tgws[r.name] = ec2.create_transit_gateway(TagSpecifications=spec("transit-gateway", f"{r.name}-tgw"))[
            "TransitGateway"]["TransitGatewayId"]
        eks = aws.client("eks", r.location)
        cluster = plan.clusters[r.name]
        eks.create_cluster(name=cluster.name, roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                           resourcesVpcConfig={"subnetIds": []})
        for pool in cluster.pools:
            name = f"{r.name}-k8s-{pool.name}-1a2b3c4"  # auto-named by Pulumi
            eks.create_nodegroup(clusterName=cluster.name, nodegroupName=name,
                                 nodeRole=f"arn:aws:iam::{ACCOUNT}:role/n", subnets=["subnet-1"],
                                 instanceTypes=[pool.machine_type], labels=dict(pool.labels),
                                 scalingConfig={"minSize": pool.min_nodes, "desiredSize": pool.desired_nodes,
                                                "maxSize": pool.max_nodes})
            world.nodegroups[(r.name, pool.name)] = name
            launch_nodes(world.ec2(r.name), cluster.name, name, pool.machine_type, pool.desired_nodes)
    for p in plan.topology.peerings:
        requester, accepter = plan.region(p.requester), plan.region(p.accepter)
        attachment = world.ec2(p.requester).create_transit_gateway_peering_attachment(
            TransitGatewayId=tgws[p.requester], PeerTransitGatewayId=tgws[p.accepter], PeerAccountId=ACCOUNT,
            PeerRegion=accepter.location, TagSpecifications=spec("transit-gateway-attachment", p.id),
        )["TransitGatewayPeeringAttachment"]["TransitGatewayAttachmentId"]
        assert requester.location != accepter.location
        world.ec2(p.accepter).accept_transit_gateway_peering_attachment(TransitGatewayAttachmentId=attachment)
    for v in plan.topology.vpns:
        ec2 = world.ec2(v.aws_region)
        for conn in (0, 1):
            gateway = ec2.create_customer_gateway(Type="ipsec.1", BgpAsn=v.gcp_asn, PublicIp=f"203.0.113.{10 + conn}",
                                                  TagSpecifications=spec("customer-gateway", f"{v.id}-cgw-{conn}"))
            name = f"{v.id}-connection-{conn}"
            connection = ec2.create_vpn_connection(
                Type="ipsec.1", CustomerGatewayId=gateway["CustomerGateway"]["CustomerGatewayId"],
                TransitGatewayId=tgws[v.aws_region], TagSpecifications=spec("vpn-connection", name),
            )["VpnConnection"]["VpnConnectionId"]
            world.vpn_connections[name] = connection
            world.telemetry[connection] = [
                {"OutsideIpAddress": f"198.51.100.{4 * conn + t}", "Status": "UP", "StatusMessage": "",
                 "AcceptedRouteCount": 3} for t in range(len(v.connection(conn)))]
        set_tunnel_telemetry(ec2, world.telemetry)
    for r in plan.gcp_regions:
        a = r.addresses
        world.gcp.subnets[r.location] = [
            {"name": "other-team-subnet", "ipCidrRange": "172.16.0.0/20"},
            {"name": f"{r.name}-subnet-5e6f7a8", "ipCidrRange": a.primary,
             "secondaryIpRanges": [{"rangeName": "pods", "ipCidrRange": a.pods},
                                   {"rangeName": "services", "ipCidrRange": a.services}]}]
        cluster = plan.clusters[r.name]
        world.gcp.pools[(r.location, cluster.name)] = [
            {"name": f"{r.name}-k8s-{pool.name}-9b8c7d6", "status": "RUNNING", "nodeCount": pool.desired_nodes,
             "runningCount": pool.desired_nodes,
             "config": {"machineType": pool.machine_type, "labels": dict(pool.labels)},
             "autoscaling": {"totalMinNodeCount": pool.min_nodes, "totalMaxNodeCount": pool.max_nodes}}
            for pool in cluster.pools]
    publish_records(plan, aws)
    for name, serving in plan.serving.items():  # the servers at their floor, the load as planned
        world.clusters[name] = FakeCluster(ready={(SERVING_NAMESPACE, p.name): p.floor for p in serving.pools},
                                           rps=plan.monitoring.regions[name].planned_rps)
    return world


def connect(world: World):
    return lambda cluster: world.clusters[cluster.region]


def record_change(rec: Any, zone_id: str) -> dict[str, Any]:
    """The Route 53 record set `components/traffic/records.py` declares for one planned record."""
    if rec.kind == "endpoint":
        return {"Name": rec.name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.10"}]}
    out: dict[str, Any] = {"Name": rec.name, "Type": "A", "SetIdentifier": rec.set_identifier,
                           "AliasTarget": {"HostedZoneId": zone_id, "DNSName": rec.target,
                                           "EvaluateTargetHealth": True}}
    if rec.kind == "weighted":
        out["Weight"] = rec.weight
    elif rec.kind == "failover":
        out["Failover"] = rec.failover
    elif rec.kind == "geolocation":
        loc = rec.location
        out["GeoLocation"] = {k: v for k, v in (("ContinentCode", loc.continent), ("CountryCode", loc.country),
                                                ("SubdivisionCode", loc.subdivision)) if v}
    return out


def publish_records(plan: RolloutPlan, aws: AwsClients) -> str:
    route53 = aws.client("route53", "us-east-1")
    zone_id = route53.create_hosted_zone(Name=plan.traffic.zone_name, CallerReference="up")["HostedZone"]["Id"]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": record_change(rec, zone_id)} for rec in plan.traffic.records]})
    return zone_id


@pytest.fixture
def world(aws: AwsClients) -> World:
    return deploy(ops_plan(), aws)


def run(tmp_path: Path, world: World, capsys: pytest.CaptureFixture[str], *extra: str
        ) -> tuple[int, list[dict[str, Any]]]:
    path = write_ops_stack(tmp_path, STACK)
    code = verify.main(["--stack-file", str(path), "--json", *extra], aws=world.aws,
                       gcp_factory=lambda _: world.gcp, env={}, clusters=connect(world))
    report = json.loads(capsys.readouterr().out)
    assert report["command"] == "verify" and report["ok"] == (code == 0)
    return code, report["checks"]


def find(checks: list[dict[str, Any]], check: str, status: str | None = None) -> list[dict[str, Any]]:
    return [c for c in checks if c["check"] == check and (status is None or c["status"] == status)]


def drift(checks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["check"], c["scope"]) for c in checks if c["status"] == "fail"]


# ---- no drift -------------------------------------------------------------------------------------------------

def test_a_stack_deployed_as_planned_has_no_drift(tmp_path, world, capsys):
    code, checks = run(tmp_path, world, capsys)
    assert code == 0, drift(checks)
    assert {c["scope"] for c in find(checks, "vpc", "pass")} == {"use1", "usw2"}
    assert [c["scope"] for c in find(checks, "tgw-peering", "pass")] == ["peer-use1-usw2"]
    assert len(find(checks, "vpn-tunnels", "pass")) == 4  # two AWS regions x two connections
    assert {c["scope"] for c in find(checks, "node-pools", "pass")} == {
        "use1/system", "use1/gpu-g5-xlarge", "usw2/system", "usw2/gpu-g5-xlarge", "euw4/system",
        "euw4/gpu-g2-standard-4"}
    assert find(checks, "subnetwork", "pass")
    assert len(find(checks, "dns-records", "pass")) == len(world.plan.traffic.records) > 0
    assert {c["scope"] for c in find(checks, "live-replicas", "pass")} == {
        "use1/gpu-g5-xlarge", "usw2/gpu-g5-xlarge", "euw4/gpu-g2-standard-4"}
    assert {c["scope"] for c in find(checks, "live-load", "pass")} == {"use1", "usw2", "euw4"}


def test_the_table_prints_the_drift(tmp_path, world, capsys):
    world.telemetry[world.vpn_connections["vpn-use1-euw4-connection-1"]][0]["Status"] = "DOWN"
    path = write_ops_stack(tmp_path, STACK)
    code = verify.main(["--stack-file", str(path)], aws=world.aws, gcp_factory=lambda _: world.gcp, env={},
                       clusters=connect(world))
    out = capsys.readouterr().out
    assert code == 1
    assert "Drift (1):" in out and "vpn-tunnels vpn-use1-euw4-connection-1" in out


def test_bad_config_exits_2(tmp_path, world, capsys):
    path = write_ops_stack(tmp_path, STACK, regions=[{"name": "use1", "cloud": "aws", "location": "mars-1"}])
    assert verify.main(["--stack-file", str(path)], aws=world.aws, gcp_factory=lambda _: world.gcp, env={}) == 2
    assert "mars-1" in capsys.readouterr().err


# ---- networks ---------------------------------------------------------------------------------------------------

def test_a_missing_vpc_is_drift(tmp_path, world, capsys):
    world.ec2("usw2").delete_vpc(VpcId=world.vpcs["usw2"])
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("vpc", "usw2")]


def test_a_vpc_with_another_cidr_is_drift(tmp_path, world, capsys):
    ec2 = world.ec2("use1")
    ec2.delete_vpc(VpcId=world.vpcs["use1"])
    ec2.create_vpc(CidrBlock="10.200.0.0/16", TagSpecifications=spec("vpc", "use1-vpc"))
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("vpc", "use1")]
    assert f"planned {world.plan.region('use1').addresses.network}" in find(checks, "vpc", "fail")[0]["detail"]


def test_a_peering_not_accepted_is_drift(tmp_path, aws, capsys):
    plan = ops_plan()
    world = deploy(plan, aws)
    ec2 = world.ec2("use1")
    [attachment] = ec2.describe_transit_gateway_peering_attachments(
        Filters=[{"Name": "tag:Name", "Values": ["peer-use1-usw2"]}])["TransitGatewayPeeringAttachments"]
    ec2.delete_transit_gateway_peering_attachment(TransitGatewayAttachmentId=attachment["TransitGatewayAttachmentId"])
    tgws = {r: world.ec2(r).describe_transit_gateways()["TransitGateways"][0]["TransitGatewayId"]
            for r in ("use1", "usw2")}
    ec2.create_transit_gateway_peering_attachment(  # requested again, never accepted
        TransitGatewayId=tgws["use1"], PeerTransitGatewayId=tgws["usw2"], PeerAccountId=ACCOUNT,
        PeerRegion="us-west-2", TagSpecifications=spec("transit-gateway-attachment", "peer-use1-usw2"))
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("tgw-peering", "peer-use1-usw2")]
    assert "not accepted" in find(checks, "tgw-peering", "fail")[0]["detail"]


def test_a_gcp_subnetwork_with_other_ranges_is_drift(tmp_path, world, capsys):
    world.gcp.subnets["europe-west4"][1]["secondaryIpRanges"][0]["ipCidrRange"] = "10.250.0.0/16"
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("subnetwork", "euw4")]


# ---- VPN ---------------------------------------------------------------------------------------------------------

def test_a_vpn_tunnel_down_is_drift(tmp_path, world, capsys):
    connection = world.vpn_connections["vpn-usw2-euw4-connection-0"]
    world.telemetry[connection][1].update(Status="DOWN", StatusMessage="IPSEC IS UP", AcceptedRouteCount=0)
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("vpn-tunnels", "vpn-usw2-euw4-connection-0")]
    detail = find(checks, "vpn-tunnels", "fail")[0]["detail"]
    assert "tunnel 198.51.100.1 DOWN (IPSEC IS UP)" in detail


def test_a_tunnel_up_without_bgp_routes_is_drift(tmp_path, world, capsys):
    world.telemetry[world.vpn_connections["vpn-use1-euw4-connection-1"]][0]["AcceptedRouteCount"] = 0
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("vpn-tunnels", "vpn-use1-euw4-connection-1")]
    assert "UP but no BGP routes accepted" in find(checks, "vpn-tunnels", "fail")[0]["detail"]


def test_a_missing_vpn_connection_is_drift(tmp_path, world, capsys):
    world.ec2("use1").delete_vpn_connection(VpnConnectionId=world.vpn_connections["vpn-use1-euw4-connection-0"])
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("vpn-tunnels", "vpn-use1-euw4-connection-0")]


# ---- node pools ------------------------------------------------------------------------------------------------------

def test_a_node_group_smaller_than_planned_is_drift(tmp_path, world, capsys):
    pool = world.plan.clusters["use1"].gpu_pools[0]
    eks = world.aws.client("eks", "us-east-1")
    eks.update_nodegroup_config(clusterName=world.plan.clusters["use1"].name,
                                nodegroupName=world.nodegroups[("use1", pool.name)],
                                scalingConfig={"minSize": 1, "desiredSize": 1, "maxSize": pool.max_nodes})
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("node-pools", f"use1/{pool.name}")]
    detail = find(checks, "node-pools", "fail")[0]["detail"]
    assert f"min/max 1/{pool.max_nodes}, planned {pool.min_nodes}/{pool.max_nodes}" in detail


def test_a_node_group_scaled_out_within_its_limits_is_not_drift(tmp_path, world, capsys):
    pool = world.plan.clusters["usw2"].gpu_pools[0]
    world.aws.client("eks", "us-west-2").update_nodegroup_config(
        clusterName=world.plan.clusters["usw2"].name, nodegroupName=world.nodegroups[("usw2", pool.name)],
        scalingConfig={"minSize": pool.min_nodes, "desiredSize": pool.max_nodes, "maxSize": pool.max_nodes})
    code, checks = run(tmp_path, world, capsys)
    assert code == 0, drift(checks)


def test_a_missing_node_group_and_an_unplanned_one_are_drift(tmp_path, world, capsys):
    cluster = world.plan.clusters["use1"]
    eks = world.aws.client("eks", "us-east-1")
    pool = cluster.gpu_pools[0]
    eks.delete_nodegroup(clusterName=cluster.name, nodegroupName=world.nodegroups[("use1", pool.name)])
    eks.create_nodegroup(clusterName=cluster.name, nodegroupName="by-hand", nodeRole=f"arn:aws:iam::{ACCOUNT}:role/n",
                         subnets=["subnet-1"], labels={POOL_LABEL: "gpu-p5-48xlarge"})
    code, checks = run(tmp_path, world, capsys)
    assert code == 1
    assert sorted(drift(checks)) == [("node-pools", f"use1/{pool.name}"), ("node-pools", "use1/gpu-p5-48xlarge")]


def test_a_missing_eks_cluster_is_drift(tmp_path, world, capsys):
    cluster = world.plan.clusters["usw2"]
    eks = world.aws.client("eks", "us-west-2")
    for pool in cluster.pools:
        eks.delete_nodegroup(clusterName=cluster.name, nodegroupName=world.nodegroups[("usw2", pool.name)])
    eks.delete_cluster(name=cluster.name)
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("node-pools", "usw2")]


def test_a_gke_pool_below_its_minimum_or_with_other_limits_is_drift(tmp_path, world, capsys):
    cluster = world.plan.clusters["euw4"]
    live = world.gcp.pools[("europe-west4", cluster.name)]
    [gpu] = [p for p in live if p["config"]["labels"][POOL_LABEL] != "system"]
    gpu["nodeCount"], gpu["runningCount"] = 0, 0
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("node-pools", "euw4/gpu-g2-standard-4")]
    assert "0 nodes running (desired 0), fewer than the planned minimum" in find(checks, "node-pools", "fail")[0][
        "detail"]
    gpu["nodeCount"] = gpu["runningCount"] = cluster.gpu_pools[0].min_nodes
    gpu["autoscaling"]["totalMaxNodeCount"] = 99
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and "min/max" in find(checks, "node-pools", "fail")[0]["detail"]


def test_a_gpu_stock_out_is_drift_though_the_desired_size_is_as_planned(tmp_path, world, capsys):
    """The autoscaler asked for the nodes, the cloud had no GPUs: desired sizes look right, running ones do not."""
    pool = world.plan.clusters["use1"].gpu_pools[0]
    ec2 = world.ec2("use1")
    group = world.nodegroups[("use1", pool.name)]
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:eks:nodegroup-name", "Values": [group]}])
    ids = [i["InstanceId"] for r in reservations["Reservations"] for i in r["Instances"]]
    assert len(ids) == pool.desired_nodes >= pool.min_nodes >= 1
    ec2.terminate_instances(InstanceIds=ids)  # InsufficientInstanceCapacity: nothing runs
    [gke] = [p for p in world.gcp.pools[("europe-west4", world.plan.clusters["euw4"].name)]
             if p["config"]["labels"][POOL_LABEL] != "system"]
    gke["runningCount"] = 0  # instances stuck in CREATING
    code, checks = run(tmp_path, world, capsys)
    assert code == 1
    assert sorted(drift(checks)) == [("node-pools", "euw4/gpu-g2-standard-4"), ("node-pools", f"use1/{pool.name}")]
    details = " | ".join(c["detail"] for c in find(checks, "node-pools", "fail"))
    assert f"0 nodes running (desired {pool.desired_nodes})" in details
    assert f"0 nodes running (desired {gke['nodeCount']})" in details


def test_a_missing_gke_cluster_is_drift(tmp_path, world, capsys):
    del world.gcp.pools[("europe-west4", world.plan.clusters["euw4"].name)]
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("node-pools", "euw4")]


# ---- DNS against expected records ------------------------------------------------------------------------------------

def weighted(name: str, set_id: str, weight: int, target: str) -> dict[str, Any]:
    return {"Action": "UPSERT", "ResourceRecordSet": {
        "Name": name, "Type": "CNAME", "SetIdentifier": set_id, "Weight": weight, "TTL": 60,
        "ResourceRecords": [{"Value": target}]}}


@pytest.fixture
def zone(aws: AwsClients) -> tuple[Any, str]:
    route53 = aws.client("route53", "us-east-1")
    domain = "test.rollout.example.com"
    zone_id = route53.create_hosted_zone(Name=domain, CallerReference="t")["HostedZone"]["Id"]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        weighted(f"api.{domain}", "use1", 60, f"use1.{domain}"),
        weighted(f"api.{domain}", "usw2", 40, f"usw2.{domain}")]})
    return route53, domain


def expected(domain: str, use1: int = 60, usw2: int = 40) -> list[ExpectedRecord]:
    return [ExpectedRecord(f"api.{domain}", "CNAME", "use1", use1, (f"use1.{domain}",)),
            ExpectedRecord(f"api.{domain}", "CNAME", "usw2", usw2, (f"usw2.{domain}",))]


def test_dns_records_as_expected_pass(zone):
    route53, domain = zone
    checks = check_dns(route53, domain, expected(domain))
    assert [c.status for c in checks] == ["pass", "pass"]


def test_dns_weight_drift_missing_and_unplanned_records_fail(zone):
    route53, domain = zone
    checks = check_dns(route53, domain, expected(domain, use1=70))
    assert [(c.scope, c.status) for c in checks] == [(f"api.{domain} CNAME [use1]", "fail"),
                                                     (f"api.{domain} CNAME [usw2]", "pass")]
    assert "weight 60 != planned 70" in checks[0].detail
    euw4 = ExpectedRecord(f"api.{domain}", "CNAME", "euw4", 10, (f"euw4.{domain}",))
    only_use1 = check_dns(route53, domain, [*expected(domain)[:1], euw4])
    assert [(c.scope.split()[-1], c.status, c.detail) for c in only_use1] == [
        ("[use1]", "pass", "as planned"), ("[euw4]", "fail", "missing"),
        ("[usw2]", "fail", "record set not in the plan")]


def test_a_weight_that_differs_from_the_traffic_plan_is_drift(tmp_path, world, capsys):
    route53 = world.aws.client("route53", "us-east-1")
    [zone] = route53.list_hosted_zones_by_name(DNSName=world.plan.traffic.zone_name)["HostedZones"]
    rec = next(r for r in world.plan.traffic.records if r.kind == "weighted" and r.weight)
    changed = {**record_change(rec, zone["Id"]), "Weight": rec.weight + 1}
    route53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": changed}]})
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("dns-records", f"{rec.name} A [{rec.set_identifier}]")]
    assert f"weight {rec.weight + 1} != planned {rec.weight}" in find(checks, "dns-records", "fail")[0]["detail"]


def test_a_missing_endpoint_record_is_drift_and_no_traffic_plan_skips(tmp_path, world, capsys):
    route53 = world.aws.client("route53", "us-east-1")
    [zone] = route53.list_hosted_zones_by_name(DNSName=world.plan.traffic.zone_name)["HostedZones"]
    rec = next(r for r in world.plan.traffic.records if r.kind == "endpoint")
    route53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": record_change(rec, zone["Id"])}]})
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("dns-records", f"{rec.name} A")]
    assert check_dns(route53, "example.org", [])[0].status == "skip"


# ---- live capacity ---------------------------------------------------------------------------------------------

def pool_of(world: World, region: str):
    return world.plan.serving[region].pools[0]


def test_the_load_query_is_the_rule_the_alerts_read(world):
    rule = next(r for r in recording_rules(world.plan.monitoring.slo) if r["record"] == "rollout:requests:rate5m")
    assert rule["expr"] == verify.LOAD_QUERY


def test_servers_under_the_floor_are_drift(tmp_path, world, capsys):
    pool = pool_of(world, "use1")
    world.clusters["use1"].ready[(SERVING_NAMESPACE, pool.name)] = pool.floor - 1
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("live-replicas", "use1/gpu-g5-xlarge")]
    detail = find(checks, "live-replicas", "fail")[0]["detail"]
    assert f"{pool.floor - 1} servers ready, under the plan's floor of {pool.floor}" in detail


def test_a_missing_deployment_is_drift(tmp_path, world, capsys):
    world.clusters["euw4"].ready.clear()
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("live-replicas", "euw4/gpu-g2-standard-4")]
    assert "no Deployment rollout-serving/" in find(checks, "live-replicas", "fail")[0]["detail"]


def test_servers_above_the_floor_are_not_drift(tmp_path, world, capsys):
    pool = pool_of(world, "usw2")
    world.clusters["usw2"].ready[(SERVING_NAMESPACE, pool.name)] = pool.ceiling
    code, checks = run(tmp_path, world, capsys)
    assert code == 0, drift(checks)


def test_load_above_the_planned_share_beyond_the_tolerance_is_drift(tmp_path, world, capsys):
    planned = world.plan.monitoring.regions["usw2"].planned_rps
    world.clusters["usw2"].rps = planned * 1.2  # tolerance 10%
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("live-load", "usw2")]
    assert "by more than 10%" in find(checks, "live-load", "fail")[0]["detail"]


def test_load_within_the_tolerance_is_not_drift(tmp_path, world, capsys):
    planned = world.plan.monitoring.regions["usw2"].planned_rps
    world.clusters["usw2"].rps = planned * 1.09
    code, checks = run(tmp_path, world, capsys)
    assert code == 0, drift(checks)
    assert "of the fleet" in next(c for c in find(checks, "live-load") if c["scope"] == "usw2")["detail"]


def test_prometheus_unreachable_is_a_clear_failure(tmp_path, world, capsys):
    world.clusters["euw4"].rps = PrometheusUnreachable("HTTP 503 from the service proxy: no endpoints available")
    code, checks = run(tmp_path, world, capsys)
    assert code == 1 and drift(checks) == [("live-load", "euw4")]
    failure = find(checks, "live-load", "fail")[0]
    assert "Prometheus of euw4 unreachable" in failure["detail"] and "no endpoints available" in failure["detail"]
    assert "rollout-system" in failure["fix"]


def test_no_request_series_is_a_warning_not_drift(tmp_path, world, capsys):
    world.clusters["use1"].rps = None
    code, checks = run(tmp_path, world, capsys)
    assert code == 0
    assert [c["scope"] for c in find(checks, "live-load", "warn")] == ["use1"]


def test_an_unreachable_cluster_api_is_a_named_failure(tmp_path, world, capsys):
    def refuse(cluster):
        raise ConnectionError(f"cannot reach the API server of {cluster.name}")

    path = write_ops_stack(tmp_path, STACK)
    code = verify.main(["--stack-file", str(path), "--json"], aws=world.aws, gcp_factory=lambda _: world.gcp,
                       env={}, clusters=refuse)
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert code == 1
    assert {(c["check"], c["scope"]) for c in checks if c["status"] == "fail"} == {
        ("cloud-api", "use1"), ("cloud-api", "usw2"), ("cloud-api", "euw4")}
    assert any("cannot reach the API server" in c["detail"] for c in checks)


def test_no_live_skips_the_live_checks(tmp_path, world, capsys):
    world.clusters["use1"].rps = PrometheusUnreachable("would fail")
    code, checks = run(tmp_path, world, capsys, "--no-live")
    assert code == 0 and not find(checks, "live-replicas") and not find(checks, "live-load")
