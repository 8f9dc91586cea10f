"""The top of the resource tree: stack-wide resources and one `Region` per planned region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.links import PrivateLinks, PrivateLinksArgs
from components.network.aws_vpc import AwsNetwork
from components.network.flow_log_role import FlowLogRole, FlowLogRoleArgs
from components.network.gcp_network import GcpGlobalNetwork, GcpGlobalNetworkArgs, GcpRegionalNetwork
from components.pki import RootCa, RootCaArgs
from components.region import Region, RegionArgs
from infra.planning.plan import RolloutPlan


@dataclass(frozen=True)
class GlobalRolloutArgs:
    plan: RolloutPlan
    # Region name -> the certificate of its HTTPS endpoint when the traffic layer issues them;
    # otherwise the plan's (`serving.certificates` in the stack config).
    certificates: Mapping[str, pulumi.Input[str]] | None = None


class GlobalRollout(pulumi.ComponentResource):
    """Stack-wide resources (flow-log role, global GCP VPC, private CA), the regions, and the links
    between them."""

    regions: dict[str, Region]
    links: PrivateLinks
    ca: RootCa

    def __init__(self, name: str, args: GlobalRolloutArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:global:GlobalRollout", name, None, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        flow_log_role = FlowLogRole(f"{name}-flow-logs", FlowLogRoleArgs(plan.tags), opts=child) \
            if plan.aws_regions else None
        gcp_network = GcpGlobalNetwork(
            f"{name}-gcp", GcpGlobalNetworkArgs(f"global-ai-rollout {pulumi.get_stack()}"), opts=child) \
            if plan.gcp_regions else None
        self.regions = {
            r.name: Region(r.name, RegionArgs(
                region=r, tags=plan.tags,
                flow_log_role_arn=flow_log_role.arn if flow_log_role and r.cloud == "aws" else None,
                gcp_network_self_link=gcp_network.self_link if gcp_network and r.cloud == "gcp" else None,
                cluster=plan.clusters.get(r.name),
                serving=plan.serving.get(r.name), domain=plan.domain,
                server=plan.serving[r.name].server if r.name in plan.serving else None,
                certificate=(args.certificates or {}).get(
                    r.name, plan.serving[r.name].certificate if r.name in plan.serving else None),
            ), opts=child)
            for r in plan.regions
        }
        aws_networks = {n: r.network for n, r in self.regions.items() if isinstance(r.network, AwsNetwork)}
        gcp_networks = {n: r.network for n, r in self.regions.items() if isinstance(r.network, GcpRegionalNetwork)}
        self.links = PrivateLinks(f"{name}-links", PrivateLinksArgs(
            plan=plan, topology=plan.topology, aws_networks=aws_networks, gcp_network=gcp_network,
            gcp_regions=gcp_networks or None), opts=child)
        # The private CA that internal services (database members, internal APIs) get leaf certificates from.
        self.ca = RootCa(f"{name}-ca", RootCaArgs(common_name=f"global-ai-rollout {pulumi.get_stack()} root CA",
                                                  organization=plan.tags["owner"]), opts=child)
        self.register_outputs({"caCertificate": self.ca.cert_pem})
