"""One AWS region's network: VPC over the plan's zones, public/private/intra subnets, internet
gateway, NAT (one per zone or one for all, from the plan), route tables, flow logs, a locked-down
default security group and a Transit Gateway ready for inter-region and VPN links.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.tags import aws_tags
from infra.planning.regions import RegionPlan
from infra.planning.topology import transit_gateway_asn  # the ASN rule lives with the rest of the link plan


@dataclass(frozen=True)
class AwsNetworkArgs:
    region: RegionPlan
    tags: dict[str, str]
    flow_log_role_arn: pulumi.Input[str]


class AwsNetwork(pulumi.ComponentResource):
    """VPC, subnets, gateways, routes, flow logs and a Transit Gateway for one AWS region."""

    vpc_id: pulumi.Output[str]
    transit_gateway_id: pulumi.Output[str]
    transit_gateway_route_table_id: pulumi.Output[str]  # default association table: links add static routes
    private_subnet_ids: list[pulumi.Output[str]]
    intra_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    # Routes to the Transit Gateway must wait for this (else AWS answers InvalidTransitGatewayID.NotFound).
    transit_gateway_attachment: aws.ec2transitgateway.VpcAttachment

    def __init__(self, name: str, args: AwsNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:network:AwsNetwork", name, None, opts)
        plan, loc = args.region, args.region.location
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str, **extra: str) -> dict[str, str]:
            return {**aws_tags(args.tags, f"{name}-{suffix}"), **extra}

        vpc = aws.ec2.Vpc(f"{name}-vpc", region=loc, cidr_block=plan.addresses.network,
                          enable_dns_support=True, enable_dns_hostnames=True, tags=tags("vpc"), opts=child)
        # No rules: nothing may use the default security group (CIS AWS 5.4).
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", region=loc, vpc_id=vpc.id, ingress=[], egress=[],
                                     tags=tags("default-sg"), opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", region=loc, vpc_id=vpc.id, tags=tags("igw"), opts=child)

        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", region=loc, vpc_id=vpc.id,
                                       tags=tags("public-rt"), opts=child)
        aws.ec2.Route(f"{name}-public-default", region=loc, route_table_id=public_rt.id,
                      destination_cidr_block="0.0.0.0/0", gateway_id=igw.id, opts=child)
        intra_rt = aws.ec2.RouteTable(f"{name}-intra-rt", region=loc, vpc_id=vpc.id,
                                      tags=tags("intra-rt"), opts=child)

        public_ids, private_ids, intra_ids, nat_ids, private_rts = [], [], [], [], []
        for i, zone in enumerate(plan.addresses.zones):
            z = zone.zone
            public = aws.ec2.Subnet(
                f"{name}-public-{z}", region=loc, vpc_id=vpc.id, cidr_block=zone.public, availability_zone=z,
                map_public_ip_on_launch=False,
                tags=tags(f"public-{z}", **{"kubernetes.io/role/elb": "1", "tier": "public"}), opts=child)
            private = aws.ec2.Subnet(
                f"{name}-private-{z}", region=loc, vpc_id=vpc.id, cidr_block=zone.private, availability_zone=z,
                tags=tags(f"private-{z}", **{"kubernetes.io/role/internal-elb": "1", "tier": "private"}),
                opts=child)
            intra = aws.ec2.Subnet(
                f"{name}-intra-{z}", region=loc, vpc_id=vpc.id, cidr_block=zone.intra, availability_zone=z,
                tags=tags(f"intra-{z}", tier="intra"), opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{z}", region=loc, subnet_id=public.id,
                                          route_table_id=public_rt.id, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-intra-{z}", region=loc, subnet_id=intra.id,
                                          route_table_id=intra_rt.id, opts=child)
            if i < plan.nat_gateways:
                eip = aws.ec2.Eip(f"{name}-nat-{z}", region=loc, domain="vpc", tags=tags(f"nat-{z}"),
                                  opts=child)
                nat = aws.ec2.NatGateway(f"{name}-nat-{z}", region=loc, allocation_id=eip.allocation_id,
                                         subnet_id=public.id, tags=tags(f"nat-{z}"),
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]))
                nat_ids.append(nat.id)
            # Private subnets leave through the NAT of their own zone, or the single NAT.
            private_rt = aws.ec2.RouteTable(f"{name}-private-rt-{z}", region=loc, vpc_id=vpc.id,
                                            tags=tags(f"private-rt-{z}"), opts=child)
            aws.ec2.Route(f"{name}-private-default-{z}", region=loc, route_table_id=private_rt.id,
                          destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat_ids[min(i, len(nat_ids) - 1)],
                          opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{z}", region=loc, subnet_id=private.id,
                                          route_table_id=private_rt.id, opts=child)
            public_ids.append(public.id)
            private_ids.append(private.id)
            intra_ids.append(intra.id)
            private_rts.append(private_rt.id)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", region=loc, name=f"/rollout/{pulumi.get_stack()}/flow-logs/{plan.name}",
            retention_in_days=plan.flow_log_retention_days, tags=tags("flow-logs"),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))  # fixed name
        aws.ec2.FlowLog(f"{name}-flow-log", region=loc, vpc_id=vpc.id, traffic_type="ALL",
                        log_destination_type="cloud-watch-logs", log_destination=log_group.arn,
                        iam_role_arn=args.flow_log_role_arn, max_aggregation_interval=60,
                        tags=tags("flow-log"), opts=child)

        # Routes between regions are static (set by the links), so default association and
        # propagation stay on; ECMP lets the 4 VPN tunnels share load.
        tgw = aws.ec2transitgateway.TransitGateway(
            f"{name}-tgw", region=loc, description=f"rollout {pulumi.get_stack()} {plan.name}",
            amazon_side_asn=transit_gateway_asn(plan), dns_support="enable", vpn_ecmp_support="enable",
            default_route_table_association="enable", default_route_table_propagation="enable",
            auto_accept_shared_attachments="disable", tags=tags("tgw"), opts=child)
        attachment = aws.ec2transitgateway.VpcAttachment(
            f"{name}-tgw-attachment", region=loc, transit_gateway_id=tgw.id, vpc_id=vpc.id,
            subnet_ids=intra_ids, dns_support="enable", tags=tags("tgw-attachment"), opts=child)

        self.vpc_id = vpc.id
        self.transit_gateway_id = tgw.id
        self.transit_gateway_route_table_id = tgw.association_default_route_table_id
        self.private_subnet_ids = private_ids
        self.intra_subnet_ids = intra_ids
        self.private_route_table_ids = private_rts
        self.transit_gateway_attachment = attachment
        self.register_outputs({"vpcId": vpc.id, "transitGatewayId": tgw.id, "natGatewayIds": nat_ids})
