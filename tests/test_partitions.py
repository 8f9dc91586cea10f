"""AWS partitions (aws, aws-cn): the pure helpers build every ARN, principal and endpoint from the
partition; the catalog knows each region's partition; links never peer Transit Gateways across a
partition boundary and still connect every region; the rehearsal refuses what the China partition lacks
and resources created with the wrong partition's credentials (each rule both ways)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.catalog import load_catalog
from infra.config import config_from_stack_file, parse_config
from infra.errors import ConfigError
from infra.planning.partition import (
    AWS,
    AWS_CN,
    account_root,
    arn,
    elb_log_account,
    endpoint,
    managed_policy_arn,
    partition_of_region,
    service_principal,
    sts_audience,
)
from infra.planning.reachability import describe_loss, region_loss_failures, unreachable
from infra.planning.topology import plan_topology
from infra.rehearsal import rehearse
from tests.factories import ROOT
from tests.topology_plans import all_locations, regions_plan

STACK = "urn:pulumi:t::p::"
CN_PROVIDER = f"{STACK}pulumi:providers:aws::rollout-partitions-aws-cn"


# --- helpers ---------------------------------------------------------------------------------------

def test_arns_carry_the_partition():
    assert arn(AWS_CN, "logs", "cn-north-1", "123456789012", "log-group:*") == \
        "arn:aws-cn:logs:cn-north-1:123456789012:log-group:*"
    assert managed_policy_arn(AWS_CN, "AmazonEKSClusterPolicy") == "arn:aws-cn:iam::aws:policy/AmazonEKSClusterPolicy"
    assert managed_policy_arn(AWS, "service-role/AmazonEBSCSIDriverPolicy") == \
        "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    assert account_root(AWS_CN, "123456789012") == "arn:aws-cn:iam::123456789012:root"
    with pytest.raises(ValueError, match="unknown AWS partition"):
        arn("aws-moon", "s3", "", "", "x")


def test_china_principals_and_endpoints():
    # logs keeps the China suffix; EKS, EC2 and most services use amazonaws.com in both partitions.
    assert service_principal(AWS_CN, "logs", "cn-north-1") == "logs.cn-north-1.amazonaws.com.cn"
    assert service_principal(AWS, "logs", "us-east-1") == "logs.us-east-1.amazonaws.com"
    assert service_principal(AWS_CN, "eks") == "eks.amazonaws.com"
    assert sts_audience(AWS_CN) == "sts.amazonaws.com.cn" and sts_audience(AWS) == "sts.amazonaws.com"
    assert endpoint(AWS_CN, "ec2", "cn-northwest-1") == "ec2.cn-northwest-1.amazonaws.com.cn"
    assert elb_log_account(AWS_CN, "cn-north-1") == "638102146993"
    assert partition_of_region("cn-northwest-1") == AWS_CN and partition_of_region("us-west-1") == AWS


def test_catalog_regions_know_their_partition():
    catalog = load_catalog()
    china = {loc for (c, loc), r in catalog.regions.items() if r.partition == AWS_CN}
    assert china == {"cn-north-1", "cn-northwest-1"}
    assert all(r.partition == "gcp" for (c, _), r in catalog.regions.items() if c == "gcp")
    # GPU types actually offered in China, with prices converted from CNY (docs/sources.md)
    assert {o.instance_type.name for o in catalog.offerings_in("aws", "cn-north-1")} == {"g4dn.xlarge", "g5.xlarge"}
    assert "p4d.24xlarge" in {o.instance_type.name for o in catalog.offerings_in("aws", "cn-northwest-1")}
    assert all("CNY" in o.source for loc in china for o in catalog.offerings_in("aws", loc))


# --- links -----------------------------------------------------------------------------------------

CHINA = [("aws", "cn-north-1"), ("aws", "cn-northwest-1")]


def test_seed_links_china_to_silicon_valley_over_ipsec_not_peering():
    topology = plan_topology(regions_plan([*CHINA, ("aws", "us-west-1")]))
    assert [(p.requester, p.accepter) for p in topology.peerings] == [("a51", "a52")]  # Beijing <-> Ningxia only
    assert sorted((x.global_region, x.remote_region) for x in topology.partition_links) == [("a50", "a51"),
                                                                                          ("a50", "a52")]
    link = topology.partition_links[0]
    assert len(link.tunnels) == 4 and {t.connection for t in link.tunnels} == {0, 1}
    # the China VPC sends the global ranges to its appliance, its sibling's to its TGW
    targets = {(r.region, r.target) for r in topology.vpc_routes}
    assert ("a51", "appliance") in targets and ("a51", "tgw") in targets
    assert list(unreachable(topology)) == []
    assert region_loss_failures(topology) == {r: [] for r in topology.ranges}


def test_losing_a_china_link_or_its_global_end_is_described():
    topology = plan_topology(regions_plan([*CHINA, ("aws", "us-west-1")]))
    text = "\n".join(describe_loss(topology, "a50"))
    assert "2 cross-partition link(s)" in text and "every surviving pair reaches each other (a51, a52)" in text


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(all_locations()), min_size=1, max_size=6, unique=True),
       st.lists(st.sampled_from(CHINA), min_size=1, max_size=2, unique=True))
def test_china_regions_reach_every_region_and_peer_only_inside_china(world, china):
    if not any(c == "aws" for c, _ in world):
        world = [*world, ("aws", "us-west-1")] if ("aws", "us-west-1") not in world else world
    topology = plan_topology(regions_plan([*world, *china]))
    parts = topology.partitions
    assert all(parts[p.requester] == parts[p.accepter] for p in topology.peerings)
    assert all(parts[v.aws_region] == AWS for v in topology.vpns)  # no AWS VPN ends in China
    assert list(unreachable(topology)) == []
    for x in topology.partition_links:  # every tunnel alone may fail
        for t in x.tunnels:
            assert list(unreachable(topology, failed=[t.id])) == []


def test_a_china_region_with_two_global_regions_survives_losing_either():
    topology = plan_topology(regions_plan([("aws", "cn-north-1"), ("aws", "us-west-1"), ("aws", "ap-northeast-1")]))
    assert len(topology.partition_links) == 2
    assert region_loss_failures(topology) == {r: [] for r in topology.ranges}


# --- config ----------------------------------------------------------------------------------------

def _seed_raw():
    from infra.config import _strip_namespace, stack_file_config
    return _strip_namespace(stack_file_config(ROOT / "Pulumi.seed.yaml"), "seed")


def test_seed_stack_loads_with_its_china_partition():
    cfg = config_from_stack_file(ROOT / "Pulumi.seed.yaml")
    assert cfg.partitions["aws-cn"].role_arn.startswith("arn:aws-cn:iam::")


def test_a_china_region_without_partition_credentials_is_refused():
    raw = _seed_raw()
    raw.pop("partitions")
    with pytest.raises(ConfigError, match=r"regions\[0\]: cn-north-1 is in the aws-cn partition.*partitions.aws-cn"):
        parse_config(raw)


def test_a_global_role_cannot_be_the_china_role():
    raw = _seed_raw()
    raw["partitions"]["aws-cn"]["roleArn"] = "arn:aws:iam::444444444444:role/rollout-deployer"
    with pytest.raises(ConfigError, match="not an aws-cn IAM role ARN"):
        parse_config(raw)


# --- rehearsal -------------------------------------------------------------------------------------

def res(name, typ, provider=None, **inputs):
    return {"urn": f"{STACK}{typ}::{name}", "type": typ, "name": name, "parent": "", "inputs": inputs,
            "options": {"dependsOn": [], "propertyDependencies": {},
                        "provider": f"{provider}::id-1" if provider else None}}


CN = {"urn": CN_PROVIDER, "type": "pulumi:providers:aws", "name": "rollout-partitions-aws-cn", "parent": "",
      "inputs": {"region": "cn-north-1"}, "options": {"dependsOn": [], "propertyDependencies": {}}}


def rule_violations(rule, *resources):
    report = rehearse({"stack": "t", "resources": [CN, *resources], "outputs": {}}, None, stages=["deploy"])
    return [v for v in report.violations if v.rule == rule]


def test_tgw_peering_across_partitions_is_refused_inside_china_accepted():
    typ = "aws:ec2transitgateway/peeringAttachment:PeeringAttachment"
    bad = res("x", typ, CN_PROVIDER, region="cn-north-1", peerRegion="us-west-1")
    good = res("y", typ, CN_PROVIDER, region="cn-north-1", peerRegion="cn-northwest-1")
    found = rule_violations("deploy/partition-peering", bad, good)
    assert [v.urn.rsplit("::", 1)[-1] for v in found] == ["x"]
    assert "does not cross partitions" in found[0].message


def test_site_to_site_vpn_and_cloudfront_waf_in_china_are_refused_regional_ones_accepted():
    vpn_cn = res("vpn-cn", "aws:ec2/vpnConnection:VpnConnection", CN_PROVIDER, region="cn-north-1")
    vpn_us = res("vpn-us", "aws:ec2/vpnConnection:VpnConnection", region="us-west-1")
    waf_cf = res("waf-cf", "aws:wafv2/webAcl:WebAcl", CN_PROVIDER, region="cn-north-1", scope="CLOUDFRONT")
    waf_rg = res("waf-rg", "aws:wafv2/webAcl:WebAcl", CN_PROVIDER, region="cn-north-1", scope="REGIONAL")
    found = rule_violations("deploy/partition-services", vpn_cn, vpn_us, waf_cf, waf_rg)
    assert sorted(v.urn.rsplit("::", 1)[-1] for v in found) == ["vpn-cn", "waf-cf"]
    assert any("Site-to-Site VPN is not available" in v.message and "PartitionAppliances" in v.message for v in found)


def test_china_resources_need_the_china_provider_and_global_ones_the_default():
    wrong_cn = res("bucket-cn", "aws:s3/bucket:Bucket", region="cn-north-1")  # default (global) credentials
    right_cn = res("bucket-cn-ok", "aws:s3/bucket:Bucket", CN_PROVIDER, region="cn-northwest-1")
    wrong_us = res("bucket-us", "aws:s3/bucket:Bucket", CN_PROVIDER, region="us-west-1")
    right_us = res("bucket-us-ok", "aws:s3/bucket:Bucket", region="us-west-1")
    found = rule_violations("deploy/partition-credentials", wrong_cn, right_cn, wrong_us, right_us)
    assert sorted(v.urn.rsplit("::", 1)[-1] for v in found) == ["bucket-cn", "bucket-us"]


# --- components ------------------------------------------------------------------------------------

def test_china_iam_documents_name_the_china_partition():
    import json

    from components.cluster import aws_iam
    from components.cluster.aws_load_balancer_controller import controller_policy
    from components.network.log_key import logs_key_policy

    trust = json.loads(aws_iam.assume_role_by_service_account(
        "arn:aws-cn:iam::1:oidc-provider/x", "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/AB", "system:sa"))
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["oidc.eks.cn-north-1.amazonaws.com.cn/id/AB:aud"] == "sts.amazonaws.com.cn"
    assert aws_iam.node_policies(AWS_CN)[0].startswith("arn:aws-cn:iam::aws:policy/")
    text = json.dumps(controller_policy(AWS_CN))
    assert "arn:aws-cn:elasticloadbalancing" in text and "arn:aws:" not in text
    key = json.loads(logs_key_policy("123456789012", "cn-northwest-1"))
    assert key["Statement"][1]["Principal"]["Service"] == "logs.cn-northwest-1.amazonaws.com.cn"
    assert "arn:aws:" not in json.dumps(key)


def test_seed_preview_creates_china_resources_with_the_china_credentials_and_links_across():
    from infra.offline.preview import as_json
    from tests.previews import stack_preview

    run, plan = stack_preview("seed")
    document = as_json(run)
    report = rehearse(document, plan, stages=["deploy"])
    assert not report.violations
    china = [r for r in document["resources"] if str((r["inputs"] or {}).get("region", "")).startswith("cn-")
             and r["type"].startswith("aws:")]
    assert china and all("rollout-partitions-aws-cn" in (r["options"].get("provider") or "") for r in china)
    types = {r["type"] for r in document["resources"]}
    assert "aws:ec2/vpnConnection:VpnConnection" in types and "aws:ec2/networkInterface:NetworkInterface" in types
    assert not any(r["type"] == "aws:ec2/vpnConnection:VpnConnection" and r["inputs"]["region"].startswith("cn-")
                   for r in document["resources"])
    assert document["outputs"]["links"]["partitionVpns"] == ["sjc<->pek", "sjc<->sha"]


# --- policy pack -----------------------------------------------------------------------------------

@pytest.mark.parametrize("issuer, clients, ok", [
    ("https://oidc.eks.cn-north-1.amazonaws.com.cn/id/X", ["sts.amazonaws.com.cn"], True),
    ("https://oidc.eks.cn-north-1.amazonaws.com.cn/id/X", ["sts.amazonaws.com"], False),
    ("https://oidc.eks.us-west-1.amazonaws.com/id/X", ["sts.amazonaws.com"], True),
    ("https://oidc.eks.us-west-1.amazonaws.com/id/X", ["sts.amazonaws.com.cn"], False),
])
def test_oidc_audience_policy_wants_the_issuers_partition(issuer, clients, ok):
    from policies.rules import ALL_RULES
    from policies.rules.core import Resource

    rule = next(r for r in ALL_RULES if r.name == "iam-oidc-provider-sts-audience")
    found = rule.evaluate(Resource(type="aws:iam/openIdConnectProvider:OpenIdConnectProvider",
                                   props={"url": issuer, "clientIdLists": clients}))
    assert (found == []) is ok, found
