"""Managed Kubernetes (EKS, GKE): private or allow-listed API endpoints, secrets encrypted with
customer-managed keys, audit logs, IMDSv2 / GKE metadata server on nodes, tainted GPU pools."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from .core import ADVISORY, CRITICAL, HIGH, LOW, MANDATORY, MEDIUM, Param, Resource, as_list, get, is_unknown, rule
from .gpu import eks_node_group_is_gpu, gke_node_pool_is_gpu

EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS_ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
EKS_ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
EKS_ADDON = "aws:eks/addon:Addon"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
KMS_KEY = "aws:kms/key:Key"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
OPEN_CIDRS = ("0.0.0.0/0", "::/0")
GPU_TAINT_KEY = "nvidia.com/gpu"


@rule("eks-api-endpoint-restricted",
      "EKS API endpoints are private, or public only to an explicit allow-list (never 0.0.0.0/0).",
      enforcement=MANDATORY, severity=CRITICAL, types=(EKS_CLUSTER,))
def eks_api_restricted(r: Resource, config) -> Iterator[str]:
    vpc = r.props.get("vpcConfig") or {}
    if is_unknown(vpc):
        return
    public = vpc.get("endpointPublicAccess", True)  # AWS default: public
    if get(vpc, "endpointPrivateAccess", False) is False:
        yield "vpcConfig.endpointPrivateAccess is not true: nodes reach the API over the internet"
    if public is True:
        cidrs = vpc.get("publicAccessCidrs")
        if cidrs is None:
            yield "the public endpoint is open to 0.0.0.0/0 (publicAccessCidrs unset); disable it or allow-list"
        elif not is_unknown(cidrs) and any(c in OPEN_CIDRS for c in cidrs):
            yield "vpcConfig.publicAccessCidrs contains 0.0.0.0/0"


@rule("eks-secrets-encrypted-cmk", "EKS encrypts Kubernetes secrets with a customer-managed KMS key.",
      enforcement=MANDATORY, severity=HIGH, types=(EKS_CLUSTER,))
def eks_secrets_encrypted(r: Resource, config) -> Iterator[str]:
    encryption = r.props.get("encryptionConfig")
    if is_unknown(encryption):
        return
    if not encryption:
        yield "encryptionConfig is not set"
        return
    if "secrets" not in as_list(encryption.get("resources")) and not is_unknown(encryption.get("resources")):
        yield "encryptionConfig.resources does not include 'secrets'"
    if get(encryption, "provider.keyArn") in (None, ""):
        yield "encryptionConfig.provider.keyArn is not set"


@rule("eks-audit-logging", "EKS control planes send audit and authenticator logs to CloudWatch.",
      enforcement=MANDATORY, severity=MEDIUM, types=(EKS_CLUSTER,))
def eks_audit_logging(r: Resource, config) -> Iterator[str]:
    types = r.props.get("enabledClusterLogTypes")
    if is_unknown(types):
        return
    missing = [t for t in ("audit", "authenticator") if t not in as_list(types)]
    if missing:
        yield f"enabledClusterLogTypes lacks {', '.join(missing)}"


@rule("eks-access-no-root-or-wildcard",
      "EKS access entries and policy associations name specific IAM principals, never an account root or '*'.",
      enforcement=MANDATORY, severity=HIGH, types=(EKS_ACCESS_ENTRY, EKS_ACCESS_POLICY))
def eks_access_principals(r: Resource, config) -> Iterator[str]:
    principal = r.props.get("principalArn")
    if isinstance(principal, str) and not is_unknown(principal) and (principal.endswith(":root") or "*" in principal):
        yield f"principalArn {principal} grants cluster access to a whole account or a wildcard"


@rule("eks-addon-version-pinned", "EKS add-ons pin addonVersion, so an upgrade is a reviewed change.",
      enforcement=ADVISORY, severity=LOW, types=(EKS_ADDON,))
def eks_addon_pinned(r: Resource, config) -> Iterator[str]:
    if r.props.get("addonVersion") in (None, ""):
        yield f"addon {r.props.get('addonName')} has no addonVersion"


@rule("imdsv2-required", "EC2 launch templates and instances require IMDSv2 (metadataOptions.httpTokens 'required').",
      enforcement=MANDATORY, severity=HIGH, types=(LAUNCH_TEMPLATE, EC2_INSTANCE))
def imdsv2_required(r: Resource, config) -> Iterator[str]:
    tokens = get(r.props, "metadataOptions.httpTokens")
    if is_unknown(tokens):
        return
    if tokens != "required":
        yield f"metadataOptions.httpTokens is {tokens!r}, not 'required'"


def _has_gpu_taint(taints: Any) -> bool | None:
    if is_unknown(taints):
        return None
    for t in as_list(taints):
        if is_unknown(t):
            return None
        if t.get("key") == GPU_TAINT_KEY and t.get("effect") == "NO_SCHEDULE":
            return True
    return False


@rule("gpu-pools-tainted",
      "GPU node pools carry the nvidia.com/gpu NoSchedule taint, so only GPU workloads land on them.",
      enforcement=MANDATORY, severity=MEDIUM, types=(EKS_NODE_GROUP, GKE_NODE_POOL))
def gpu_pools_tainted(r: Resource, config) -> Iterator[str]:
    if r.type == EKS_NODE_GROUP:
        gpu, taints, where = eks_node_group_is_gpu(r.props), r.props.get("taints"), "taints"
    else:
        gpu, taints, where = gke_node_pool_is_gpu(r.props), get(r.props, "nodeConfig.taints"), "nodeConfig.taints"
    if gpu and _has_gpu_taint(taints) is False:
        yield f"GPU pool without {{key: {GPU_TAINT_KEY}, effect: NO_SCHEDULE}} in {where}"


@rule("kms-key-rotation", "Customer-managed KMS keys (EKS secrets, volumes) rotate automatically.",
      enforcement=MANDATORY, severity=MEDIUM, types=(KMS_KEY, "gcp:kms/cryptoKey:CryptoKey"))
def kms_key_rotation(r: Resource, config) -> Iterator[str]:
    if r.type == KMS_KEY:
        if r.props.get("enableKeyRotation") is not True and not is_unknown(r.props.get("enableKeyRotation")):
            yield "enableKeyRotation is not true"
    elif r.props.get("rotationPeriod") in (None, ""):
        yield "rotationPeriod is not set"


@rule("gke-api-endpoint-restricted",
      "GKE control planes are private: private nodes, and a private endpoint or authorized networks (no 0.0.0.0/0).",
      enforcement=MANDATORY, severity=CRITICAL, types=(GKE_CLUSTER,))
def gke_api_restricted(r: Resource, config) -> Iterator[str]:
    private = r.props.get("privateClusterConfig")
    if is_unknown(private):
        return
    if not private or get(private, "enablePrivateNodes") is not True:
        yield "privateClusterConfig.enablePrivateNodes is not true: nodes get public IPs"
    if private and get(private, "enablePrivateEndpoint") is True:
        return
    networks = get(r.props, "masterAuthorizedNetworksConfig.cidrBlocks")
    if is_unknown(networks):
        return
    cidrs = [b.get("cidrBlock") for b in as_list(networks) if isinstance(b, dict)]
    if not cidrs:
        yield "public endpoint without masterAuthorizedNetworksConfig.cidrBlocks"
    elif any(c in OPEN_CIDRS for c in cidrs):
        yield "masterAuthorizedNetworksConfig allows 0.0.0.0/0"


@rule("gke-secrets-encrypted-cmk",
      "GKE encrypts Kubernetes secrets at the application layer with a Cloud KMS key (databaseEncryption ENCRYPTED).",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_CLUSTER,))
def gke_secrets_encrypted(r: Resource, config) -> Iterator[str]:
    state = get(r.props, "databaseEncryption.state")
    if is_unknown(state):
        return
    if state != "ENCRYPTED":
        yield f"databaseEncryption.state is {state!r}, not 'ENCRYPTED'"
    elif get(r.props, "databaseEncryption.keyName") in (None, ""):
        yield "databaseEncryption.keyName is not set"


@rule("gke-no-legacy-abac", "GKE clusters keep legacy ABAC off (RBAC only) and use Workload Identity.",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_CLUSTER,))
def gke_no_legacy_abac(r: Resource, config) -> Iterator[str]:
    if r.props.get("enableLegacyAbac") is True:
        yield "enableLegacyAbac is true"
    if get(r.props, "workloadIdentityConfig.workloadPool") in (None, ""):
        yield "workloadIdentityConfig.workloadPool is not set"


@rule("gke-node-metadata-protected",
      "GKE node pools expose only the GKE metadata server to pods (the GCP counterpart of IMDSv2).",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_NODE_POOL,))
def gke_node_metadata(r: Resource, config) -> Iterator[str]:
    mode = get(r.props, "nodeConfig.workloadMetadataConfig.mode")
    if not is_unknown(mode) and mode != "GKE_METADATA":
        yield f"nodeConfig.workloadMetadataConfig.mode is {mode!r}, not 'GKE_METADATA'"


@rule("gke-node-auto-repair", "GKE node pools auto-repair and auto-upgrade (no hand-patched nodes).",
      enforcement=ADVISORY, severity=LOW, types=(GKE_NODE_POOL,))
def gke_node_auto_repair(r: Resource, config) -> Iterator[str]:
    for key in ("autoRepair", "autoUpgrade"):
        value = get(r.props, f"management.{key}", True)  # GKE default: on
        if value is False:
            yield f"management.{key} is false"


# End of standard support per Kubernetes minor: the earlier of the EKS and GKE dates. The pack runs on
# its own (no import of the program), so this copies infra/planning/cluster_versions.py SUPPORT_WINDOWS;
# tests/test_cluster_versions.py keeps the two equal. Sources:
# https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html,
# https://cloud.google.com/kubernetes-engine/docs/release-schedule (via https://endoflife.date/amazon-eks
# and https://endoflife.date/google-kubernetes-engine, read 2026-11-27).
END_OF_STANDARD_SUPPORT = {"1.36": date(2027, 6, 30)}


def _minor(version: Any) -> str | None:
    """"1.36" or "1.36.2-gke.100" -> "1.36"; None when not a version string."""
    if not isinstance(version, str) or is_unknown(version):
        return None
    parts = version.removeprefix("v").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and parts[0].isdigit() else None


@rule("kubernetes-version-support",
      "EKS and GKE clusters run a Kubernetes minor with more than `warnDays` days of standard support left "
      "on both clouds (after it, EKS bills extended support and GKE force-upgrades).",
      enforcement=ADVISORY, severity=MEDIUM, types=(EKS_CLUSTER, GKE_CLUSTER),
      params={"warnDays": Param("integer", 90, "warn this many days before the end of standard support"),
              "asOf": Param("string", "", "ISO date to judge at (empty: today)")})
def kubernetes_version_support(r: Resource, config) -> Iterator[str]:
    key = "version" if r.type == EKS_CLUSTER else "minVersion" if "minVersion" in r.props else "minMasterVersion"
    minor = _minor(r.props.get(key))
    if minor is None:
        return
    today = date.fromisoformat(config["asOf"]) if config.get("asOf") else date.today()
    end = END_OF_STANDARD_SUPPORT.get(minor)
    if end is None:
        yield (f"{key} {minor}: no end of standard support date known to this pack; pin a minor listed in "
               f"infra/planning/cluster_versions.py ({', '.join(sorted(END_OF_STANDARD_SUPPORT))})")
        return
    left = (end - today).days
    if left <= int(config["warnDays"]):
        yield (f"{key} {minor}: standard support ends {end.isoformat()} ({left} days from {today.isoformat()}); "
               "move to a newer minor (infra/planning/cluster_versions.py)")


RULES = [eks_api_restricted, eks_secrets_encrypted, eks_audit_logging, eks_access_principals, eks_addon_pinned,
         imdsv2_required, gpu_pools_tainted, kms_key_rotation, gke_api_restricted, gke_secrets_encrypted,
         gke_no_legacy_abac, gke_node_metadata, gke_node_auto_repair, kubernetes_version_support]
