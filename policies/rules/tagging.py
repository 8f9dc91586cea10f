"""Ownership metadata: every AWS resource that takes tags and every GCP resource that takes labels
says who owns it, who pays for it and which stack made it (cost reports and incident routing)."""

from __future__ import annotations

from collections.abc import Iterator

from .core import MANDATORY, MEDIUM, Param, Resource, get, is_unknown, rule

REQUIRED = Param("array", ["owner", "cost-center", "stack"], "keys every taggable resource must carry")

# AWS types this program emits or will emit that accept `tags` (checked against pulumi_aws in the tests).
TAGGABLE_AWS = (
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/eip:Eip",
    "aws:ec2/natGateway:NatGateway", "aws:ec2/routeTable:RouteTable", "aws:ec2/flowLog:FlowLog",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/customerGateway:CustomerGateway",
    "aws:ec2/vpnConnection:VpnConnection", "aws:cloudwatch/logGroup:LogGroup", "aws:iam/role:Role",
    "aws:ec2transitgateway/transitGateway:TransitGateway", "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment",
    "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter",
    "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon", "aws:eks/accessEntry:AccessEntry",
    "aws:kms/key:Key", "aws:ebs/volume:Volume", "aws:route53/healthCheck:HealthCheck",
    "aws:acm/certificate:Certificate", "aws:lb/loadBalancer:LoadBalancer", "aws:s3/bucket:Bucket",
)

# GCP types with a labels map, and where it sits (Network, Subnetwork, Router, RouterNat, Firewall and
# RouterPeer have none).
GCP_LABEL_FIELD = {
    "gcp:compute/vPNTunnel:VPNTunnel": "labels",
    "gcp:compute/haVpnGateway:HaVpnGateway": "labels",
    "gcp:compute/externalVpnGateway:ExternalVpnGateway": "labels",
    "gcp:compute/address:Address": "labels",
    "gcp:compute/disk:Disk": "labels",
    "gcp:container/cluster:Cluster": "resourceLabels",
    "gcp:container/nodePool:NodePool": "nodeConfig.resourceLabels",
    "gcp:kms/cryptoKey:CryptoKey": "labels",
    "gcp:storage/bucket:Bucket": "labels",
}


def _missing(values: object, required: list[str]) -> list[str]:
    if is_unknown(values):
        return []
    present = values if isinstance(values, dict) else {}
    return [k for k in required if k not in present or present[k] in (None, "")]


@rule("aws-required-tags", "Taggable AWS resources carry the owner, cost-center and stack tags.",
      enforcement=MANDATORY, severity=MEDIUM, types=TAGGABLE_AWS, params={"requiredTags": REQUIRED})
def aws_required_tags(r: Resource, config) -> Iterator[str]:
    missing = _missing(r.props.get("tags"), list(config["requiredTags"]))
    if missing:
        yield f"missing tag(s): {', '.join(missing)}"


@rule("gcp-required-labels", "GCP resources that take labels carry the owner, cost-center and stack labels.",
      enforcement=MANDATORY, severity=MEDIUM, types=tuple(GCP_LABEL_FIELD), params={"requiredLabels": REQUIRED})
def gcp_required_labels(r: Resource, config) -> Iterator[str]:
    where = GCP_LABEL_FIELD[r.type]
    missing = _missing(get(r.props, where, {}), list(config["requiredLabels"]))
    if missing:
        yield f"missing label(s) in {where}: {', '.join(missing)}"


RULES = [aws_required_tags, gcp_required_labels]
