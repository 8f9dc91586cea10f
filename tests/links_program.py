"""The links on top of freshly declared regional networks: the wiring the rollout uses, for mock tests
and the growth measurement (bench/bench_links.py)."""

from __future__ import annotations

from components.links.private_links import LinkedPlan, PrivateLinks, PrivateLinksArgs
from components.network.aws_vpc import AwsNetwork, AwsNetworkArgs
from components.network.gcp_network import (
    GcpGlobalNetwork,
    GcpGlobalNetworkArgs,
    GcpRegionalNetwork,
    GcpRegionalNetworkArgs,
)
from infra.planning.topology import Topology, plan_topology, router_advertised_ranges

FLOW_ROLE_ARN = "arn:aws:iam::123456789012:role/flow-logs"


def declare_links(plan: LinkedPlan, topology: Topology | None = None, name: str = "links") -> PrivateLinks:
    """Networks for every region of `plan`, then PrivateLinks over them."""
    topology = topology or plan_topology(plan)
    aws_networks = {r.name: AwsNetwork(r.name, AwsNetworkArgs(r, plan.tags, FLOW_ROLE_ARN))
                    for r in plan.regions if r.cloud == "aws"}
    gcp_plans = [r for r in plan.regions if r.cloud == "gcp"]
    gcp_network = GcpGlobalNetwork("gcp", GcpGlobalNetworkArgs("links test")) if gcp_plans else None
    advertised = router_advertised_ranges(topology, plan.addresses.supernet)
    gcp_regions = {r.name: GcpRegionalNetwork(r.name, GcpRegionalNetworkArgs(r, gcp_network.self_link, advertised))
                   for r in gcp_plans} if gcp_network else None
    return PrivateLinks(name, PrivateLinksArgs(plan=plan, topology=topology, aws_networks=aws_networks,
                                               gcp_network=gcp_network, gcp_regions=gcp_regions))
