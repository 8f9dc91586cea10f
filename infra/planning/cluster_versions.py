"""Pinned versions for the Kubernetes clusters: one table to bump, read by the plan and the components.

Pure (no pulumi import). To move to a new Kubernetes minor, add a row to `SUPPORTED` with the EKS
add-on versions valid for it (`aws eks describe-addon-versions --kubernetes-version X.Y
--addon-name NAME --query 'addons[].addonVersions[0].addonVersion'`), check that GKE offers the
minor in the chosen release channel (`gcloud container get-server-config --region R`), then change
`DEFAULT_KUBERNETES_VERSION`. See docs/clusters.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EksAddonVersions:
    """Managed EKS add-on versions valid for one Kubernetes minor."""

    vpc_cni: str
    coredns: str
    kube_proxy: str
    ebs_csi_driver: str

    def by_name(self) -> dict[str, str]:
        return {"vpc-cni": self.vpc_cni, "coredns": self.coredns, "kube-proxy": self.kube_proxy,
                "aws-ebs-csi-driver": self.ebs_csi_driver}


# Kubernetes 1.33: EKS standard support 2025-05-28 .. 2026-07-29 (https://endoflife.date/amazon-eks,
# https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html); GKE offers 1.33 in the
# REGULAR and STABLE channels (https://cloud.google.com/kubernetes-engine/docs/release-schedule).
# Add-on versions: the per-version tables of the EKS user guide (managing-vpc-cni.html,
# managing-coredns.html, managing-kube-proxy.html, ebs-csi.html) as listed by
# `aws eks describe-addon-versions --kubernetes-version 1.33`; re-check before deploying.
SUPPORTED: dict[str, EksAddonVersions] = {
    "1.33": EksAddonVersions(
        vpc_cni="v1.19.5-eksbuild.1",
        coredns="v1.12.1-eksbuild.2",
        kube_proxy="v1.33.0-eksbuild.2",
        ebs_csi_driver="v1.48.0-eksbuild.1",
    ),
}
DEFAULT_KUBERNETES_VERSION = "1.33"

# NVIDIA device plugin Helm chart: v0.19.0 is the newest release as of 2026-04
# (https://github.com/NVIDIA/k8s-device-plugin/blob/main/CHANGELOG.md); chart versions carry no "v"
# prefix (https://github.com/aws/aws-eks-best-practices/issues/720). Only installed on EKS: GKE's
# managed driver install deploys its own device plugin.
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"
DEVICE_PLUGIN_VERSION = "0.19.0"

# GKE release channel: REGULAR gets patches ~weeks after RAPID; STABLE trails further.
# https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels
GKE_RELEASE_CHANNEL = "REGULAR"
