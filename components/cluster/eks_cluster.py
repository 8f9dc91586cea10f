"""An EKS cluster for one AWS region: private API endpoint (public only with an allow-list), KMS
envelope encryption of Secrets, control-plane logs, access entries (no aws-auth ConfigMap), IRSA,
pinned managed add-ons, a system node group and one NVIDIA node group per GPU pool of the plan.

Real-path safety: the cluster and its log group have fixed names, so they replace delete-first; node
group sizes the autoscaler moves (`desiredSize`) are ignored after creation; cluster admins are the
deployer role and `cluster.adminRoleArns` by access entry (the creator gets no implicit admin), and
the kubeconfig authenticates as the same identity as the AWS provider (components/deploy_context.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import aws_iam
from components.cluster.irsa import irsa_role
from components.cluster.kubeconfig import eks_kubeconfig
from components.deploy_context import aws_identity
from components.network.log_key import logs_kms_key
from components.tags import aws_tags
from infra.planning.cluster_plan import ClusterPlan, NodePoolPlan, eks_scaling
from infra.planning.cluster_versions import SUPPORTED
from infra.planning.partition import arn, service_principal, sts_audience
from infra.planning.regions import RegionPlan

# https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html
CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# https://docs.aws.amazon.com/eks/latest/APIReference/API_Nodegroup.html (amiType)
SYSTEM_AMI, GPU_AMI = "AL2023_x86_64_STANDARD", "AL2023_x86_64_NVIDIA"
ROOT_VOLUME_GIB = {"system": 50, "gpu": 200}  # GPU nodes pull multi-GB serving images and weights
# EKS spells taint effects in upper snake case (API_Taint.html).
EKS_TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
LOG_RETENTION_DAYS = 90
# https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
CLUSTER_ADMIN_POLICY_NAME = "AmazonEKSClusterAdminPolicy"


def cluster_admin_policy(partition: str = "aws") -> str:
    """EKS access policy ARN: arn:<partition>:eks::aws:cluster-access-policy/<name>."""
    return arn(partition, "eks", "", "aws", f"cluster-access-policy/{CLUSTER_ADMIN_POLICY_NAME}")


CLUSTER_ADMIN_POLICY = cluster_admin_policy()
# The autoscaler (and `kubectl scale`) move desiredSize; a later `up` must not undo that.
NODE_GROUP_IGNORE = ["scalingConfig.desiredSize"]


@dataclass(frozen=True)
class EksClusterArgs:
    region: RegionPlan
    cluster: ClusterPlan
    private_subnet_ids: Sequence[pulumi.Input[str]]  # AwsNetwork.private_subnet_ids: order of region zones
    tags: dict[str, str]


def subnets_for_zones(region: RegionPlan, subnet_ids: Sequence[pulumi.Input[str]],
                      zones: Sequence[str]) -> list[pulumi.Input[str]]:
    """Private subnet ids of `zones`; AwsNetwork lists them in the order of the address plan's zones."""
    by_zone = {z.zone: subnet_ids[i] for i, z in enumerate(region.addresses.zones)}
    missing = [z for z in zones if z not in by_zone]
    if missing or len(subnet_ids) != len(region.addresses.zones):
        raise ValueError(f"region {region.name}: no private subnet for zones {missing} "
                         f"({len(subnet_ids)} subnets for {len(region.addresses.zones)} zones)")
    return [by_zone[z] for z in zones]


def admin_principals(plan: ClusterPlan, deployer_role_arn: str | None) -> list[str]:
    """Cluster admins: the role the AWS provider assumes (it applies the in-cluster base), then the
    configured admin roles, each once."""
    out = [deployer_role_arn] if deployer_role_arn else []
    return out + [a for a in plan.admin_role_arns if a not in out]


def in_partition(role_arns: Sequence[str], partition: str) -> list[str]:
    """The role ARNs of one partition (a role of another partition cannot be a principal here)."""
    return [a for a in role_arns if a.startswith(f"arn:{partition}:")]


def autoscaler_discovery_tags(cluster_name: str) -> dict[str, str]:
    """The tags the cluster autoscaler's auto-discovery selects node groups by (EKS also puts them on
    the managed node groups' Auto Scaling groups):
    https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md"""
    return {"k8s.io/cluster-autoscaler/enabled": "true", f"k8s.io/cluster-autoscaler/{cluster_name}": "owned"}


