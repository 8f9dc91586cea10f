"""Audit trail of the public endpoint, per region: every request the load balancer saw (client
address, path, status, WAF action) kept `log_retention_days` in the region.

- AWS: an S3 bucket for the ALB's access logs. ALB log delivery writes only to SSE-S3 buckets, and
  the bucket policy names the region's Elastic Load Balancing account (regions opened before
  August 2022) or the log delivery service principal (newer regions):
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html
- GCP: a regional Cloud Logging bucket with its retention and a sink of the regional external
  Application Load Balancer's request logs into it (the backend service logs every request).
  https://cloud.google.com/load-balancing/docs/https/https-reg-logging-monitoring
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from components.tags import aws_tags
from infra.planning.partition import PARTITIONS, account_root, partition_of_region

PREFIX = "alb"
# Elastic Load Balancing accounts of the regions opened before August 2022 (same page as above).
ELB_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378", "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-south-1": "635631232127",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}
LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"
# The China regions' ELB accounts live with the partition (infra/planning/partition.py).
ELB_ACCOUNTS.update({region: account for p in PARTITIONS.values() for region, account in p.elb_log_accounts})


def alb_log_policy(bucket_arn: str, account_id: str, location: str) -> str:
    """Write access for the region's ELB log delivery under alb/AWSLogs/<account>/; TLS only."""
    if location in ELB_ACCOUNTS:
        principal = {"AWS": account_root(partition_of_region(location), ELB_ACCOUNTS[location])}
    else:
        principal = {"Service": LOG_DELIVERY_PRINCIPAL}
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AlbLogDelivery", "Effect": "Allow", "Principal": principal, "Action": "s3:PutObject",
         "Resource": f"{bucket_arn}/{PREFIX}/AWSLogs/{account_id}/*"},
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]})


@dataclass(frozen=True)
class AlbAccessLogsArgs:
    location: str
    cluster_name: str
    retention_days: int
    tags: dict[str, str]
    protect_data: bool = False


class AlbAccessLogs(pulumi.ComponentResource):
    """The bucket an AWS region's ALB writes its access logs to; `bucket` and `ready` for the ALB."""

    def __init__(self, name: str, args: AlbAccessLogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:serving:AlbAccessLogs", name, None, opts)
        loc, child = args.location, pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(f"{name}-bucket", region=loc, bucket_prefix=f"{args.cluster_name}-lb-logs-",
                               force_destroy=False, tags=aws_tags(args.tags, f"{args.cluster_name}-lb-logs"),
                               opts=pulumi.ResourceOptions(parent=self, protect=args.protect_data))
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket", region=loc, bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=child)
        aws.s3.BucketVersioning(f"{name}-bucket", region=loc, bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=child)
        block = aws.s3.BucketPublicAccessBlock(f"{name}-bucket", region=loc, bucket=bucket.id,
                                               block_public_acls=True, block_public_policy=True,
                                               ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket", region=loc, bucket=bucket.id,
            rules=[{"id": "retention", "status": "Enabled", "filter": {"prefix": ""},
                    "expiration": {"days": args.retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": 1}}], opts=child)
        account = aws.get_caller_identity_output().account_id
        policy = aws.s3.BucketPolicy(
            f"{name}-bucket", region=loc, bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, account).apply(lambda a: alb_log_policy(a[0], a[1], loc)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]))
        self.bucket = bucket.bucket
        self.ready = policy  # the ALB checks it may write when access logs are turned on
        self.register_outputs({"bucket": bucket.bucket})


def gcp_lb_log_bucket(name: str, project: str, location: str, cluster_name: str, retention_days: int,
                      opts: pulumi.ResourceOptions) -> None:
    """A regional log bucket with retention and the sink of this region's load balancer logs into it."""
    bucket_id = f"{cluster_name}-lb-logs"
    bucket = gcp.logging.ProjectBucketConfig(
        f"{name}-lb-logs", project=project, location=location, bucket_id=bucket_id,
        retention_days=retention_days, description=f"{cluster_name}: model endpoint request logs", opts=opts)
    gcp.logging.ProjectSink(
        f"{name}-lb-logs", project=project, name=f"{cluster_name}-lb-logs",
        destination=f"logging.googleapis.com/projects/{project}/locations/{location}/buckets/{bucket_id}",
        filter=f'resource.type="http_external_regional_lb_rule" AND resource.labels.region="{location}"',
        unique_writer_identity=True,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[bucket])))
