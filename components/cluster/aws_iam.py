"""IAM documents and AWS managed policy ARNs the EKS cluster needs (least privilege: only AWS
managed policies EKS documents as required)."""

from __future__ import annotations

import json

# https://docs.aws.amazon.com/eks/latest/userguide/cluster-iam-role.html
CLUSTER_POLICIES = ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",)
# https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html; AmazonEKS_CNI_Policy is not
# here: the vpc-cni add-on gets it through its own IRSA role (cni-iam-role.html), not the node role.
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
CNI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:aws-node"
# https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html (IAM role for the controller)
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"


def assume_role_by_service(service: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                       "Action": ["sts:AssumeRole", "sts:TagSession"] if service == "eks.amazonaws.com"
                       else "sts:AssumeRole"}],
    })


def assume_role_by_service_account(provider_arn: str, issuer_url: str, subject: str) -> str:
    """IRSA trust: only `subject` (one Kubernetes service account) of this cluster's OIDC issuer.
    https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html"""
    host = issuer_url.removeprefix("https://")
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": "sts.amazonaws.com"}},
        }],
    })
