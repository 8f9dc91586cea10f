"""CIS EKS / CIS GKE / AWS FSBP controls beyond the basics in clusters.py: node credentials out of
pods' reach (IMDS hop limit 1, no public IPs, CMK-encrypted disks), add-ons with their own IAM
roles, NetworkPolicy enforcement, supported Kubernetes versions, GKE shielded nodes, Binary
Authorization, no client certificates, narrow authorized networks, dedicated node service accounts
and pinned GPU drivers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .core import (
    ADVISORY,
    CRITICAL,
    HIGH,
    MANDATORY,
    MEDIUM,
    Param,
    Resource,
    StackFinding,
    as_list,
    get,
    is_unknown,
    rule,
    stack_rule,
)
from .iam import principals, statements
from .netmath import network

EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS_ADDON = "aws:eks/addon:Addon"
EKS_ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"

# Kubernetes minors in (standard or extended) support on EKS and GKE as of 2026-11
# (https://endoflife.date/amazon-eks, https://endoflife.date/google-kubernetes-engine).
SUPPORTED_VERSIONS = Param("array", ["1.33", "1.34", "1.35", "1.36"], "Kubernetes minors a cluster may run")


def _minor(version: Any) -> str | None:
    if not isinstance(version, str) or is_unknown(version):
        return None
    parts = version.lstrip("v").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


@rule("kubernetes-version-supported", "EKS and GKE clusters and node pools run a supported Kubernetes minor.",
      enforcement=MANDATORY, severity=HIGH, types=(EKS_CLUSTER, EKS_NODE_GROUP, GKE_CLUSTER, GKE_NODE_POOL),
      params={"supportedVersions": SUPPORTED_VERSIONS})
def kubernetes_version_supported(r: Resource, config) -> Iterator[str]:
    key = "minMasterVersion" if r.type == GKE_CLUSTER else "version"
    minor = _minor(r.props.get(key))
    if minor is not None and minor not in config["supportedVersions"]:
        yield f"{key} {r.props.get(key)} is not a supported minor ({', '.join(config['supportedVersions'])})"


@rule("imds-hop-limit-1",
      "EC2 launch templates and instances answer IMDS only on the node itself (httpPutResponseHopLimit 1): "
      "pods cannot take the node role's credentials (EKS best practices, FSBP EC2.8).",
      enforcement=MANDATORY, severity=HIGH, types=(LAUNCH_TEMPLATE, EC2_INSTANCE))
def imds_hop_limit(r: Resource, config) -> Iterator[str]:
    options = r.props.get("metadataOptions")
    if is_unknown(options) or get(options or {}, "httpEndpoint") == "disabled":
        return
    hops = get(options or {}, "httpPutResponseHopLimit")
    if hops is None:
        yield "metadataOptions.httpPutResponseHopLimit not set (EKS-optimized AMIs then allow 2 hops)"
    elif not is_unknown(hops) and float(hops) > 1:
        yield f"metadataOptions.httpPutResponseHopLimit is {hops:g}: containers can reach IMDS"


@rule("ec2-no-public-ip", "Node launch templates and instances never get a public IP address (FSBP EC2.9).",
      enforcement=MANDATORY, severity=HIGH, types=(LAUNCH_TEMPLATE, EC2_INSTANCE))
def ec2_no_public_ip(r: Resource, config) -> Iterator[str]:
    if r.props.get("associatePublicIpAddress") is True:
        yield "associatePublicIpAddress is true"
    for nic in as_list(r.props.get("networkInterfaces")):
        if isinstance(nic, dict) and nic.get("associatePublicIpAddress") in (True, "true"):
            yield f"network interface {nic.get('deviceIndex', 0)} associates a public IP"


@rule("ebs-customer-managed-key",
      "Node disks are encrypted with a customer-managed KMS key (kmsKeyId), not only the AWS-managed default.",
      enforcement=ADVISORY, severity=MEDIUM, types=(LAUNCH_TEMPLATE,))
def ebs_cmk(r: Resource, config) -> Iterator[str]:
    for mapping in as_list(r.props.get("blockDeviceMappings")):
        ebs = mapping.get("ebs") if isinstance(mapping, dict) else None
        if isinstance(ebs, dict) and ebs.get("kmsKeyId") in (None, ""):
            yield f"block device {mapping.get('deviceName')} has no kmsKeyId"


@rule("eks-node-group-no-remote-access",
      "EKS node groups open no SSH remote access (nodes are reached through SSM or not at all).",
      enforcement=MANDATORY, severity=HIGH, types=(EKS_NODE_GROUP,))
def eks_no_remote_access(r: Resource, config) -> Iterator[str]:
    remote = r.props.get("remoteAccess")
    if isinstance(remote, dict) and remote.get("ec2SshKey"):
        yield "remoteAccess.ec2SshKey is set: SSH to nodes"


def _config_values(props: Any) -> dict[str, Any] | None:
    raw = props.get("configurationValues")
    if raw is None or is_unknown(raw):
        return None if is_unknown(raw) else {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


ADDONS_NEEDING_IAM = Param("array", ["vpc-cni", "aws-ebs-csi-driver", "aws-efs-csi-driver",
                                     "amazon-cloudwatch-observability", "adot", "aws-mountpoint-s3-csi-driver"],
                           "managed add-ons that call AWS APIs and so need their own role (IRSA / Pod Identity)")


@rule("eks-addon-own-iam-role",
      "EKS add-ons that call AWS APIs (vpc-cni, EBS CSI, ...) run with their own IRSA or Pod Identity role, so "
      "the node role needs no such permissions (EKS best practices).",
      enforcement=MANDATORY, severity=HIGH, types=(EKS_ADDON,), params={"addons": ADDONS_NEEDING_IAM})
def eks_addon_role(r: Resource, config) -> Iterator[str]:
    name = r.props.get("addonName")
    if name not in config["addons"]:
        return
    if r.props.get("serviceAccountRoleArn") in (None, "") and not r.props.get("podIdentityAssociations"):
        yield f"add-on {name} has no serviceAccountRoleArn or podIdentityAssociations: it borrows the node role"


@rule("eks-network-policy-enforced",
      "The vpc-cni add-on enforces Kubernetes NetworkPolicies (configurationValues enableNetworkPolicy 'true').",
      enforcement=MANDATORY, severity=HIGH, types=(EKS_ADDON,))
def eks_network_policy(r: Resource, config) -> Iterator[str]:
    if r.props.get("addonName") != "vpc-cni":
        return
    values = _config_values(r.props)
    if values is not None and str(values.get("enableNetworkPolicy", "false")).lower() != "true":
        yield "vpc-cni without enableNetworkPolicy 'true': NetworkPolicy objects are ignored"


@rule("eks-access-entries-explicit",
      "EKS authenticates with access entries only (authenticationMode API) and grants no implicit admin to "
      "whoever created the cluster (CIS EKS 4.1).",
      enforcement=MANDATORY, severity=HIGH, types=(EKS_CLUSTER,))
def eks_access_explicit(r: Resource, config) -> Iterator[str]:
    access = r.props.get("accessConfig")
    if is_unknown(access):
        return
    mode = get(access or {}, "authenticationMode", "CONFIG_MAP")
    if not is_unknown(mode) and mode != "API":
        yield f"accessConfig.authenticationMode is {mode!r}: the aws-auth ConfigMap can still grant access"
    if get(access or {}, "bootstrapClusterCreatorAdminPermissions", True) is True:
        yield "bootstrapClusterCreatorAdminPermissions is true: the creator keeps invisible cluster-admin"


@rule("eks-access-entry-no-system-masters",
      "EKS access entries never map a principal into system:masters (cluster-admin that RBAC cannot revoke).",
      enforcement=MANDATORY, severity=CRITICAL, types=(EKS_ACCESS_ENTRY,))
def eks_no_system_masters(r: Resource, config) -> Iterator[str]:
    if "system:masters" in as_list(r.props.get("kubernetesGroups")):
        yield "kubernetesGroups contains system:masters"


@rule("log-groups-encrypted-cmk",
      "CloudWatch log groups (flow logs, EKS control plane, VPN) are encrypted with a customer-managed KMS key.",
      enforcement=MANDATORY, severity=MEDIUM, types=(LOG_GROUP,))
def log_groups_cmk(r: Resource, config) -> Iterator[str]:
    if r.props.get("kmsKeyId") in (None, ""):
        yield "kmsKeyId is not set"


@rule("gke-shielded-nodes",
      "GKE clusters and node pools use shielded nodes with secure boot and integrity monitoring (CIS GKE 5.5).",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_CLUSTER, GKE_NODE_POOL))
def gke_shielded(r: Resource, config) -> Iterator[str]:
    if r.type == GKE_CLUSTER and r.props.get("enableShieldedNodes") is False:
        yield "enableShieldedNodes is false"
    node = r.props.get("nodeConfig")
    if r.type == GKE_CLUSTER and not node:
        return  # the default pool is removed; pools are checked one by one
    shielded = get(node or {}, "shieldedInstanceConfig")
    if is_unknown(shielded):
        return
    if get(shielded or {}, "enableSecureBoot", False) is not True:
        yield "nodeConfig.shieldedInstanceConfig.enableSecureBoot is not true"
    if get(shielded or {}, "enableIntegrityMonitoring", True) is False:
        yield "nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring is false"


@rule("gke-binary-authorization",
      "GKE clusters enforce the project's Binary Authorization policy (only attested images run, CIS GKE 5.10).",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_CLUSTER,))
def gke_binary_authorization(r: Resource, config) -> Iterator[str]:
    mode = get(r.props, "binaryAuthorization.evaluationMode")
    if is_unknown(mode):
        return
    if mode != "PROJECT_SINGLETON_POLICY_ENFORCE" and get(r.props, "binaryAuthorization.enabled") is not True:
        yield f"binaryAuthorization.evaluationMode is {mode!r}, not 'PROJECT_SINGLETON_POLICY_ENFORCE'"


@rule("gke-no-client-certificates",
      "GKE issues no client certificates and never uses basic auth (CIS GKE 5.8.1/5.8.2).",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_CLUSTER,))
def gke_no_client_certs(r: Resource, config) -> Iterator[str]:
    if get(r.props, "masterAuth.clientCertificateConfig.issueClientCertificate") is True:
        yield "masterAuth.clientCertificateConfig.issueClientCertificate is true"
    if get(r.props, "masterAuth.username") not in (None, ""):
        yield "masterAuth.username is set (basic auth)"


@rule("gke-network-policy-enforced",
      "GKE enforces NetworkPolicies: Dataplane V2 (ADVANCED_DATAPATH) or the networkPolicy add-on (CIS GKE 5.6.7).",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_CLUSTER,))
def gke_network_policy(r: Resource, config) -> Iterator[str]:
    datapath = r.props.get("datapathProvider")
    if is_unknown(datapath):
        return
    if datapath != "ADVANCED_DATAPATH" and get(r.props, "networkPolicy.enabled") is not True:
        yield "neither datapathProvider ADVANCED_DATAPATH nor networkPolicy.enabled: NetworkPolicies are ignored"


@rule("gke-hardened-control-plane",
      "GKE keeps alpha features off, logging and monitoring on, and a release channel for patches (CIS GKE 5.7, 5.5).",
      enforcement=MANDATORY, severity=MEDIUM, types=(GKE_CLUSTER,))
def gke_hardened_control_plane(r: Resource, config) -> Iterator[str]:
    if r.props.get("enableKubernetesAlpha") is True:
        yield "enableKubernetesAlpha is true"
    for key in ("loggingService", "monitoringService"):
        if r.props.get(key) == "none":
            yield f"{key} is 'none'"
    channel = get(r.props, "releaseChannel.channel")
    if channel in (None, "UNSPECIFIED"):
        yield "no releaseChannel: nodes and control plane fall behind on patches"


@rule("gke-authorized-networks-narrow",
      "GKE authorized networks list narrow ranges (no block wider than the configured prefix) and never all of "
      "Google Cloud's public addresses.",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_CLUSTER,),
      params={"minPrefixLength": Param("integer", 16, "widest authorized block allowed (/16: one region's range)")})
def gke_authorized_narrow(r: Resource, config) -> Iterator[str]:
    mac = r.props.get("masterAuthorizedNetworksConfig")
    if not isinstance(mac, dict):
        return
    if mac.get("gcpPublicCidrsAccessEnabled") is True:
        yield "gcpPublicCidrsAccessEnabled is true: any Google Cloud VM may reach the API"
    for block in as_list(mac.get("cidrBlocks")):
        net = network(block.get("cidrBlock")) if isinstance(block, dict) else None
        if net is not None and net.prefixlen < int(config["minPrefixLength"]):
            yield f"authorized network {net} is wider than /{config['minPrefixLength']}"


def _node_service_account(r: Resource) -> Any:
    return get(r.props, "nodeConfig.serviceAccount")


@rule("gke-dedicated-node-service-account",
      "GKE nodes run as a dedicated least-privilege service account, never the Compute Engine default (CIS GKE 5.2.1).",
      enforcement=MANDATORY, severity=HIGH, types=(GKE_CLUSTER, GKE_NODE_POOL))
def gke_node_sa(r: Resource, config) -> Iterator[str]:
    if r.type == GKE_CLUSTER and not r.props.get("nodeConfig"):
        return
    account = _node_service_account(r)
    if is_unknown(account):
        return
    if account in (None, "", "default"):
        yield "nodeConfig.serviceAccount is not set: nodes run as the Compute Engine default service account"
    elif isinstance(account, str) and account.endswith("-compute@developer.gserviceaccount.com"):
        yield f"nodeConfig.serviceAccount {account} is the Compute Engine default service account"


@rule("gke-node-legacy-metadata-off",
      "GKE nodes keep legacy metadata endpoints disabled and run Container-Optimized OS (CIS GKE 5.4.1, 5.5.1).",
      enforcement=MANDATORY, severity=MEDIUM, types=(GKE_NODE_POOL,))
def gke_legacy_metadata(r: Resource, config) -> Iterator[str]:
    if str(get(r.props, "nodeConfig.metadata.disable-legacy-endpoints", "true")).lower() == "false":
        yield "nodeConfig.metadata disable-legacy-endpoints is 'false'"
    image = get(r.props, "nodeConfig.imageType")
    if isinstance(image, str) and not is_unknown(image) and not image.upper().startswith("COS"):
        yield f"nodeConfig.imageType {image} is not Container-Optimized OS"


@rule("gke-gpu-driver-pinned",
      "GKE GPU pools pin the NVIDIA driver branch (DEFAULT or a version), never LATEST: a node repair must not "
      "silently bring a new driver under the serving stack.",
      enforcement=MANDATORY, severity=MEDIUM, types=(GKE_NODE_POOL,))
def gke_gpu_driver_pinned(r: Resource, config) -> Iterator[str]:
    for accel in as_list(get(r.props, "nodeConfig.guestAccelerators")):
        if not isinstance(accel, dict):
            continue
        version = get(accel, "gpuDriverInstallationConfig.gpuDriverVersion")
        if version == "LATEST":
            yield "gpuDriverInstallationConfig.gpuDriverVersion is LATEST"


CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE = "aws:iam/role:Role"


@stack_rule("eks-node-role-no-cni-policy",
            "EKS node roles (trusted by ec2.amazonaws.com) do not carry AmazonEKS_CNI_Policy: the vpc-cni add-on has "
            "its own IRSA role, so a pod that reaches the node's credentials cannot rewire pod networking.",
            enforcement=MANDATORY, severity=HIGH, reads=(ROLE_POLICY_ATTACHMENT, ROLE))
def eks_node_role_no_cni(resources: list[Resource], config) -> Iterator[StackFinding]:
    for attachment in (r for r in resources if r.type == ROLE_POLICY_ATTACHMENT):
        arn = attachment.props.get("policyArn")
        # The same managed policy in every partition (arn:aws-cn:iam::aws:policy/... in China).
        if not isinstance(arn, str) or re.sub(r"^arn:aws[a-z-]*:", "arn:aws:", arn) != CNI_POLICY:
            continue
        for role in (d for d in attachment.depends_on("role") if d.type == ROLE):
            trusted = [p for s in statements(role.props.get("assumeRolePolicy")) for p in principals(s, "Service")]
            if "ec2.amazonaws.com" in trusted:
                yield f"node role {role.name} carries AmazonEKS_CNI_Policy", attachment.urn


SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE_TYPES = ("aws:ec2/securityGroupRule:SecurityGroupRule",
                 "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                 "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")


@stack_rule("security-groups-attached",
            "Every security group is used by something (a launch template, cluster, load balancer, endpoint): a group "
            "attached to nothing protects nothing and hides that the traffic it describes is not filtered.",
            enforcement=ADVISORY, severity=MEDIUM, reads=(SECURITY_GROUP,))
def security_groups_attached(resources: list[Resource], config) -> Iterator[StackFinding]:
    groups = [r for r in resources if r.type == SECURITY_GROUP]
    users = [r for r in resources if r.type not in (SECURITY_GROUP, *SG_RULE_TYPES)]
    for group in groups:
        if not any(group in r.dependencies for r in users):
            yield f"security group {group.name} is attached to nothing", group.urn


RULES = [eks_node_role_no_cni, security_groups_attached, kubernetes_version_supported, imds_hop_limit,
         ec2_no_public_ip, ebs_cmk, eks_no_remote_access, eks_addon_role, eks_network_policy, eks_access_explicit,
         eks_no_system_masters, log_groups_cmk, gke_shielded, gke_binary_authorization, gke_no_client_certs,
         gke_network_policy, gke_hardened_control_plane, gke_authorized_narrow, gke_node_sa, gke_legacy_metadata,
         gke_gpu_driver_pinned]


# AL2 AMIs are not built for Kubernetes 1.33+ and reached end of support on 2025-11-26
# (https://docs.aws.amazon.com/eks/latest/userguide/eks-ami-deprecation-faqs.html).
SUPPORTED_AMI_PREFIXES = ("AL2023_", "BOTTLEROCKET_", "CUSTOM", "WINDOWS_")


@rule("eks-node-group-hardened",
      "EKS node groups use a supported AMI family (AL2023 / Bottlerocket) and a launch template, so IMDS, disk "
      "encryption and public-IP settings are the program's and not the defaults.",
      enforcement=MANDATORY, severity=HIGH, types=(EKS_NODE_GROUP,))
def eks_node_group_hardened(r: Resource, config) -> Iterator[str]:
    ami = r.props.get("amiType")
    if isinstance(ami, str) and not is_unknown(ami) and not ami.startswith(SUPPORTED_AMI_PREFIXES):
        yield f"amiType {ami} is out of support (AL2); use AL2023 or Bottlerocket"
    if not r.props.get("launchTemplate") and not is_unknown(r.props.get("launchTemplate")):
        yield "no launchTemplate: nodes get EKS's default metadata options (hop limit 2) and disks"


@rule("gke-cluster-vpc-native-kubelet-locked",
      "GKE clusters are VPC-native and node pools keep the kubelet's insecure read-only port (10255) closed "
      "(CIS GKE 5.6.2, GKE hardening guide).",
      enforcement=MANDATORY, severity=MEDIUM, types=(GKE_CLUSTER, GKE_NODE_POOL))
def gke_vpc_native_kubelet(r: Resource, config) -> Iterator[str]:
    if r.type == GKE_CLUSTER and r.props.get("networkingMode") == "ROUTES":
        yield "networkingMode is ROUTES: pods are not VPC-native (no alias IPs, no Dataplane V2)"
    port = get(r.props, "nodeConfig.kubeletConfig.insecureKubeletReadonlyPortEnabled")
    if isinstance(port, str) and port.upper() == "TRUE":
        yield "nodeConfig.kubeletConfig.insecureKubeletReadonlyPortEnabled is TRUE"


RULES += [eks_node_group_hardened, gke_vpc_native_kubelet]
