"""The IAM role VPC flow logs assume to write to CloudWatch Logs (IAM is global: one per stack)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.tags import aws_tags
from infra.planning.partition import AWS, arn, service_principal


def assume_policy(account_id: str, partition: str = AWS) -> str:
    """Trust for the flow-logs service, only on behalf of this account's flow logs (cross-service confused
    deputy: https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service_principal(partition, "vpc-flow-logs")},
                       "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {"aws:SourceAccount": account_id},
                                     "ArnLike": {"aws:SourceArn": arn(partition, "ec2", "*", account_id,
                                                                      "vpc-flow-log/*")}}}],
    })
_WRITE_LOGS = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups",
               "logs:DescribeLogStreams"]


@dataclass(frozen=True)
class FlowLogRoleArgs:
    tags: dict[str, str]
    partition: str = AWS  # IAM is global per partition: one role per partition the stack's AWS regions use


class FlowLogRole(pulumi.ComponentResource):
    """Role + inline policy limited to writing log streams in the stack's flow-log groups."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: FlowLogRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:network:FlowLogRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        role = aws.iam.Role(f"{name}-role",
                            assume_role_policy=account.apply(lambda a: assume_policy(a, args.partition)),
                            description="VPC flow logs delivery to CloudWatch Logs",
                            tags=aws_tags(args.tags, f"{name}-role"), opts=child)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": _WRITE_LOGS,
                           "Resource": arn(args.partition, "logs", "*", "*",
                                           f"log-group:/rollout/{pulumi.get_stack()}/flow-logs/*")}],
        }
        aws.iam.RolePolicy(f"{name}-write-logs", role=role.id, policy=json.dumps(policy), opts=child)
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})
