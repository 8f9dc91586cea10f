"""GCP networking: one global VPC for the stack and, per region, a subnetwork with secondary
ranges for GKE pods and services, private Google access, flow logs, and Cloud Router + Cloud NAT.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.planning.regions import RegionPlan
from infra.planning.topology import cloud_router_asn  # the ASN rule lives with the rest of the link plan

POD_RANGE, SERVICE_RANGE = "pods", "services"


@dataclass(frozen=True)
class GcpGlobalNetworkArgs:
    description: str


class GcpGlobalNetwork(pulumi.ComponentResource):
    """The stack's one global VPC: GCP regions reach each other inside it without links."""

    self_link: pulumi.Output[str]
    network_id: pulumi.Output[str]

    def __init__(self, name: str, args: GcpGlobalNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:network:GcpGlobalNetwork", name, None, opts)
        network = gcp.compute.Network(
            f"{name}-vpc", auto_create_subnetworks=False, routing_mode="GLOBAL",
            delete_default_routes_on_create=False, description=args.description,
            opts=pulumi.ResourceOptions(parent=self))
        self.self_link = network.self_link
        self.network_id = network.id
        self.register_outputs({"selfLink": network.self_link})


@dataclass(frozen=True)
class GcpRegionalNetworkArgs:
    region: RegionPlan
    network_self_link: pulumi.Input[str]
    # Advertised over BGP besides the subnets: the supernet in hub mode, the GKE control-plane ranges
    # when the runner deploys from inside the network (GlobalRollout decides, from the plan).
    advertised_ranges: tuple[str, ...] = ()


class GcpRegionalNetwork(pulumi.ComponentResource):
    """Subnetwork (nodes, pods, services), Cloud Router and Cloud NAT of one GCP region."""

    subnetwork_self_link: pulumi.Output[str]
    router_name: pulumi.Output[str]

    def __init__(self, name: str, args: GcpRegionalNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:network:GcpRegionalNetwork", name, None, opts)
        plan, child = args.region, pulumi.ResourceOptions(parent=self)
        addresses = plan.addresses
        subnetwork = gcp.compute.Subnetwork(
            f"{name}-subnet", region=plan.location, network=args.network_self_link,
            ip_cidr_range=addresses.primary, private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=POD_RANGE, ip_cidr_range=addresses.pods),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICE_RANGE,
                                                           ip_cidr_range=addresses.services),
            ],
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_1_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"),
            opts=child)
        router = gcp.compute.Router(
            f"{name}-router", region=plan.location, network=args.network_self_link,
            bgp=gcp.compute.RouterBgpArgs(
                asn=cloud_router_asn(plan), advertise_mode="CUSTOM", advertised_groups=["ALL_SUBNETS"],
                advertised_ip_ranges=[gcp.compute.RouterBgpAdvertisedIpRangeArgs(range=r, description=f"rollout {r}")
                                      for r in args.advertised_ranges] or None),
            opts=child)
        gcp.compute.RouterNat(
            f"{name}-nat", region=plan.location, router=router.name, nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[gcp.compute.RouterNatSubnetworkArgs(
                name=subnetwork.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child)
        self.subnetwork_self_link = subnetwork.self_link
        self.router_name = router.name
        self.register_outputs({"subnetwork": subnetwork.self_link, "router": router.name})
