"""How this run is deployed, read once from the engine's config: the GCP project every GCP resource
lands in, and the AWS identity the provider (and so the EKS kubeconfig) uses.

One source for each:
- GCP project: `gcp:project` only. The provider would otherwise fall back to `GOOGLE_PROJECT`,
  `GOOGLE_CLOUD_PROJECT`, ... while explicit `project=` arguments read config, and resources could land
  in two projects. On the real path a missing `gcp:project` is a configuration error; only under the
  offline mocks does a placeholder stand in (`FALLBACK_PROJECT`).
- AWS identity: `aws:profile` and the first role of `aws:assumeRoles` (`aws:assumeRole` in older
  provider versions), exactly what the provider authenticates with. The kubeconfig's `aws eks get-token`
  gets the same `--profile`/`--role-arn`, so the Kubernetes provider is the same principal as the one
  that created the cluster's access entries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor

from infra.errors import ConfigError

FALLBACK_PROJECT = "rollout-mock-project"  # offline runs without gcp:project only
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html (role ARNs; paths allowed)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


def offline() -> bool:
    """True under the Pulumi mocks (tests, `python -m infra.preview`), False under the real engine."""
    return isinstance(getattr(settings.SETTINGS, "monitor", None), MockMonitor)


def gcp_project() -> str:
    """The one GCP project of the stack. Raises ConfigError on the real path when `gcp:project` is unset."""
    project = pulumi.Config("gcp").get("project")
    if project:
        return project
    if offline():
        return FALLBACK_PROJECT
    raise ConfigError(["gcp:project: not set; set it with `pulumi config set gcp:project PROJECT_ID` (the "
                       "program does not read GOOGLE_PROJECT or gcloud defaults, so every resource lands in "
                       "the one project named here)"], title="invalid pulumi config")


@dataclass(frozen=True)
class AwsIdentity:
    """What the AWS provider authenticates as: a named profile and/or a role it assumes."""

    profile: str | None = None
    role_arn: str | None = None


def aws_identity(partition: str = "aws") -> AwsIdentity:
    """The AWS provider's identity from `aws:profile` and `aws:assumeRoles` / `aws:assumeRole`; for another
    partition (aws-cn), from `global-ai-rollout:partitions.<partition>` (its own profile and role)."""
    if partition != "aws":
        section = (pulumi.Config("global-ai-rollout").get_object("partitions") or {}).get(partition) or {}
        return AwsIdentity(profile=section.get("profile") or None, role_arn=section.get("roleArn") or None)
    config = pulumi.Config("aws")
    role_arn = None
    for key in ("assumeRoles", "assumeRole"):
        raw = config.get(key)
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError([f"aws:{key}: not valid JSON"], title="invalid pulumi config") from None
        first = value[0] if isinstance(value, list) and value else value
        role_arn = first.get("roleArn") if isinstance(first, dict) else None
        if role_arn is not None and not ROLE_ARN.match(role_arn):
            raise ConfigError([f"aws:{key}[0].roleArn: {role_arn!r} is not an IAM role ARN "
                               "(arn:aws:iam::<12 digits>:role/<name>)"], title="invalid pulumi config")
        break
    return AwsIdentity(profile=config.get("profile") or None, role_arn=role_arn)
