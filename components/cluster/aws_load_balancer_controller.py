"""The AWS Load Balancer Controller on one EKS cluster: a pinned Helm release and its IRSA role.

It turns `LoadBalancer` Services with `aws-load-balancer-type: external` into NLBs (the database
members' internal NLBs with fixed private addresses) and reconciles `TargetGroupBinding`s (the
serving stack's ALB targets). Chart and permissions:
https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/installation/ and the
controller's documented policy (docs/install/iam_policy.json in kubernetes-sigs/aws-load-balancer-controller).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster.irsa import irsa_role
from components.tags import aws_tags
from infra.planning.partition import arn, partition_of_region

# Chart 1.14.0 ships controller v2.14.0 (https://github.com/aws/eks-charts/tree/master/stable/aws-load-balancer-controller);
# re-check the chart's appVersion and the policy below together before bumping.
CHART = "aws-load-balancer-controller"
CHART_REPO = "https://aws.github.io/eks-charts"
CHART_VERSION = "1.14.0"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"

_DESCRIBE = [
    "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections", "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups", "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags",
    "ec2:DescribeCoipPools", "ec2:GetCoipPoolUsage", "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools",
    "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
]
_INTEGRATIONS = [
    "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
    "iam:ListServerCertificates", "iam:GetServerCertificate", "waf-regional:GetWebACL",
    "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
    "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
    "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection", "shield:DeleteProtection",
]
_MUTATE_OWNED = [
    "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
    "elasticloadbalancing:ModifyIpPools",
]
_OWNED = {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
_NEW_ONLY = {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "true",
                      "aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
def controller_policy(partition: str = "aws") -> dict:
    """The controller's permissions: read anything, change only what it tagged as its own (ARNs in the
    cluster's partition)."""

    def elb(resource: str) -> str:
        return arn(partition, "elasticloadbalancing", "*", "*", resource)

    elb_arns = [elb("targetgroup/*/*"), elb("loadbalancer/net/*/*"), elb("loadbalancer/app/*/*")]
    security_groups = arn(partition, "ec2", "*", "*", "security-group/*")

    def allow(actions, resource="*", condition=None):
        statement = {"Effect": "Allow", "Action": actions, "Resource": resource}
        if condition:
            statement["Condition"] = condition
        return statement

    return {"Version": "2012-10-17", "Statement": [
        allow(["iam:CreateServiceLinkedRole"], condition={
            "StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}),
        allow(_DESCRIBE),
        allow(_INTEGRATIONS),
        allow(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]),
        allow(["ec2:CreateSecurityGroup"]),
        allow(["ec2:CreateTags"], security_groups, {
            "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
            "Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}),
        allow(["ec2:CreateTags", "ec2:DeleteTags"], security_groups, _NEW_ONLY),
        allow(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"],
              condition=_OWNED),
        allow(["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
              condition={"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}),
        allow(["elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
               "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule"]),
        allow(["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], elb_arns, _NEW_ONLY),
        allow(["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], [
            elb("listener/net/*/*/*"),
            elb("listener/app/*/*/*"),
            elb("listener-rule/net/*/*/*"),
            elb("listener-rule/app/*/*/*")]),
        allow(_MUTATE_OWNED, condition=_OWNED),
        allow(["elasticloadbalancing:AddTags"], elb_arns, {
            "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
            "Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}),
        allow(["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
              elb("targetgroup/*/*")),
        allow(["elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
               "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
               "elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities"]),
    ]}


@dataclass(frozen=True)
class AwsLoadBalancerControllerArgs:
    cluster_name: pulumi.Input[str]
    region: str  # AWS region, e.g. us-east-1
    vpc_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str]
    name_prefix: str  # the cluster plan's name, for tags


class AwsLoadBalancerController(pulumi.ComponentResource):
    """IRSA role (trusting only kube-system/aws-load-balancer-controller) and the pinned chart."""

    release: k8s.helm.v3.Release
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AwsLoadBalancerControllerArgs, k8s_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:cluster:AwsLoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subject = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
        role = irsa_role(f"{name}-role", args.oidc_provider_arn, args.oidc_issuer, subject,
                         tags=aws_tags(args.tags, f"{args.name_prefix}-lb-controller"), opts=child)
        policy = json.dumps(controller_policy(partition_of_region(args.region)))
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy,
                           opts=child)
        self.role_arn = role.arn
        self.release = k8s.helm.v3.Release(
            f"{name}-chart", name=CHART, chart=CHART, version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO), namespace=NAMESPACE,
            values={
                "clusterName": args.cluster_name, "region": args.region, "vpcId": args.vpc_id,
                "replicaCount": 2,
                "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT,
                                   "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
                # Services of type LoadBalancer without the `external` annotation stay with the in-tree
                # controller's defaults off: every Service this program declares names its type.
                "enableServiceMutatorWebhook": False,
            },
            atomic=True, cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider))
        self.register_outputs({"roleArn": role.arn})
