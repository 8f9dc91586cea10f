"""An IAM role that exactly one Kubernetes service account of one EKS cluster may assume (IRSA).

Every workload that calls AWS APIs (add-ons, controllers, model servers, backups) gets its own role
this way, so no node role carries their permissions."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.cluster import aws_iam


def irsa_role(resource_name: str, oidc_provider_arn: pulumi.Input[str], oidc_issuer: pulumi.Input[str],
              subject: str, *, tags: dict[str, str], opts: pulumi.ResourceOptions) -> aws.iam.Role:
    """`subject` is `system:serviceaccount:<namespace>:<name>`."""
    return aws.iam.Role(
        resource_name,
        assume_role_policy=pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
            lambda v: aws_iam.assume_role_by_service_account(v[0], v[1], subject)),
        tags=tags, opts=opts)
