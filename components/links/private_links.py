"""Every private link of the stack, declared from the plan's `Topology`: TGW peerings with their static
routes, VPC routes to the Transit Gateways, HA VPNs and the cross-region firewall rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import pulumi
import pulumi_aws as aws

from components.links.firewall import (
    AwsPeerSecurityGroup,
    AwsPeerSecurityGroupArgs,
    GcpPeerFirewall,
    GcpPeerFirewallArgs,
)
from components.links.ha_vpn import HaVpn, HaVpnArgs
from components.links.partition_vpn import (
    PartitionAppliances,
    PartitionAppliancesArgs,
    PartitionVpn,
    PartitionVpnArgs,
)
from components.links.tgw_peering import TgwEndpoint, TgwPeering, TgwPeeringArgs
from infra.planning.peer_ranges import security_group_ranges
from infra.planning.regions import PlannedRegions, RegionPlan
from infra.planning.topology import Topology, collapse


class GcpGlobalEndpoint(Protocol):
    self_link: pulumi.Output[str]


class GcpRegionalEndpoint(Protocol):
    router_name: pulumi.Output[str]


class LinkedPlan(PlannedRegions, Protocol):
    @property
    def tags(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class PrivateLinksArgs:
    plan: LinkedPlan
    topology: Topology
    aws_networks: Mapping[str, TgwEndpoint]  # AWS region name -> AwsNetwork
    gcp_network: GcpGlobalEndpoint | None = None  # the stack's GcpGlobalNetwork
    gcp_regions: Mapping[str, GcpRegionalEndpoint] | None = None  # GCP region name -> GcpRegionalNetwork


class PrivateLinks(pulumi.ComponentResource):
    """Children: one TgwPeering per peering, one HaVpn per AWS region (when GCP regions exist), VPC routes,
    an AwsPeerSecurityGroup per AWS region and one GcpPeerFirewall."""

    peerings: dict[str, TgwPeering]
    vpns: dict[str, HaVpn]
    partition_vpns: dict[str, PartitionVpn]  # cross-partition links (aws <-> aws-cn), by link id
    security_group_ids: dict[str, pulumi.Output[str]]  # AWS region -> group for workloads serving peers

    def __init__(self, name: str, args: PrivateLinksArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:links:PrivateLinks", name, None, opts)
        plan, topo, child = args.plan, args.topology, pulumi.ResourceOptions(parent=self)
        regions: dict[str, RegionPlan] = {r.name: r for r in plan.regions}
        missing = [r for r in topo.aws_regions if r not in args.aws_networks]
        if topo.vpns and (args.gcp_network is None or args.gcp_regions is None):
            missing.append("the GCP global network and regional routers")
        if missing:
            raise ValueError(f"{name}: no network given for {', '.join(missing)}")

        self.peerings = {
            p.id: TgwPeering(f"{name}-{p.id}", TgwPeeringArgs(
                peering=p, requester=regions[p.requester], accepter=regions[p.accepter],
                requester_network=args.aws_networks[p.requester], accepter_network=args.aws_networks[p.accepter],
                routes=tuple(r for r in topo.tgw_routes if r.peering == p.id), tags=plan.tags), opts=child)
            for p in topo.peerings
        }
        for route in (r for r in topo.vpc_routes if r.target == "tgw"):
            network = args.aws_networks[route.region]
            for i, table_id in enumerate(network.private_route_table_ids):
                aws.ec2.Route(f"{name}-{route.region}-private-{i}-{route.destination.replace('/', '-')}",
                              region=regions[route.region].location, route_table_id=table_id,
                              destination_cidr_block=route.destination,
                              transit_gateway_id=network.transit_gateway_id,
                              # A VPC route to a Transit Gateway is refused until the VPC is attached to it.
                              opts=pulumi.ResourceOptions(parent=self,
                                                          depends_on=[network.transit_gateway_attachment]))
        self.vpns = {}
        if topo.vpns and args.gcp_network is not None and args.gcp_regions is not None:
            for v in topo.vpns:
                self.vpns[v.id] = HaVpn(f"{name}-{v.id}", HaVpnArgs(
                    link=v, aws_region=regions[v.aws_region], gcp_region=regions[v.gcp_region],
                    transit_gateway_id=args.aws_networks[v.aws_region].transit_gateway_id,
                    gcp_network_self_link=args.gcp_network.self_link,
                    gcp_router_name=args.gcp_regions[v.gcp_region].router_name, tags=plan.tags), opts=child)
        # Across AWS partitions (aws <-> aws-cn): appliances in the China region, AWS VPN on the global side.
        self.partition_vpns = {}
        appliances = {}
        for remote in sorted({x.remote_region for x in topo.partition_links}):
            network = args.aws_networks[remote]
            appliances[remote] = PartitionAppliances(f"{name}-{remote}-appliances", PartitionAppliancesArgs(
                region=regions[remote], vpc_id=network.vpc_id, public_subnet_ids=network.public_subnet_ids,
                private_route_table_ids=network.private_route_table_ids,
                routes=tuple(r for r in topo.vpc_routes if r.region == remote and r.target == "appliance"),
                local_ranges=topo.ranges[remote], tags=plan.tags), opts=child)
        for x in topo.partition_links:
            self.partition_vpns[x.id] = PartitionVpn(f"{name}-{x.id}", PartitionVpnArgs(
                link=x, global_region=regions[x.global_region], remote_region=regions[x.remote_region],
                transit_gateway_id=args.aws_networks[x.global_region].transit_gateway_id,
                appliance_ips=appliances[x.remote_region].public_ips,
                appliance_security_group_id=appliances[x.remote_region].security_group_id, tags=plan.tags), opts=child)
        multi_region = len(plan.regions) > 1
        self.security_group_ids = {
            r: AwsPeerSecurityGroup(f"{name}-{r}-peers", AwsPeerSecurityGroupArgs(
                location=regions[r].location, vpc_id=args.aws_networks[r].vpc_id,
                peer_ranges=security_group_ranges(topo, r, plan.addresses.supernet),
                tags=plan.tags), opts=child).security_group_id
            for r in topo.aws_regions if multi_region
        }
        if args.gcp_network is not None and multi_region:
            gcp_names = [r.name for r in plan.regions if r.cloud == "gcp"]
            sources = collapse(c for g in gcp_names for c in topo.peer_ranges(g))
            GcpPeerFirewall(f"{name}-gcp-peers", GcpPeerFirewallArgs(args.gcp_network.self_link, sources),
                            opts=child)
        self.register_outputs({"peerings": list(self.peerings), "vpns": list(self.vpns),
                               "partitionVpns": list(self.partition_vpns),
                               "securityGroupIds": self.security_group_ids})
