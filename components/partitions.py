"""One explicit AWS provider per partition besides the global one (docs/partitions.md).

The default provider (`aws:*` stack config) serves the global partition; it cannot touch a China region:
accounts and credentials of one partition do not work in the other
(https://docs.amazonaws.cn/en_us/aws/latest/userguide/general-info.html). So a stack with regions in
`aws-cn` gets a provider built from `partitions.aws-cn` (its default region, allowed accounts, profile
and/or role), and every `aws:*` resource declared for a region of that partition uses it:
- a region's whole subtree, by the `providers` map its component is given (children inherit it);
- stack-wide components (links, certificates, alarms) that declare resources in several regions, by the
  `assign` transformation: a resource whose `region` input is in the partition gets its provider.
IAM resources have no region; stack-wide IAM (the flow-log role) is declared once per partition below
its provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.planning.partition import AWS, PartitionAccess, partition_of_region


@dataclass(frozen=True)
class AwsPartitionsArgs:
    partitions: Mapping[str, PartitionAccess]  # RolloutPlan.partitions: the non-global ones the stack uses


class AwsPartitions(pulumi.ComponentResource):
    """The providers of the non-global AWS partitions, and the options that route resources to them."""

    providers: dict[str, aws.Provider]

    def __init__(self, name: str, args: AwsPartitionsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:aws:AwsPartitions", name, None, opts)
        self.providers = {}
        for partition, access in sorted(args.partitions.items()):
            assume = [aws.ProviderAssumeRoleArgs(role_arn=access.role_arn)] if access.role_arn else None
            self.providers[partition] = aws.Provider(
                f"{name}-{partition}", region=access.region, profile=access.profile, assume_roles=assume,
                allowed_account_ids=list(access.allowed_account_ids),
                opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"partitions": sorted(self.providers)})

    def provider_for(self, partition: str) -> aws.Provider | None:
        """None for the global partition (the default provider)."""
        if partition == AWS:
            return None
        try:
            return self.providers[partition]
        except KeyError:
            raise ValueError(f"no provider for AWS partition {partition!r}: add partitions.{partition}") from None

    def region_options(self, partition: str, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """`opts` plus, outside the global partition, that partition's provider for every AWS child."""
        provider = self.provider_for(partition)
        if provider is None:
            return opts
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers={"aws": provider}))

    def assign(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        """Resource transformation: an `aws:*` resource whose `region` input is in a non-global partition
        gets that partition's provider."""
        if not args.type_.startswith("aws:") or not self.providers:
            return None
        region = args.props.get("region") if isinstance(args.props, dict) else None
        if not isinstance(region, str):
            return None
        provider = self.provider_for(partition_of_region(region))
        if provider is None:
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(provider=provider))
        return pulumi.ResourceTransformationResult(args.props, opts)
