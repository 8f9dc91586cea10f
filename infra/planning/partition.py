"""AWS partitions: what differs between the global partition (`aws`) and mainland China (`aws-cn`) for
the resources this program declares. Pure (no pulumi import): components build every ARN, service
principal and endpoint through these helpers, never from a literal `arn:aws:`.

Facts (docs/partitions.md has the full list with sources):
- ARNs carry the partition: `arn:aws-cn:<service>:<region>:<account>:<resource>` in Beijing and Ningxia
  (https://docs.amazonaws.cn/en_us/aws/latest/userguide/ARNs.html); AWS managed policies keep the
  account `aws` (`arn:aws-cn:iam::aws:policy/...`).
- Endpoints end in `amazonaws.com.cn` in both China regions
  (https://docs.amazonaws.cn/en_us/general/latest/gr/endpoints-Ningxia.html).
- Service principals: in aws-cn most services keep `<service>.amazonaws.com`; `logs`, `codedeploy` and
  `elasticmapreduce` use `amazonaws.com.cn` (terraform-provider-aws
  internal/service/meta/service_principal_data_source.go, taken from aws-cdk region-info default.ts).
- The STS audience of IRSA OIDC providers is `sts.<dns suffix>` (eksctl 0.15.0 "Set correct audience for
  China", https://github.com/weaveworks/eksctl/releases/tag/0.15.0; terraform-aws-modules/eks uses
  `sts.${dns_suffix}`).
- Accounts and credentials of one partition do not work in the other
  (https://docs.amazonaws.cn/en_us/aws/latest/userguide/general-info.html): a stack with regions in both
  needs a provider (credentials, role) per partition.
"""

from __future__ import annotations

from dataclasses import dataclass

AWS = "aws"
AWS_CN = "aws-cn"


@dataclass(frozen=True)
class AwsPartition:
    name: str
    dns_suffix: str
    # services whose principal uses the partition's DNS suffix instead of amazonaws.com
    suffixed_principals: frozenset[str]
    # ELB access-log delivery accounts of the partition's regions (the bucket policy names them):
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html and
    # https://docs.amazonaws.cn/en_us/elasticloadbalancing/latest/application/enable-access-logging.html
    elb_log_accounts: tuple[tuple[str, str], ...] = ()


PARTITIONS: dict[str, AwsPartition] = {
    AWS: AwsPartition(AWS, "amazonaws.com", frozenset()),
    AWS_CN: AwsPartition(AWS_CN, "amazonaws.com.cn", frozenset({"logs", "codedeploy", "elasticmapreduce"}),
                         elb_log_accounts=(("cn-north-1", "638102146993"), ("cn-northwest-1", "037604701340"))),
}


def partition_named(name: str) -> AwsPartition:
    try:
        return PARTITIONS[name]
    except KeyError:
        raise ValueError(f"unknown AWS partition {name!r}; known: {', '.join(PARTITIONS)}") from None


def partition_of_region(location: str) -> str:
    """The partition of an AWS region name, by AWS's region pattern (`^cn-\\w+-\\d+$` is aws-cn).
    Prefer the catalog's `CloudRegion.partition`; this is for names outside the catalog (ARNs, config)."""
    return AWS_CN if location.startswith("cn-") else AWS


def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>`; region/account may be '' or '*'."""
    return f"arn:{partition_named(partition).name}:{service}:{region}:{account}:{resource}"


def managed_policy_arn(partition: str, path_and_name: str) -> str:
    """An AWS managed policy: `arn:<partition>:iam::aws:policy/<path/name>`."""
    return arn(partition, "iam", "", "aws", f"policy/{path_and_name}")


def account_root(partition: str, account: str) -> str:
    return arn(partition, "iam", "", account, "root")


def service_principal(partition: str, service: str, region: str | None = None) -> str:
    """`<service>.amazonaws.com` (or `.amazonaws.com.cn` where the partition says so); with `region`,
    the regional form `<service>.<region>.<suffix>` (CloudWatch Logs' key policies use it)."""
    p = partition_named(partition)
    suffix = p.dns_suffix if service in p.suffixed_principals else "amazonaws.com"
    return f"{service}.{region}.{suffix}" if region else f"{service}.{suffix}"


def sts_audience(partition: str) -> str:
    """The audience IRSA tokens carry and OIDC providers must list: `sts.<dns suffix>`."""
    return f"sts.{partition_named(partition).dns_suffix}"


def endpoint(partition: str, service: str, region: str) -> str:
    """A regional service endpoint host: `<service>.<region>.<dns suffix>`."""
    return f"{service}.{region}.{partition_named(partition).dns_suffix}"


def oidc_issuer_host(partition: str, region: str) -> str:
    """EKS OIDC issuers: `oidc.eks.<region>.<dns suffix>`."""
    return endpoint(partition, "oidc.eks", region)


def elb_log_account(partition: str, region: str) -> str | None:
    return dict(partition_named(partition).elb_log_accounts).get(region)


@dataclass(frozen=True)
class PartitionAccess:
    """How the program reaches a partition other than the global one (config `partitions.<name>`)."""

    partition: str
    region: str  # the provider's default region
    allowed_account_ids: tuple[str, ...]
    profile: str | None = None
    role_arn: str | None = None
