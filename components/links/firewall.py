"""Admit cross-region traffic only from peer regions' ranges and only on the ports in use
(infra.planning.topology.CROSS_REGION_TCP_PORTS and ICMP): one GCP ingress rule on the global network, and per
AWS region a security group that workloads serving peers attach.

Each CIDR in an AWS rule counts against the 60-rules-per-group quota
(https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups):
3 rules per peer range; docs/links.md says when to raise it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from components.network.gcp_network import GKE_NODE_TAG
from components.tags import aws_tags
from infra.planning.topology import CROSS_REGION_TCP_PORTS


@dataclass(frozen=True)
class AwsPeerSecurityGroupArgs:
    location: str
    vpc_id: pulumi.Input[str]
    peer_ranges: tuple[str, ...]
    tags: dict[str, str]


class AwsPeerSecurityGroup(pulumi.ComponentResource):
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: AwsPeerSecurityGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:links:AwsPeerSecurityGroup", name, None, opts)
        cidrs = list(args.peer_ranges)
        rules = [{"protocol": "tcp", "from_port": p, "to_port": p, "cidr_blocks": cidrs,
                  "description": f"tcp/{p} from peer regions"} for p in CROSS_REGION_TCP_PORTS]
        rules.append({"protocol": "icmp", "from_port": -1, "to_port": -1, "cidr_blocks": cidrs,
                      "description": "icmp from peer regions"})
        group = aws.ec2.SecurityGroup(
            f"{name}-sg", region=args.location, vpc_id=args.vpc_id,
            description="cross-region traffic over the private links",
            ingress=[aws.ec2.SecurityGroupIngressArgs(**r) for r in rules],  # type: ignore[arg-type]
            egress=[aws.ec2.SecurityGroupEgressArgs(**r) for r in rules],  # type: ignore[arg-type]
            tags=aws_tags(args.tags, f"{name}-sg"), opts=pulumi.ResourceOptions(parent=self))
        self.security_group_id = group.id
        self.register_outputs({"securityGroupId": group.id})


@dataclass(frozen=True)
class GcpPeerFirewallArgs:
    network_self_link: pulumi.Input[str]
    peer_ranges: tuple[str, ...]


class GcpPeerFirewall(pulumi.ComponentResource):
    def __init__(self, name: str, args: GcpPeerFirewallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:links:GcpPeerFirewall", name, None, opts)
        rule = gcp.compute.Firewall(
            f"{name}-ingress", network=args.network_self_link, direction="INGRESS", priority=1000,
            description="cross-region traffic over the private links", source_ranges=list(args.peer_ranges),
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(p) for p in CROSS_REGION_TCP_PORTS]),
                    gcp.compute.FirewallAllowArgs(protocol="icmp")],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            target_tags=[GKE_NODE_TAG],  # only the GKE nodes (and their pods' alias ranges)
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"firewall": rule.name})
