"""Pinned versions of what the serving stack installs next to the model servers (one table to bump).

Pure data. Re-check before deploying; each pin carries where it was read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    name: str
    repo: str
    version: str
    namespace: str


# KEDA chart v2.21.1 (app v2.21.1), the newest release on 2026-11-16:
# https://github.com/kedacore/charts/releases/tag/v2.21.1 ; KEDA needs Kubernetes >= 1.30 (https://keda.sh/deploy).
KEDA = Chart("keda", "https://kedacore.github.io/charts", "2.21.1", "rollout-system")
# prometheus-community "prometheus" chart 27.52.0 (server only here; it scrapes pods annotated
# prometheus.io/scrape): https://github.com/prometheus-community/helm-charts/releases/tag/prometheus-27.52.0
PROMETHEUS = Chart("prometheus", "https://prometheus-community.github.io/helm-charts", "27.52.0", "rollout-system")
# The chart names its server Service "<release>-server" (port 80).
PROMETHEUS_URL = "http://prometheus-server.rollout-system.svc.cluster.local:80"
# Kubernetes cluster autoscaler: the chart release made for each image (its RBAC is what that image
# needs). The image minor must match the cluster's Kubernetes minor (https://github.com/kubernetes/autoscaler
# /tree/master/cluster-autoscaler#releases). Autoscaler >= 1.35 watches `resource.k8s.io`
# (DRA: resourceslices, deviceclasses, resourceclaims) and waits for those informers: its chart must grant
# them. Read in kubernetes/autoscaler at the chart tags (cluster-autoscaler/charts/cluster-autoscaler):
# - 9.52.1 (2025-10-20, appVersion 1.34.1): no resource.k8s.io rules; fine for the 1.33 image;
# - 9.59.0 (2026-07-21, appVersion 1.35.0): resource.k8s.io rules (since 9.54.0) and CapacityBuffer /
#   CapacityQuota rules; the newest chart, for the 1.36 image.
# 1.33: image v1.33.1 (what kOps pins for 1.33: https://github.com/kubernetes/kops/pull/17640);
# 1.36: image v1.36.1, released 2026-07-23 (https://github.com/kubernetes/autoscaler/releases/tag/cluster-autoscaler-1.36.1).
CLUSTER_AUTOSCALER_REPO = "https://kubernetes.github.io/autoscaler"
CLUSTER_AUTOSCALER_CHARTS = {
    "1.33": Chart("cluster-autoscaler", CLUSTER_AUTOSCALER_REPO, "9.52.1", "kube-system"),
    "1.36": Chart("cluster-autoscaler", CLUSTER_AUTOSCALER_REPO, "9.59.0", "kube-system"),
}
CLUSTER_AUTOSCALER = CLUSTER_AUTOSCALER_CHARTS["1.36"]  # the default Kubernetes minor's (namespace, name)
CLUSTER_AUTOSCALER_IMAGE = {"1.33": "v1.33.1", "1.36": "v1.36.1"}
CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
