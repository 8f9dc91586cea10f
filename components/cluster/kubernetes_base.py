"""What every cluster gets inside Kubernetes: the rollout namespaces under Pod Security Admission,
default-deny NetworkPolicies with the allows the workloads need, and, on EKS, the NVIDIA device
plugin on the tainted GPU nodes.

Pod Security: every rollout namespace enforces `restricted`. The one exception is the device plugin
on EKS, which must mount the kubelet's device-plugin socket directory (a hostPath, which even
`baseline` forbids): it runs alone in its own `nvidia-device-plugin` namespace, enforced
`privileged` with the reason as an annotation, and its container still drops every capability and
privilege escalation. On GKE the managed driver install deploys GKE's own plugin in kube-system
(https://cloud.google.com/kubernetes-engine/docs/how-to/gpus#install-drivers), so GKE has no exception.

The NVIDIA DCGM exporter (GPU health, XID errors, utilisation, memory) runs on the GPU nodes of EKS as an
explicit DaemonSet in rollout-system under `restricted`: NVIDIA's image runs the basic metrics as a non-root
user (uid 1000) without SYS_ADMIN, which only the profiling metrics (DCGM_FI_PROF_*) need, and without the
kubelet's pod-resources hostPath, which only maps GPUs to pods (docker/Dockerfile and dcgm-exporter.yaml at
4.5.3-4.8.2). The image sets NVIDIA_VISIBLE_DEVICES=all, so the NVIDIA runtime of the EKS GPU AMI exposes every
GPU of the node to it without a `nvidia.com/gpu` request. On GKE a container sees GPUs only when it requests
them, so GKE has no exporter here (docs/monitoring.md).

The device plugin is an explicit DaemonSet (NVIDIA's static manifest,
https://github.com/NVIDIA/k8s-device-plugin/blob/main/deployments/static/nvidia-device-plugin.yml),
not a Helm chart: NVIDIA's chart repository publishes no provenance files, so a chart could not be
verified, and an explicit object is validated by the tests and checked by the policy pack.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.planning.cluster_plan import GPU_MODEL_LABEL, GPU_TAINT
from infra.planning.cluster_versions import DCGM_EXPORTER_VERSION, DEVICE_PLUGIN_VERSION

SYSTEM_NAMESPACE = "rollout-system"
SERVING_NAMESPACE, DATA_NAMESPACE = "rollout-serving", "rollout-data"
DEVICE_PLUGIN_NAMESPACE = "nvidia-device-plugin"
# Pod Security Standards: https://kubernetes.io/docs/concepts/security/pod-security-admission/
NAMESPACE_LEVELS = {SYSTEM_NAMESPACE: "restricted", DATA_NAMESPACE: "restricted", SERVING_NAMESPACE: "restricted"}
EXCEPTION_ANNOTATION = "global-ai-rollout/pod-security-exception"
DEVICE_PLUGIN_EXCEPTION = ("hostPath /var/lib/kubelet/device-plugins: the NVIDIA device plugin registers with the "
                           "kubelet through this socket directory; nothing else runs in this namespace")
DEVICE_PLUGIN_IMAGE = f"nvcr.io/nvidia/k8s-device-plugin:v{DEVICE_PLUGIN_VERSION}"
DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"

MODEL_PORT, MONGO_PORT = 8000, 27017
API_SERVER_PORT = 443
# KEDA chart (kedacore/charts keda/templates, values service.portHttpsTarget and webhooks.port default):
# the metrics apiserver serves the external metrics API on 6443, the admission webhooks on 9443, and
# the metrics apiserver reads scaler values from the operator's gRPC server on 9666.
KEDA_METRICS_PORT, KEDA_WEBHOOK_PORT, KEDA_OPERATOR_GRPC_PORT = 6443, 9443, 9666
PROMETHEUS_PORT = 9090  # the prometheus chart's server container (Service port 80 -> 9090)
# Pod labels the pinned charts give (app.kubernetes.io/name), to select each component exactly.
KEDA_OPERATOR, KEDA_METRICS = "keda-operator", "keda-operator-metrics-apiserver"
KEDA_WEBHOOKS = "keda-admission-webhooks"
PROMETHEUS_SERVER = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server"}
# The prometheus chart's subcharts (alertmanager 1.30.0, kube-state-metrics 7.0.0; infra/planning/chart_pods.py):
# Prometheus posts alerts to Alertmanager's pods on 9093 (kubernetes_sd keeps that container port,
# charts/prometheus/templates/cm.yaml) and scrapes kube-state-metrics on 8080 (values.yaml service.port).
ALERTMANAGER, KUBE_STATE_METRICS = "alertmanager", "kube-state-metrics"
ALERTMANAGER_PORT, KUBE_STATE_METRICS_PORT = 9093, 8080
DCGM_EXPORTER, MONGODB_EXPORTER = "dcgm-exporter", "mongodb-exporter"
MONGODB_EXPORTER_PORT = 9216  # components/database/exporter.py (Percona mongodb_exporter's default)
DCGM_EXPORTER_PORT = 9400  # dcgm-exporter.yaml: DCGM_EXPORTER_LISTEN ":9400", container port "metrics"
DCGM_EXPORTER_IMAGE = f"nvcr.io/nvidia/k8s/dcgm-exporter:{DCGM_EXPORTER_VERSION}-distroless"
DCGM_EXPORTER_USER = 1000  # the image's non-root user (docker/Dockerfile: useradd -u 1000 dcgm-exporter)
SERVERS = {"app.kubernetes.io/name": "vllm"}
# Google's load balancer proxies and health checkers reach backends from these ranges
# (https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges).
GCP_LB_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
# Object storage (S3 / GCS) and STS are public HTTPS endpoints: allow 443 to the internet, never to
# private ranges (other tenants of the network) or link-local (the instance metadata service).
NOT_INTERNET = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


def pod_security_labels(level: str, kubernetes_version: str) -> dict[str, str]:
    """Enforce `level`; warn and audit at restricted everywhere so drift toward privilege is visible."""
    version = f"v{kubernetes_version}"
    return {
        "pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": version,
        "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": version,
        "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/audit-version": version,
        "app.kubernetes.io/managed-by": "pulumi",
    }


# ---- NetworkPolicies (plain specs, so tests read them without a cluster) -------------------------------

def _ns(name: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _tcp(*ports: int) -> list[dict]:
    return [{"protocol": "TCP", "port": p} for p in ports]


DNS_EGRESS = {"to": [{**_ns("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
              "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def _pods(**labels: str) -> dict:
    return {"podSelector": {"matchLabels": labels}}


def _name(name: str) -> dict:
    return {"matchLabels": {"app.kubernetes.io/name": name}}


def autoscaling_policy_specs(control_plane: list[str]) -> dict[tuple[str, str], dict]:
    """rollout-system: exactly the flows KEDA and Prometheus need (docs/serving.md, "Flows").

    - every KEDA pod and Prometheus -> the API server (443 at the control plane's addresses: EKS's
      endpoint interfaces in the VPC, GKE's control-plane range);
    - the API server -> KEDA's metrics apiserver (6443, external metrics API) and webhooks (9443);
    - KEDA's metrics apiserver -> the operator (9666, gRPC);
    - the KEDA operator -> Prometheus (9090, the scaler's queries);
    - Prometheus -> the model servers' /metrics (8000 in rollout-serving), kube-state-metrics (8080) and
      Alertmanager (9093, alerts), the DCGM exporter (9400, EKS GPU nodes) and the MongoDB exporter (9216 in
      rollout-data); kube-state-metrics -> the API server (443, it lists nodes and pods).
    Alertmanager's egress to its receivers depends on the stack's receiver: the serving workload adds it."""
    api = [{"ipBlock": {"cidr": c}} for c in control_plane]
    keda = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                  "values": [KEDA_OPERATOR, KEDA_METRICS, KEDA_WEBHOOKS]}]}
    prometheus = [{"podSelector": {"matchLabels": PROMETHEUS_SERVER}}]
    return {
        (SYSTEM_NAMESPACE, "allow-api-server-egress"): {
            "podSelector": keda, "policyTypes": ["Egress"],
            "egress": [{"to": api, "ports": _tcp(API_SERVER_PORT)}]},
        (SYSTEM_NAMESPACE, "allow-keda-metrics-apiserver"): {
            "podSelector": _name(KEDA_METRICS), "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": api, "ports": _tcp(KEDA_METRICS_PORT)}],
            "egress": [{"to": [{"podSelector": _name(KEDA_OPERATOR)}], "ports": _tcp(KEDA_OPERATOR_GRPC_PORT)}]},
        (SYSTEM_NAMESPACE, "allow-keda-webhooks"): {
            "podSelector": _name(KEDA_WEBHOOKS), "policyTypes": ["Ingress"],
            "ingress": [{"from": api, "ports": _tcp(KEDA_WEBHOOK_PORT)}]},
        (SYSTEM_NAMESPACE, "allow-keda-operator"): {
            "podSelector": _name(KEDA_OPERATOR), "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": _name(KEDA_METRICS)}], "ports": _tcp(KEDA_OPERATOR_GRPC_PORT)}],
            "egress": [{"to": [{"podSelector": {"matchLabels": PROMETHEUS_SERVER}}], "ports": _tcp(PROMETHEUS_PORT)}]},
        (SYSTEM_NAMESPACE, "allow-prometheus"): {
            "podSelector": {"matchLabels": PROMETHEUS_SERVER}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": _name(KEDA_OPERATOR)}], "ports": _tcp(PROMETHEUS_PORT)}],
            "egress": [{"to": api, "ports": _tcp(API_SERVER_PORT)},
                       {"to": [{**_ns(SERVING_NAMESPACE), "podSelector": {"matchLabels": SERVERS}}],
                        "ports": _tcp(MODEL_PORT)},
                       {"to": [{"podSelector": _name(KUBE_STATE_METRICS)}], "ports": _tcp(KUBE_STATE_METRICS_PORT)},
                       {"to": [{"podSelector": _name(ALERTMANAGER)}], "ports": _tcp(ALERTMANAGER_PORT)},
                       {"to": [{"podSelector": _name(DCGM_EXPORTER)}], "ports": _tcp(DCGM_EXPORTER_PORT)},
                       {"to": [{**_ns(DATA_NAMESPACE), "podSelector": _name(MONGODB_EXPORTER)}],
                        "ports": _tcp(MONGODB_EXPORTER_PORT)}]},
        (SYSTEM_NAMESPACE, "allow-dcgm-exporter"): {
            "podSelector": _name(DCGM_EXPORTER), "policyTypes": ["Ingress"],
            "ingress": [{"from": prometheus, "ports": _tcp(DCGM_EXPORTER_PORT)}]},
        (SYSTEM_NAMESPACE, "allow-kube-state-metrics"): {
            "podSelector": _name(KUBE_STATE_METRICS), "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": prometheus, "ports": _tcp(KUBE_STATE_METRICS_PORT)}],
            "egress": [{"to": api, "ports": _tcp(API_SERVER_PORT)}]},
        (SYSTEM_NAMESPACE, "allow-alertmanager"): {
            "podSelector": _name(ALERTMANAGER), "policyTypes": ["Ingress"],
            "ingress": [{"from": prometheus, "ports": _tcp(ALERTMANAGER_PORT)}]},
    }


def network_policy_specs(cloud: str, local_network: str, peer_network: str,
                         control_plane: list[str] | None = None,
                         load_balancers: list[str] | None = None) -> dict[tuple[str, str], dict]:
    """(namespace, policy name) -> NetworkPolicy spec.

    Every namespace: default deny in both directions, then DNS. rollout-serving: port 8000 from the
    region's load balancers / gateway (the region's range; on GCP also Google's proxy ranges), egress to
    MongoDB (local namespace and peer regions) and HTTPS to object storage. rollout-data: nothing
    namespace-wide; the database declares its narrow policies (members and declared clients)."""
    lb_sources = [*(load_balancers or [local_network]), *(GCP_LB_RANGES if cloud == "gcp" else ())]
    specs: dict[tuple[str, str], dict] = {}
    namespaces = [*NAMESPACE_LEVELS, *([DEVICE_PLUGIN_NAMESPACE] if cloud == "aws" else [])]
    for ns in namespaces:
        specs[(ns, "default-deny")] = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        if ns != DEVICE_PLUGIN_NAMESPACE:  # the plugin talks only to the kubelet's unix socket
            specs[(ns, "allow-dns")] = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [DNS_EGRESS]}
    specs[(SERVING_NAMESPACE, "allow-model-traffic")] = {
        "podSelector": {}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": c}} for c in lb_sources], "ports": _tcp(MODEL_PORT)}],
        "egress": [
            {"to": [_ns(DATA_NAMESPACE), {"ipBlock": {"cidr": peer_network}}], "ports": _tcp(MONGO_PORT)},
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_INTERNET)}}], "ports": _tcp(443)},
        ],
    }
    # rollout-data has no namespace-wide allow: NetworkPolicies are additive, so one broad allow (27017
    # from the whole supernet) would defeat the database's narrow ones (components/database/manifests.py).
    specs.update(autoscaling_policy_specs(control_plane or [local_network]))
    return specs


def on_every_gpu_node() -> dict:
    """Pod spec fields of a node agent: critical priority, no API token, scheduled on every node the
    plan labelled with a GPU model and tolerating the GPU taint."""
    return {
        "priorityClassName": "system-node-critical",
        "automountServiceAccountToken": False,
        "tolerations": [{"key": GPU_TAINT.key, "operator": "Exists", "effect": GPU_TAINT.effect}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": GPU_MODEL_LABEL, "operator": "Exists"}]}]}}},
    }


def device_plugin_pod_spec() -> dict:
    """Only on nodes labelled with a GPU model by the plan, tolerating their taint; restricted in all but
    the hostPath (no privilege, no capabilities, read-only root, RuntimeDefault seccomp)."""
    return {
        **on_every_gpu_node(),
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "nvidia-device-plugin-ctr", "image": DEVICE_PLUGIN_IMAGE,
            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True},
            "volumeMounts": [{"name": "device-plugin", "mountPath": DEVICE_PLUGIN_DIR}],
        }],
        "volumes": [{"name": "device-plugin", "hostPath": {"path": DEVICE_PLUGIN_DIR, "type": "Directory"}}],
    }


def dcgm_exporter_pod_spec() -> dict:
    """On every GPU node (the plan's GPU model label, tolerating its taint), restricted: non-root, no
    capability, no hostPath, RuntimeDefault seccomp, read-only root (an emptyDir for /tmp), no API token.
    Prometheus scrapes it through the chart's `kubernetes-pods` job (the pod's prometheus.io annotations)."""
    return {
        **on_every_gpu_node(),
        "securityContext": {"runAsNonRoot": True, "runAsUser": DCGM_EXPORTER_USER, "runAsGroup": DCGM_EXPORTER_USER,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": DCGM_EXPORTER, "image": DCGM_EXPORTER_IMAGE,
            "env": [{"name": "DCGM_EXPORTER_LISTEN", "value": f":{DCGM_EXPORTER_PORT}"},
                    # no pod attribution: it needs the kubelet's pod-resources socket (a hostPath)
                    {"name": "DCGM_EXPORTER_KUBERNETES", "value": "false"},
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "ports": [{"name": "metrics", "containerPort": DCGM_EXPORTER_PORT}],
            # dcgm-exporter.yaml: limits 200m / 256Mi, requests 100m / 128Mi; /health on the metrics port
            # (deployment/templates/daemonset.yaml).
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
            "livenessProbe": {"httpGet": {"path": "/health", "port": DCGM_EXPORTER_PORT},
                              "initialDelaySeconds": 45, "periodSeconds": 5},
            "readinessProbe": {"httpGet": {"path": "/health", "port": DCGM_EXPORTER_PORT}, "initialDelaySeconds": 45},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True, "runAsNonRoot": True},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }


@dataclass(frozen=True)
class KubernetesBaseArgs:
    cloud: str
    kubernetes_version: str
    local_network: str = "10.0.0.0/16"  # ClusterPlan.local_network
    peer_network: str = "10.0.0.0/8"  # ClusterPlan.peer_network
    # Where the API server's connections come from and its endpoints are: GKE's control-plane range;
    # on EKS the control plane's network interfaces in the VPC (None: the local network).
    control_plane: tuple[str, ...] | None = None
    load_balancers: tuple[str, ...] | None = None  # ClusterPlan.load_balancer_networks (None: the local network)


class KubernetesBase(pulumi.ComponentResource):
    """Namespaces (Pod Security labels), their NetworkPolicies and the GPU device plugin of one cluster."""

    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: KubernetesBaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:cluster:KubernetesBase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        levels = dict(NAMESPACE_LEVELS)
        annotations: dict[str, dict[str, str]] = {}
        if args.cloud == "aws":
            levels[DEVICE_PLUGIN_NAMESPACE] = "privileged"
            annotations[DEVICE_PLUGIN_NAMESPACE] = {EXCEPTION_ANNOTATION: DEVICE_PLUGIN_EXCEPTION}
        self.namespaces = {
            ns: k8s.core.v1.Namespace(
                f"{name}-{ns}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ns, labels=pod_security_labels(level, args.kubernetes_version),
                                                    annotations=annotations.get(ns)),
                opts=child)
            for ns, level in levels.items()
        }
        for (ns, policy), spec in network_policy_specs(args.cloud, args.local_network, args.peer_network,
                                                       list(args.control_plane or ()),
                                                       list(args.load_balancers or ())).items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{ns}-{policy}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=policy, namespace=ns,
                                                    labels={"app.kubernetes.io/managed-by": "pulumi"}),
                spec=spec, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespaces[ns]]))
        if args.cloud == "aws":
            labels = {"app.kubernetes.io/name": "nvidia-device-plugin"}
            k8s.apps.v1.DaemonSet(
                f"{name}-nvidia-device-plugin",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="nvidia-device-plugin", namespace=DEVICE_PLUGIN_NAMESPACE,
                                                    labels=labels),
                spec={"selector": {"matchLabels": labels},
                      "updateStrategy": {"type": "RollingUpdate"},
                      "template": {"metadata": {"labels": labels}, "spec": device_plugin_pod_spec()}},
                # A deliberate wait (pulumi-kubernetes awaits DaemonSets): a pod is ready once its ~50 MB image
                # is pulled and it registers with the kubelet, about a minute per node; an update rolls one
                # node at a time (maxUnavailable 1), so 30 minutes covers the GPU nodes of any planned pool.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespaces[DEVICE_PLUGIN_NAMESPACE]],
                                            custom_timeouts=pulumi.CustomTimeouts(create="10m", update="30m")))
        if args.cloud == "aws":
            labels = {"app.kubernetes.io/name": DCGM_EXPORTER}
            k8s.apps.v1.DaemonSet(
                f"{name}-dcgm-exporter",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=DCGM_EXPORTER, namespace=SYSTEM_NAMESPACE, labels=labels),
                spec={"selector": {"matchLabels": labels},
                      "updateStrategy": {"type": "RollingUpdate"},
                      "template": {"metadata": {"labels": labels, "annotations": {
                          "prometheus.io/scrape": "true", "prometheus.io/port": str(DCGM_EXPORTER_PORT),
                          "prometheus.io/path": "/metrics"}},
                          "spec": dcgm_exporter_pod_spec()}},
                # The device plugin's wait: one pod per GPU node (image pull + DCGM start, its probes wait 45 s), an
                # update rolls one node at a time.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespaces[SYSTEM_NAMESPACE]],
                                            custom_timeouts=pulumi.CustomTimeouts(create="10m", update="30m")))
        self.register_outputs({"namespaces": list(self.namespaces)})
