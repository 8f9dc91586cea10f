"""Pinned versions for the Kubernetes clusters: one table to bump, read by the plan and the components.

Pure (no pulumi import). To move to a new Kubernetes minor, add a row to `SUPPORTED` with the EKS
add-on versions valid for it (`aws eks describe-addon-versions --kubernetes-version X.Y
--addon-name NAME --query 'addons[].addonVersions[0].addonVersion'`), check that GKE offers the
minor in the chosen release channel (`gcloud container get-server-config --region R`), then change
`DEFAULT_KUBERNETES_VERSION`. See docs/clusters.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


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


@dataclass(frozen=True)
class SupportWindow:
    """End of standard support of one Kubernetes minor on each cloud, with where the dates come from.

    EKS: 14 months of standard support, then 12 months of extended support at extra cost per cluster
    hour (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html). GKE: the release
    schedule (https://cloud.google.com/kubernetes-engine/docs/release-schedule) lists an end of standard
    support per minor; we take its earlier "end of active support" date so the warning comes first.
    """

    eks_end_of_standard_support: date
    gke_end_of_standard_support: date
    sources: tuple[str, ...]

    @property
    def end(self) -> date:
        """The first of the two ends: after it, one cloud no longer gives this minor standard support."""
        return min(self.eks_end_of_standard_support, self.gke_end_of_standard_support)

    def days_left(self, today: date) -> int:
        return (self.end - today).days


# Kubernetes 1.36, chosen on 2026-11-27 as the newest minor in standard support on both clouds:
# EKS released it 2026-06-02, standard support until 2027-08-02; GKE released it 2026-06-09, end of
# active support 2027-06-30 (maintenance until 2027-08-09). 1.33 (EKS end 2026-07-29) and 1.34 (EKS end
# 2026-12-02, GKE 2026-10-01) are out or about to be; 1.35 ends on GKE 2027-02-28, within 93 days.
# Add-on versions: no AWS version table for 1.36 was reachable when this was pinned; these are the
# builds seen on running 1.36 clusters in public configurations. Confirm each with
# `aws eks describe-addon-versions --kubernetes-version 1.36 --addon-name NAME` before the first deploy
# (an unknown build fails the Addon create with "Addon version specified is not supported").
SUPPORTED: dict[str, EksAddonVersions] = {
    "1.36": EksAddonVersions(
        vpc_cni="v1.22.3-eksbuild.1",
        coredns="v1.14.3-eksbuild.3",
        kube_proxy="v1.36.0-eksbuild.13",
        ebs_csi_driver="v1.63.1-eksbuild.1",
    ),
}
SUPPORT_WINDOWS: dict[str, SupportWindow] = {
    "1.36": SupportWindow(
        eks_end_of_standard_support=date(2027, 8, 2),
        gke_end_of_standard_support=date(2027, 6, 30),
        sources=("https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html",
                 "https://endoflife.date/amazon-eks",
                 "https://cloud.google.com/kubernetes-engine/docs/release-schedule",
                 "https://endoflife.date/google-kubernetes-engine"),
    ),
}
DEFAULT_KUBERNETES_VERSION = "1.36"
# The advisory policy `kubernetes-version-support` warns this many days before `SupportWindow.end`.
SUPPORT_WARNING_DAYS = 90

# NVIDIA device plugin Helm chart: v0.19.0 is the newest release as of 2026-04
# (https://github.com/NVIDIA/k8s-device-plugin/blob/main/CHANGELOG.md); chart versions carry no "v"
# prefix (https://github.com/aws/aws-eks-best-practices/issues/720). Only installed on EKS: GKE's
# managed driver install deploys its own device plugin.
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"
DEVICE_PLUGIN_VERSION = "0.19.0"

# NVIDIA DCGM exporter 4.5.3-4.8.2 (DCGM 4.5.3, exporter 4.8.2), the newest tag on 2026-05-06
# (https://github.com/NVIDIA/dcgm-exporter/releases/tag/4.5.3-4.8.2; its static manifest dcgm-exporter.yaml
# and docker/Dockerfile read at that tag). EKS only: on GKE a container sees the GPUs only when it requests them.
DCGM_EXPORTER_VERSION = "4.5.3-4.8.2"

# GKE release channel: REGULAR gets patches ~weeks after RAPID; STABLE trails further.
# https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels
GKE_RELEASE_CHANNEL = "REGULAR"
