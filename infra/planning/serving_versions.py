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
# Kubernetes cluster autoscaler chart 9.52.1 (2025-10-20):
# https://github.com/kubernetes/autoscaler/releases/tag/cluster-autoscaler-chart-9.52.1 ; the image minor must
# match the cluster's Kubernetes minor: v1.33.1 for 1.33 (https://github.com/kubernetes/autoscaler/releases,
# also what kOps pins for 1.33: https://github.com/kubernetes/kops/pull/17640).
CLUSTER_AUTOSCALER = Chart("cluster-autoscaler", "https://kubernetes.github.io/autoscaler", "9.52.1", "kube-system")
# 1.36: cluster-autoscaler 1.36.1, released 2026-07-23
# (https://github.com/kubernetes/autoscaler/releases/tag/cluster-autoscaler-1.36.1, and
# https://github.com/kubernetes/autoscaler/pull/10169 which makes it the chart's default).
CLUSTER_AUTOSCALER_IMAGE = {"1.33": "v1.33.1", "1.36": "v1.36.1"}
CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
