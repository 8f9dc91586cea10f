"""AWS side of one region's serving stack: the weights bucket and the servers' IRSA role, and the
region's public HTTPS endpoint: an internet-facing Application Load Balancer in the public subnets,
one target group per GPU pool (IP targets, least outstanding requests), and an HTTPS listener
(TLS 1.2+) that forwards to the target groups with weights proportional to each pool's capacity.

Pods are registered by the AWS Load Balancer Controller from `TargetGroupBinding`s
(components/serving/workload.py); Pulumi owns the load balancer, so its address is a stack output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster.irsa import irsa_role
from components.serving.elb_names import elb_logical_name
from components.tags import aws_tags
from infra.planning.serving import HEALTH_PATH, PORT, SERVICE_ACCOUNT, SERVING_NAMESPACE, RegionServing

# TLS 1.3 and 1.2 only: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
IDLE_TIMEOUT_SECONDS = 600  # long generations stream for minutes
DEREGISTRATION_DELAY_SECONDS = 120  # = the pods' termination grace period


@dataclass(frozen=True)
class AwsServingEntryArgs:
    serving: RegionServing
    location: str
    cluster_name: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    public_subnet_ids: Sequence[pulumi.Input[str]]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    certificate_arn: pulumi.Input[str]
    tags: dict[str, str]
    ssl_policy: pulumi.Input[str] | None = None  # the traffic layer's choice; default SSL_POLICY
    protect_data: bool = False
    access_logs_bucket: pulumi.Input[str] | None = None  # components/serving/access_logs.py (prefix "alb")
    access_logs_ready: pulumi.Resource | None = None  # its bucket policy: the ALB checks it may write


def weights_read_policy(bucket_arn: str) -> str:
    """Read-only access to the weights: list the bucket, get its objects."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket_arn},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket_arn}/*"},
    ]})


def tls_only_policy(bucket_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


class AwsServingEntry(pulumi.ComponentResource):
    """Weights bucket, IRSA role, ALB, target groups and HTTPS listener of one AWS region."""

    bucket_uri: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    target_group_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: AwsServingEntryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:serving:AwsServingEntry", name, None, opts)
        loc, child, plan = args.location, pulumi.ResourceOptions(parent=self), args.serving

        def tags(suffix: str) -> dict[str, str]:
            return aws_tags(args.tags, f"{args.cluster_name}-{suffix}")

        # Weights: encrypted, versioned, never public, TLS only. Auto-named (bucket names are global).
        bucket = aws.s3.Bucket(f"{name}-weights", region=loc, bucket_prefix=f"{args.cluster_name}-weights-",
                               force_destroy=False, tags=tags("weights"),
                               opts=pulumi.ResourceOptions(parent=self, protect=args.protect_data))
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-weights", region=loc, bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3
                .BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms"),
                bucket_key_enabled=True)], opts=child)
        aws.s3.BucketVersioning(f"{name}-weights", region=loc, bucket=bucket.id,
                                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                                    status="Enabled"), opts=child)
        block = aws.s3.BucketPublicAccessBlock(f"{name}-weights", region=loc, bucket=bucket.id,
                                               block_public_acls=True, block_public_policy=True,
                                               ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketPolicy(f"{name}-weights", region=loc, bucket=bucket.id, policy=bucket.arn.apply(tls_only_policy),
                            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]))

        # IRSA: only the servers' ServiceAccount of this cluster may assume the role.
        subject = f"system:serviceaccount:{SERVING_NAMESPACE}:{SERVICE_ACCOUNT}"
        role = irsa_role(f"{name}-server-role", args.oidc_provider_arn, args.oidc_issuer, subject,
                         tags=tags("server-role"), opts=child)
        aws.iam.RolePolicy(f"{name}-server-weights", role=role.name, policy=bucket.arn.apply(weights_read_policy),
                           opts=child)

        # The public endpoint: 443 from anywhere to the ALB; the ALB reaches only the servers' port.
        sg = aws.ec2.SecurityGroup(
            f"{name}-alb", region=loc, vpc_id=args.vpc_id, description=f"{args.cluster_name} serving endpoint",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                      cidr_blocks=["0.0.0.0/0"], description="HTTPS clients")],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="tcp", from_port=PORT, to_port=PORT,
                                                    cidr_blocks=[args.vpc_cidr], description="model servers")],
            tags=tags("alb"), opts=child)
        alb = aws.lb.LoadBalancer(
            elb_logical_name(name, "alb"), region=loc, load_balancer_type="application", internal=False,
            subnets=list(args.public_subnet_ids), security_groups=[sg.id], idle_timeout=IDLE_TIMEOUT_SECONDS,
            drop_invalid_header_fields=True, enable_deletion_protection=args.protect_data,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=args.access_logs_bucket, prefix="alb", enabled=True)
            if args.access_logs_bucket is not None else None,
            tags=tags("alb"), opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.access_logs_ready] if args.access_logs_ready else []))
        self.target_group_arns = {}
        groups = []
        for pool in plan.pools:
            group = aws.lb.TargetGroup(
                elb_logical_name(name, pool.name), region=loc, port=PORT, protocol="HTTP", protocol_version="HTTP1",
                target_type="ip", vpc_id=args.vpc_id,
                load_balancing_algorithm_type="least_outstanding_requests",
                deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    enabled=True, path=HEALTH_PATH, port="traffic-port", protocol="HTTP", matcher="200",
                    interval=10, timeout=5, healthy_threshold=2, unhealthy_threshold=3),
                tags=tags(pool.name), opts=child)
            self.target_group_arns[pool.pool] = group.arn
            groups.append(aws.lb.ListenerDefaultActionForwardTargetGroupArgs(arn=group.arn,
                                                                              weight=pool.listener_weight))
        aws.lb.Listener(
            f"{name}-https", region=loc, load_balancer_arn=alb.arn, port=443, protocol="HTTPS",
            ssl_policy=args.ssl_policy or SSL_POLICY, certificate_arn=args.certificate_arn,
            default_actions=[aws.lb.ListenerDefaultActionArgs(
                type="forward", forward=aws.lb.ListenerDefaultActionForwardArgs(target_groups=groups))],
            tags=tags("https"), opts=child)

        self.bucket_uri = pulumi.Output.concat("s3://", bucket.bucket)
        self.bucket_arn = bucket.arn  # the weights stager's write grant (weights_staging.py)
        self.role_arn = role.arn
        self.dns_name = alb.dns_name
        self.load_balancer_arn = alb.arn  # the WAF web ACL is associated with it
        self.load_balancer_arn_suffix = alb.arn_suffix  # the `LoadBalancer` dimension of its CloudWatch metrics
        self.zone_id = alb.zone_id
        self.security_group_id = sg.id
        self.register_outputs({"dnsName": alb.dns_name, "bucket": bucket.bucket, "roleArn": role.arn})
