"""The Kubernetes cluster autoscaler on EKS (GKE's node pools autoscale by themselves), so pending
model servers above the plan make the GPU node groups grow up to their max: pinned Helm chart,
auto-discovery of the cluster's node groups by tag, an IRSA role allowed to resize only this
cluster's groups.

IAM policy: https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md
("Full Cluster Autoscaler Features Policy (Recommended)").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster.irsa import irsa_role
from components.tags import aws_tags
from infra.planning.serving_versions import (
    CLUSTER_AUTOSCALER,
    CLUSTER_AUTOSCALER_CHARTS,
    CLUSTER_AUTOSCALER_IMAGE,
    CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
)


def autoscaler_policy(cluster_name: str) -> str:
    """Describe anything; resize or terminate only groups tagged as this cluster's."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": "*", "Action": [
            "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup"]},
        {"Effect": "Allow", "Resource": "*",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
    ]})


def autoscaler_values(cluster_name: str, location: str, kubernetes_version: str,
                      role_arn: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "cloudProvider": "aws", "awsRegion": location,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": {"tag": CLUSTER_AUTOSCALER_IMAGE[kubernetes_version]},
        "rbac": {"serviceAccount": {"create": True, "name": CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
                                    "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        # Least waste first; similar groups across zones grow together; GPU nodes stay 10 min
        # after their last server leaves (a server takes minutes to load).
        "extraArgs": {"expander": "least-waste", "balance-similar-node-groups": True,
                      "skip-nodes-with-system-pods": False, "scale-down-unneeded-time": "10m"},
        "priorityClassName": "system-cluster-critical",
    }


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    cluster_name: str
    location: str
    kubernetes_version: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str]


class ClusterAutoscaler(pulumi.ComponentResource):
    """IRSA role + pinned cluster-autoscaler release in kube-system of one EKS cluster."""

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None,
                 k8s_provider: k8s.Provider | None = None):
        super().__init__("rollout:serving:ClusterAutoscaler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subject = f"system:serviceaccount:{CLUSTER_AUTOSCALER.namespace}:{CLUSTER_AUTOSCALER_SERVICE_ACCOUNT}"
        role = irsa_role(f"{name}-role", args.oidc_provider_arn, args.oidc_issuer, subject,
                         tags=aws_tags(args.tags, f"{args.cluster_name}-cluster-autoscaler"), opts=child)
        policy = aws.iam.RolePolicy(f"{name}-policy", role=role.name, policy=autoscaler_policy(args.cluster_name),
                                    opts=child)
        chart = CLUSTER_AUTOSCALER_CHARTS[args.kubernetes_version]  # the release made for the image
        k8s.helm.v3.Release(
            f"{name}-release", name=chart.name, chart=chart.name, version=chart.version, namespace=chart.namespace,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            values=autoscaler_values(args.cluster_name, args.location, args.kubernetes_version, role.arn),
            atomic=True, cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[policy]))
        self.role_arn = role.arn
        self.register_outputs({"roleArn": role.arn})