class EksCluster(pulumi.ComponentResource):
    """EKS control plane, IAM, KMS, OIDC/IRSA, add-ons and node groups of one region."""

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]  # secret
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]  # https://oidc.eks.<region>.amazonaws.com/id/<id> (IRSA trust policies)
    node_groups: dict[str, aws.eks.NodeGroup]
    api_ready: list[pulumi.Resource]  # the Kubernetes provider waits for these (admin access, API reachability)

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:cluster:EksCluster", name, None, opts)
        plan, region = args.cluster, args.region
        loc, child = region.location, pulumi.ResourceOptions(parent=self)
        addons = SUPPORTED[plan.kubernetes_version]

        def tags(suffix: str) -> dict[str, str]:
            return aws_tags(args.tags, f"{plan.name}-{suffix}")

        def service_role(kind: str, service: str, policy_arns: Sequence[str]):
            """A role `service` assumes, with exactly the named AWS managed policies attached."""
            role = aws.iam.Role(f"{name}-{kind}-role", assume_role_policy=aws_iam.assume_role_by_service(service),
                                tags=tags(f"{kind}-role"), opts=child)
            attachments = [
                aws.iam.RolePolicyAttachment(f"{name}-{kind}-{arn.rsplit('/', 1)[1]}", role=role.name,
                                             policy_arn=arn, opts=child)
                for arn in policy_arns
            ]
            return role, attachments

        partition = region.catalog.partition
        cluster_role, cluster_attachments = service_role("cluster", service_principal(partition, "eks"),
                                                         aws_iam.cluster_policies(partition))
        node_role, node_attachments = service_role("node", service_principal(partition, "ec2"),
                                                   aws_iam.node_policies(partition))

        # Envelope encryption of Secrets: https://docs.aws.amazon.com/eks/latest/userguide/envelope-encryption.html
        key = aws.kms.Key(f"{name}-secrets", region=loc, description=f"EKS {plan.name} Secrets envelope key",
                          enable_key_rotation=True, deletion_window_in_days=30, tags=tags("secrets"),
                          opts=pulumi.ResourceOptions(parent=self, protect=plan.protect_keys))
        # Pre-created so logs have a retention (EKS would create it with none) and a customer-managed key.
        # The name is the one EKS writes to, so a replacement must delete the old group first.
        logs_key = logs_kms_key(f"{name}-logs-key", loc, f"EKS {plan.name} control-plane logs", tags("logs-key"), self)
        log_group = aws.cloudwatch.LogGroup(f"{name}-logs", region=loc, name=f"/aws/eks/{plan.name}/cluster",
                                            retention_in_days=LOG_RETENTION_DAYS, kms_key_id=logs_key.arn,
                                            tags=tags("logs"),
                                            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))

        all_subnets = subnets_for_zones(region, args.private_subnet_ids, region.zones)
        cluster = aws.eks.Cluster(
            f"{name}-eks", region=loc, name=plan.name, version=plan.kubernetes_version, role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=all_subnets, endpoint_private_access=True,
                endpoint_public_access=plan.public_endpoint,
                public_access_cidrs=list(plan.public_api_cidrs) if plan.public_endpoint else None),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn)),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOGS),
            # Access entries, not the aws-auth ConfigMap, and no implicit admin for whoever created the
            # cluster: admins are the entries below. https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html
            access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API",
                                                          bootstrap_cluster_creator_admin_permissions=False),
            # Core add-ons come as pinned managed add-ons below instead of unmanaged defaults.
            bootstrap_self_managed_addons=False,
            tags=tags("eks"),
            # A fixed name: a replacement (e.g. new subnets) must delete the old cluster first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*cluster_attachments, log_group],
                                        delete_before_replace=True, protect=plan.protect_cluster))

        identity = aws_identity(partition)
        self.api_ready = []
        for i, principal in enumerate(in_partition(admin_principals(plan, identity.role_arn), partition)):
            entry = aws.eks.AccessEntry(f"{name}-admin-{i}", region=loc, cluster_name=cluster.name,
                                        principal_arn=principal, type="STANDARD", tags=tags(f"admin-{i}"),
                                        opts=child)
            self.api_ready.append(aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}", region=loc, cluster_name=cluster.name, principal_arn=entry.principal_arn,
                policy_arn=cluster_admin_policy(partition),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"), opts=child))
        if plan.runner_cidrs:
            # Private mode: the runner inside the network reaches the private endpoint on 443, which
            # the cluster security group (EKS-created) otherwise admits only from itself.
            cluster_sg = cluster.vpc_config.apply(lambda v: v.cluster_security_group_id)
            for cidr in plan.runner_cidrs:
                self.api_ready.append(aws.vpc.SecurityGroupIngressRule(
                    f"{name}-api-from-{cidr.replace('/', '-')}", region=loc, security_group_id=cluster_sg,
                    cidr_ipv4=cidr, ip_protocol="tcp", from_port=443, to_port=443,
                    description="Kubernetes API from the deployment runner", tags=tags("api-runner"),
                    opts=child))

        issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        # IAM secures the EKS issuer with its own trusted CAs, so no thumbprint is pinned
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html).
        oidc = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=issuer, client_id_lists=[sts_audience(partition)],
                                             tags=tags("oidc"), opts=child)
        ebs_role = irsa_role(f"{name}-ebs-csi-role", oidc.arn, issuer, aws_iam.EBS_CSI_SERVICE_ACCOUNT,
                             tags=tags("ebs-csi-role"), opts=child)
        ebs_attachment = aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=ebs_role.name,
                                                      policy_arn=aws_iam.ebs_csi_policy(partition), opts=child)
        # The VPC CNI gets its own IRSA role, so the node role (reachable from a compromised node) carries
        # no ENI/IP permissions (https://docs.aws.amazon.com/eks/latest/userguide/cni-iam-role.html).
        cni_role = irsa_role(f"{name}-vpc-cni-role", oidc.arn, issuer, aws_iam.CNI_SERVICE_ACCOUNT,
                             tags=tags("vpc-cni-role"), opts=child)
        cni_attachment = aws.iam.RolePolicyAttachment(f"{name}-vpc-cni", role=cni_role.name,
                                                      policy_arn=aws_iam.cni_policy(partition), opts=child)

        def addon(addon_name: str, depends_on: list[pulumi.Resource], role_arn: pulumi.Input[str] | None = None,
                  configuration: dict | None = None):
            return aws.eks.Addon(
                f"{name}-{addon_name}", region=loc, cluster_name=cluster.name, addon_name=addon_name,
                addon_version=addons.by_name()[addon_name], service_account_role_arn=role_arn,
                configuration_values=json.dumps(configuration) if configuration else None,
                resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
                tags=tags(addon_name), opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on))

        # Networking add-ons first: nodes only become Ready once the CNI runs on them.
        # enableNetworkPolicy: the VPC CNI enforces NetworkPolicy objects on every node
        # (https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html).
        network_addons = [addon("vpc-cni", [cni_attachment], cni_role.arn, {"enableNetworkPolicy": "true"}),
                          addon("kube-proxy", [])]
        self.node_groups = {}
        for pool in plan.pools:
            self.node_groups[pool.name] = self._node_group(
                name, region, plan, pool, cluster, node_role.arn,
                subnets_for_zones(region, args.private_subnet_ids, pool.zones), tags,
                depends_on=[*node_attachments, *network_addons])
        system = self.node_groups["system"]
        addon("coredns", [system])
        addon("aws-ebs-csi-driver", [system, ebs_attachment], ebs_role.arn)

        ca = cluster.certificate_authority.apply(lambda c: c.data)
        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(cluster.name, cluster.endpoint, ca).apply(
            lambda v: eks_kubeconfig(v[0], v[1], v[2], loc, profile=identity.profile, role_arn=identity.role_arn)))
        self.register_outputs({"clusterName": cluster.name, "endpoint": cluster.endpoint,
                               "oidcProviderArn": oidc.arn, "kmsKeyArn": key.arn})

    def _node_group(self, name: str, region: RegionPlan, plan: ClusterPlan, pool: NodePoolPlan,
                    cluster: aws.eks.Cluster, node_role_arn: pulumi.Output[str], subnet_ids: list,
                    tags, depends_on: list[pulumi.Resource]) -> aws.eks.NodeGroup:
        loc, child = region.location, pulumi.ResourceOptions(parent=self)
        kind = "gpu" if pool.is_gpu else "system"
        min_size, desired_size, max_size = eks_scaling(pool)  # sizes every later update is accepted with
        # IMDSv2 only, hop limit 1: a pod (one hop further) cannot reach IMDS and take the node role;
        # host-network add-ons still can, the others use IRSA
        # (https://docs.aws.amazon.com/eks/latest/best-practices/identity-and-access-management.html).
        template = aws.ec2.LaunchTemplate(
            f"{name}-{pool.name}", region=loc, description=f"EKS {plan.name} {pool.name} nodes",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=ROOT_VOLUME_GIB[kind], volume_type="gp3", encrypted="true",
                    delete_on_termination="true"))],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=t, tags=tags(pool.name))
                                for t in ("instance", "volume")],
            tags=tags(f"{pool.name}-lt"), opts=child)
        return aws.eks.NodeGroup(
            f"{name}-{pool.name}", region=loc, cluster_name=cluster.name, node_role_arn=node_role_arn,
            version=plan.kubernetes_version, subnet_ids=subnet_ids, instance_types=[pool.machine_type],
            ami_type=GPU_AMI if pool.is_gpu else SYSTEM_AMI, capacity_type="ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=min_size, desired_size=desired_size, max_size=max_size),
            labels=dict(pool.labels),
            taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=EKS_TAINT_EFFECT[t.effect])
                    for t in pool.taints],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            tags={**tags(pool.name), **autoscaler_discovery_tags(plan.name)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, ignore_changes=NODE_GROUP_IGNORE))
