"""What every cluster gets inside Kubernetes: the rollout namespaces with Pod Security Admission
labels and, on EKS, the NVIDIA device plugin (pinned Helm chart) on the tainted GPU nodes.

On GKE the managed driver install (gpu_driver_version on the node pool) also deploys GKE's own
device plugin DaemonSet in kube-system, so a second plugin would fight it over the GPUs:
https://cloud.google.com/kubernetes-engine/docs/how-to/gpus#install-drivers
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.planning.cluster_plan import GPU_MODEL_LABEL, GPU_TAINT
from infra.planning.cluster_versions import DEVICE_PLUGIN_CHART, DEVICE_PLUGIN_REPO, DEVICE_PLUGIN_VERSION

SYSTEM_NAMESPACE = "rollout-system"
# Pod Security Standards: https://kubernetes.io/docs/concepts/security/pod-security-admission/
# The device plugin mounts hostPath sockets, so its namespace cannot be restricted.
NAMESPACE_LEVELS = {SYSTEM_NAMESPACE: "privileged", "rollout-data": "restricted", "rollout-serving": "restricted"}


def pod_security_labels(level: str, kubernetes_version: str) -> dict[str, str]:
    """Enforce `level`; warn and audit at restricted everywhere so drift toward privilege is visible."""
    version = f"v{kubernetes_version}"
    return {
        "pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": version,
        "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": version,
        "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/audit-version": version,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def device_plugin_values() -> dict:
    """Chart values: run only on our GPU nodes (labelled by the plan) and tolerate their taint."""
    return {
        "tolerations": [{"key": GPU_TAINT.key, "operator": "Exists", "effect": GPU_TAINT.effect}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": GPU_MODEL_LABEL, "operator": "Exists"}]}]}}},
        "priorityClassName": "system-node-critical",
    }


@dataclass(frozen=True)
class KubernetesBaseArgs:
    cloud: str
    kubernetes_version: str


class KubernetesBase(pulumi.ComponentResource):
    """Namespaces (Pod Security labels) and the GPU device plugin of one cluster."""

    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: KubernetesBaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:cluster:KubernetesBase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespaces = {
            ns: k8s.core.v1.Namespace(
                f"{name}-{ns}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ns, labels=pod_security_labels(level,
                                                                                        args.kubernetes_version)),
                opts=child)
            for ns, level in NAMESPACE_LEVELS.items()
        }
        if args.cloud == "aws":
            k8s.helm.v3.Release(
                f"{name}-nvidia-device-plugin", name="nvidia-device-plugin", chart=DEVICE_PLUGIN_CHART,
                version=DEVICE_PLUGIN_VERSION, repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DEVICE_PLUGIN_REPO),
                namespace=SYSTEM_NAMESPACE, values=device_plugin_values(), atomic=True, cleanup_on_fail=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespaces[SYSTEM_NAMESPACE]]))
        self.register_outputs({"namespaces": list(self.namespaces)})
