"""One Transit Gateway inter-Region peering and the static routes that use it, on both route tables.

Peering attachments carry static routes only and each side must route to the attachment
(https://docs.aws.amazon.com/vpc/latest/tgw/tgw-peering-add-route.html). With default route table
association enabled on both Transit Gateways (components/network/aws_vpc.py) the attachment lands in
each default table, which is where the routes go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pulumi
import pulumi_aws as aws

from components.tags import aws_tags
from infra.planning.regions import RegionPlan
from infra.planning.topology import TgwPeering as PeeringPlan
from infra.planning.topology import TgwRoute


class TgwEndpoint(Protocol):
    """What a link needs from an AWS region's network (AwsNetwork satisfies it)."""

    vpc_id: pulumi.Output[str]
    transit_gateway_id: pulumi.Output[str]
    transit_gateway_route_table_id: pulumi.Output[str]
    private_route_table_ids: list[pulumi.Output[str]]
    transit_gateway_attachment: pulumi.Resource  # the VPC's attachment: VPC routes to the TGW wait for it


@dataclass(frozen=True)
class TgwPeeringArgs:
    peering: PeeringPlan
    requester: RegionPlan
    accepter: RegionPlan
    requester_network: TgwEndpoint
    accepter_network: TgwEndpoint
    routes: tuple[TgwRoute, ...]  # the plan's static routes through this peering (either side)
    tags: dict[str, str]


class TgwPeering(pulumi.ComponentResource):
    """PeeringAttachment (requester) + PeeringAttachmentAccepter + static routes on both sides."""

    attachment_id: pulumi.Output[str]

    def __init__(self, name: str, args: TgwPeeringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:links:TgwPeering", name, None, opts)
        req, acc = args.requester, args.accepter
        wrong = [r for r in args.routes if r.peering != args.peering.id]
        if wrong:
            raise ValueError(f"{name}: routes {wrong} do not go through peering {args.peering.id}")
        attachment = aws.ec2transitgateway.PeeringAttachment(
            f"{name}-attachment", region=req.location, transit_gateway_id=args.requester_network.transit_gateway_id,
            peer_region=acc.location, peer_transit_gateway_id=args.accepter_network.transit_gateway_id,
            tags=aws_tags(args.tags, f"{args.peering.id}"), opts=pulumi.ResourceOptions(parent=self))
        accepter = aws.ec2transitgateway.PeeringAttachmentAccepter(
            f"{name}-accepter", region=acc.location, transit_gateway_attachment_id=attachment.id,
            tags=aws_tags(args.tags, f"{args.peering.id}"), opts=pulumi.ResourceOptions(parent=self))
        # Routes need the attachment accepted (available) before the API takes them.
        after_accept = pulumi.ResourceOptions(parent=self, depends_on=[accepter])
        side = {req.name: (req, args.requester_network), acc.name: (acc, args.accepter_network)}
        for route in args.routes:
            region, network = side[route.region]
            aws.ec2transitgateway.Route(
                f"{name}-{route.region}-{route.destination.replace('/', '-')}", region=region.location,
                transit_gateway_route_table_id=network.transit_gateway_route_table_id,
                destination_cidr_block=route.destination,
                transit_gateway_attachment_id=accepter.transit_gateway_attachment_id, opts=after_accept)
        self.attachment_id = accepter.transit_gateway_attachment_id
        self.register_outputs({"attachmentId": self.attachment_id})
