"""A customer-managed KMS key for CloudWatch Logs in one region (flow logs, EKS control-plane logs,
VPN tunnel logs): the account administers it, and CloudWatch Logs of that region may use it only
for this account's log groups.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.planning.partition import account_root, arn, partition_of_region, service_principal


def logs_key_policy(account_id: str, region: str) -> str:
    """Key policy: the account keeps control (no lockout); CloudWatch Logs of `region` may encrypt and
    decrypt, only inside this account's log groups (the encryption-context condition)."""
    partition = partition_of_region(region)
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AccountAdministers", "Effect": "Allow",
             "Principal": {"AWS": account_root(partition, account_id)}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "CloudWatchLogsUse", "Effect": "Allow",
             "Principal": {"Service": service_principal(partition, "logs", region)},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
             "Resource": "*",
             "Condition": {"ArnLike": {
                 "kms:EncryptionContext:aws:logs:arn": arn(partition, "logs", region, account_id, "log-group:*")}}},
        ],
    })


def logs_kms_key(name: str, region: str, description: str, tags: dict[str, str],
                 parent: pulumi.Resource) -> aws.kms.Key:
    """The key, rotating yearly, with the policy above (a child of `parent`)."""
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=parent)).account_id
    return aws.kms.Key(name, region=region, description=description, enable_key_rotation=True,
                       deletion_window_in_days=30, policy=account.apply(lambda a: logs_key_policy(a, region)),
                       tags=tags, opts=pulumi.ResourceOptions(parent=parent))
