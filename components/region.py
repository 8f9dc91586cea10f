"""One serving region: owns everything declared in that region (network, Kubernetes cluster and GPU
pools now; the database member and serving stack as they land)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cluster.region_cluster import RegionCluster, RegionClusterArgs
from components.network.aws_vpc import AwsNetwork, AwsNetworkArgs
from components.network.gcp_network import GcpRegionalNetwork, GcpRegionalNetworkArgs
from infra.planning.cluster_plan import ClusterPlan
from infra.planning.regions import RegionPlan


@dataclass(frozen=True)
class RegionArgs:
    region: RegionPlan
    tags: dict[str, str]
    flow_log_role_arn: pulumi.Input[str] | None = None  # AWS regions
    gcp_network_self_link: pulumi.Input[str] | None = None  # GCP regions
    cluster: ClusterPlan | None = None  # None: network only


class Region(pulumi.ComponentResource):
    """Everything in one region, grouped so the preview tree and `pulumi stack` read per region."""

    network: AwsNetwork | GcpRegionalNetwork
    cluster: RegionCluster | None
    summary: dict[str, pulumi.Output[str]]  # ids worth a stack output

    def __init__(self, name: str, args: RegionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:region:Region", name, None, opts)
        plan, child = args.region, pulumi.ResourceOptions(parent=self)
        if plan.cloud == "aws":
            if args.flow_log_role_arn is None:
                raise ValueError(f"region {plan.name}: AWS regions need the flow log role")
            self.network = AwsNetwork(plan.name, AwsNetworkArgs(plan, args.tags, args.flow_log_role_arn),
                                      opts=child)
            outputs = {"vpcId": self.network.vpc_id, "transitGatewayId": self.network.transit_gateway_id}
        else:
            if args.gcp_network_self_link is None:
                raise ValueError(f"region {plan.name}: GCP regions need the stack's global network")
            self.network = GcpRegionalNetwork(plan.name, GcpRegionalNetworkArgs(plan, args.gcp_network_self_link),
                                              opts=child)
            outputs = {"subnetwork": self.network.subnetwork_self_link}
        self.cluster = None
        if args.cluster is not None:
            if plan.cloud == "aws":
                cluster_args = RegionClusterArgs(plan, args.cluster, args.tags,
                                                 private_subnet_ids=self.network.private_subnet_ids,
                                                 vpc_id=self.network.vpc_id)
            else:
                cluster_args = RegionClusterArgs(plan, args.cluster, args.tags,
                                                 network_self_link=args.gcp_network_self_link,
                                                 subnetwork_self_link=self.network.subnetwork_self_link)
            self.cluster = RegionCluster(f"{plan.name}-k8s", cluster_args,
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[self.network]))
            outputs["cluster"] = self.cluster.summary
        self.summary = outputs
        self.register_outputs(outputs)
