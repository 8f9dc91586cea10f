"""One region's Kubernetes: the right cluster for the cloud, a Kubernetes provider built from its
outputs, and the in-cluster base. The seam `Region` builds from (RegionPlan, ClusterPlan, network).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.aws_load_balancer_controller import (
    AwsLoadBalancerController,
    AwsLoadBalancerControllerArgs,
)
from components.cluster.eks_cluster import EksCluster, EksClusterArgs
from components.cluster.gke_cluster import GkeCluster, GkeClusterArgs
from components.cluster.kubernetes_base import KubernetesBase, KubernetesBaseArgs
from infra.planning.cluster_plan import ClusterPlan
from infra.planning.regions import RegionPlan


@dataclass(frozen=True)
class RegionClusterArgs:
    region: RegionPlan
    cluster: ClusterPlan
    tags: dict[str, str]
    private_subnet_ids: Sequence[pulumi.Input[str]] = field(default=())  # AWS: AwsNetwork.private_subnet_ids
    network_self_link: pulumi.Input[str] | None = None  # GCP: GcpGlobalNetwork.self_link
    subnetwork_self_link: pulumi.Input[str] | None = None  # GCP: GcpRegionalNetwork.subnetwork_self_link
    vpc_id: pulumi.Input[str] | None = None  # AWS: the load balancer controller's VPC


class RegionCluster(pulumi.ComponentResource):
    """EKS or GKE for one region, its `pulumi_kubernetes.Provider` and base namespaces/plugins."""

    cluster: EksCluster | GkeCluster
    k8s_provider: k8s.Provider
    base: KubernetesBase
    lb_controller: AwsLoadBalancerController | None  # EKS: internal NLBs and TargetGroupBindings
    summary: dict[str, object]

    def __init__(self, name: str, args: RegionClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:cluster:RegionCluster", name, None, opts)
        region, plan, child = args.region, args.cluster, pulumi.ResourceOptions(parent=self)
        if region.cloud == "aws":
            if not args.private_subnet_ids:
                raise ValueError(f"region {region.name}: an EKS cluster needs the private subnet ids")
            self.cluster = EksCluster(name, EksClusterArgs(region, plan, args.private_subnet_ids, args.tags),
                                      opts=child)
        else:
            if args.network_self_link is None or args.subnetwork_self_link is None:
                raise ValueError(f"region {region.name}: a GKE cluster needs the network and subnetwork")
            self.cluster = GkeCluster(name, GkeClusterArgs(region, plan, args.network_self_link,
                                                           args.subnetwork_self_link, args.tags), opts=child)
        # Everything in the cluster waits for the provider, which waits for API access (admin access
        # entries, the runner's security-group rule): else the first call races them and gets Unauthorized.
        self.k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.cluster.kubeconfig,
                                         enable_server_side_apply=True, delete_unreachable=False,
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=self.cluster.api_ready))
        self.base = KubernetesBase(name, KubernetesBaseArgs(
            region.cloud, plan.kubernetes_version, plan.local_network, plan.peer_network,
            control_plane=(plan.master_ipv4_cidr,) if plan.master_ipv4_cidr else (plan.local_network,),
            load_balancers=plan.load_balancer_networks or None),
                                   opts=pulumi.ResourceOptions(parent=self, provider=self.k8s_provider))
        self.lb_controller = None
        if isinstance(self.cluster, EksCluster) and args.vpc_id is not None:  # Region always passes it
            self.lb_controller = AwsLoadBalancerController(
                f"{name}-lb-controller", AwsLoadBalancerControllerArgs(
                    cluster_name=self.cluster.cluster_name, region=region.location, vpc_id=args.vpc_id,
                    oidc_provider_arn=self.cluster.oidc_provider_arn, oidc_issuer=self.cluster.oidc_issuer,
                    tags=args.tags, name_prefix=plan.name),
                self.k8s_provider, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]))
        self.summary = {
            "clusterName": self.cluster.cluster_name,
            "endpoint": self.cluster.endpoint,
            "kubernetesVersion": plan.kubernetes_version,
            "publicEndpoint": plan.public_endpoint,
            "apiAccess": plan.api_access,
            "pools": {p.name: {"machineType": p.machine_type, "min": p.min_nodes, "desired": p.desired_nodes,
                               "max": p.max_nodes, "zones": list(p.zones), "gpuModel": p.gpu_model}
                      for p in plan.pools},
        }
        self.register_outputs({"clusterName": self.cluster.cluster_name, "endpoint": self.cluster.endpoint})
