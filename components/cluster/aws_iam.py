"""IAM documents and AWS managed policy ARNs the EKS cluster needs (least privilege: only AWS
managed policies EKS documents as required)."""

from __future__ import annotations

import json

from infra.planning.partition import AWS, managed_policy_arn, sts_audience

# https://docs.aws.amazon.com/eks/latest/userguide/cluster-iam-role.html
CLUSTER_POLICY_NAMES = ("AmazonEKSClusterPolicy",)
# https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html; AmazonEKS_CNI_Policy is not
# here: the vpc-cni add-on gets it through its own IRSA role (cni-iam-role.html), not the node role.
NODE_POLICY_NAMES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")
CNI_POLICY_NAME = "AmazonEKS_CNI_Policy"
# https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html (IAM role for the controller)
EBS_CSI_POLICY_NAME = "service-role/AmazonEBSCSIDriverPolicy"


def cluster_policies(partition: str = AWS) -> tuple[str, ...]:
    return tuple(managed_policy_arn(partition, n) for n in CLUSTER_POLICY_NAMES)


def node_policies(partition: str = AWS) -> tuple[str, ...]:
    return tuple(managed_policy_arn(partition, n) for n in NODE_POLICY_NAMES)


def cni_policy(partition: str = AWS) -> str:
    return managed_policy_arn(partition, CNI_POLICY_NAME)


def ebs_csi_policy(partition: str = AWS) -> str:
    return managed_policy_arn(partition, EBS_CSI_POLICY_NAME)


# The global partition's ARNs (components take the region's partition: the functions above).
CLUSTER_POLICIES = cluster_policies()
NODE_POLICIES = node_policies()
CNI_POLICY = cni_policy()
EBS_CSI_POLICY = ebs_csi_policy()
CNI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:aws-node"
EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"


def assume_role_by_service(service: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                       "Action": ["sts:AssumeRole", "sts:TagSession"] if service.startswith("eks.")
                       else "sts:AssumeRole"}],
    })


def assume_role_by_service_account(provider_arn: str, issuer_url: str, subject: str) -> str:
    """IRSA trust: only `subject` (one Kubernetes service account) of this cluster's OIDC issuer.
    https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html"""
    host = issuer_url.removeprefix("https://")
    # The audience is sts.<partition's DNS suffix>; the issuer host ends with that suffix.
    audience = sts_audience("aws-cn" if host.split("/", 1)[0].endswith(".amazonaws.com.cn") else AWS)
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": audience}},
        }],
    })
