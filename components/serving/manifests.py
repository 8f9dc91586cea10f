"""The Kubernetes objects of one region's model servers, as plain manifests (camelCase, as the API
takes them). `components/serving/workload.py` registers them; tests validate them strictly.

Nothing here decides sizes: replicas, GPUs, weights, floors and ceilings come from the serving plan.
"""

from __future__ import annotations

import json
from typing import Any

from components.cluster.kubernetes_base import PROMETHEUS_SERVER
from infra.planning.cluster_plan import GPU_TAINT, POOL_LABEL
from infra.planning.serving import (
    HEALTH_PATH,
    METRICS_PATH,
    PORT,
    SERVICE_ACCOUNT,
    SERVING_NAMESPACE,
    TERMINATION_GRACE_SECONDS,
    ServerSettings,
    ServingPool,
)

APP = "vllm"
ZONE_KEY = "topology.kubernetes.io/zone"
CACHE_DIR = "/cache"  # writable home for the server (HF cache, compiled kernels); the image's root is not
RUN_AS = 1000
RUNAI_MEMORY_LIMIT = "RUNAI_STREAMER_MEMORY_LIMIT"
# Prometheus (the chart's kubernetes-pods job) keeps pod labels as labels with dots and slashes
# folded to underscores, so the queue-depth query can select one pool.
PROMETHEUS_POOL_LABEL = POOL_LABEL.replace(".", "_").replace("/", "_")
# NEG name per pool, fixed so the regional backend service can name it before the NEG controller makes it.
# https://cloud.google.com/kubernetes-engine/docs/how-to/standalone-neg#naming_negs
NEG_ANNOTATION = "cloud.google.com/neg"


def labels(pool: ServingPool) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": pool.name,
            "app.kubernetes.io/managed-by": "pulumi", POOL_LABEL: pool.pool}


def selector(pool: ServingPool) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": pool.name}


def meta(name: str, pool: ServingPool | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "namespace": SERVING_NAMESPACE}
    if pool is not None:
        out["labels"] = labels(pool)
    if annotations:
        out["annotations"] = annotations
    return out


def neg_name(cluster_name: str, pool: ServingPool) -> str:
    """GCE resource names: lowercase, <= 63 characters."""
    return f"{cluster_name}-{pool.name}"[:63].rstrip("-")


def service_account(annotations: dict[str, str]) -> dict[str, Any]:
    """The identity the servers read weights with (IRSA role or GKE Workload Identity binding)."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(SERVICE_ACCOUNT, annotations=annotations),
            "automountServiceAccountToken": True}


def _probe(pool: ServingPool, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": HEALTH_PATH, "port": "http"}, "periodSeconds": period,
            "failureThreshold": failures, "timeoutSeconds": pool.probes.timeout}


def container(pool: ServingPool, server: ServerSettings, bucket_uri: str | None) -> dict[str, Any]:
    env = [{"name": "HOME", "value": CACHE_DIR}, {"name": "HF_HOME", "value": f"{CACHE_DIR}/huggingface"},
           {"name": "XDG_CACHE_HOME", "value": CACHE_DIR}, {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
           # The Run:ai streamer buffers min(40 GB, weights) in RAM unless capped (bytes; runai-model-streamer
           # 0.17.1 file_streamer/requests_iterator.py, DEFAULT_MEMORY_LIMIT_STRING = "40000000000").
           {"name": RUNAI_MEMORY_LIMIT, "value": str(pool.loader_buffer_bytes)}]
    if server.weights_source == "huggingface":
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": server.hugging_face_token_secret, "key": "token"}}})
    gpus = str(pool.tensor_parallel)
    probes = pool.probes
    return {
        "name": "server", "image": server.image,
        "args": server.server_args(pool, bucket_uri),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "resources": {
            "requests": {"cpu": pool.cpu_request, "memory": pool.memory_request, "nvidia.com/gpu": gpus},
            # The limit covers the loader buffer + runtime + /dev/shm (ServingPool.memory_need_gib).
            "limits": {"memory": pool.memory_request, "nvidia.com/gpu": gpus},
        },
        # Startup: failureThreshold x period >= the model's load time, else the kubelet kills it mid-load.
        "startupProbe": _probe(pool, probes.startup_period, probes.startup_failures),
        "readinessProbe": _probe(pool, probes.readiness_period, probes.readiness_failures),
        "livenessProbe": _probe(pool, probes.liveness_period, probes.liveness_failures),
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}, {"name": "cache", "mountPath": CACHE_DIR}],
        # Pod Security `restricted`: non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp.
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }


def deployment(pool: ServingPool, server: ServerSettings, bucket_uri: str | None) -> dict[str, Any]:
    """One server per GPU (or per tensor-parallel group); KEDA moves `replicas` between the floor and the
    ceiling; the rollout replaces a share of the pool at a time (ServingPool.rollout)."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(pool.name, pool),
        "spec": {
            "replicas": pool.replicas,
            "selector": {"matchLabels": selector(pool)},
            # No surge (a server holds whole GPUs); a share of the pool at a time, within its failover ceiling.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": 0, "maxUnavailable": pool.rollout.max_unavailable if pool.rollout else 1}},
            "template": {
                "metadata": {"labels": labels(pool), "annotations": {
                    "prometheus.io/scrape": "true", "prometheus.io/port": str(PORT),
                    "prometheus.io/path": METRICS_PATH}},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "nodeSelector": {POOL_LABEL: pool.pool},
                    "tolerations": [{"key": GPU_TAINT.key, "operator": "Exists", "effect": GPU_TAINT.effect}],
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": ZONE_KEY, "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector(pool)}}],
                    "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                                        "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}},
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,  # in-flight generations finish
                    "containers": [container(pool, server, bucket_uri)],
                    "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": pool.shm_size}},
                                {"name": "cache", "emptyDir": {"sizeLimit": "50Gi"}}],
                },
            },
        },
    }


def service(pool: ServingPool, neg: str | None = None) -> dict[str, Any]:
    """ClusterIP Service per pool: the ALB's TargetGroupBinding or the GKE NEG controller reads its endpoints."""
    annotations = None
    if neg is not None:
        annotations = {NEG_ANNOTATION: json.dumps({"exposed_ports": {str(PORT): {"name": neg}}})}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(pool.name, pool, annotations),
            "spec": {"type": "ClusterIP", "selector": selector(pool),
                     "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]}}


def pod_disruption_budget(pool: ServingPool) -> dict[str, Any]:
    """At most one server of a pool down for voluntary disruptions: drains proceed, one node at a time."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(pool.name, pool),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(pool)}}}


def prometheus_query(pool: ServingPool) -> str:
    """Requests in flight in the pool: running (up to --max-num-seqs per server) plus waiting."""
    select = f'{{namespace="{SERVING_NAMESPACE}",{PROMETHEUS_POOL_LABEL}="{pool.pool}"}}'
    return f"sum(vllm:num_requests_running{select}) + sum(vllm:num_requests_waiting{select})"


def scaled_object(pool: ServingPool, server: ServerSettings, prometheus_url: str) -> dict[str, Any]:
    """KEDA ScaledObject (keda.sh/v1alpha1): requests in flight per server against the concurrency the
    sizing assumes at its normal utilisation; floor = plan, ceiling = pool max.

    The floor is never 0, so KEDA's `cooldownPeriod` (it applies only to scaling to zero,
    https://keda.sh/docs/2.18/reference/scaledobject-spec/#cooldownperiod) is not set; scale-down is
    slowed by the HPA's stabilisation window instead (`advanced.horizontalPodAutoscalerConfig`).
    https://keda.sh/docs/2.18/scalers/prometheus/"""
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": meta(pool.name, pool),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": pool.name},
            "minReplicaCount": pool.floor, "maxReplicaCount": pool.ceiling,
            "pollingInterval": server.polling_interval_seconds,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
                "stabilizationWindowSeconds": server.scale_down_seconds}}}},
            "triggers": [{"type": "prometheus", "metricType": "AverageValue", "metadata": {
                "serverAddress": prometheus_url, "query": prometheus_query(pool),
                "threshold": f"{pool.in_flight_target:g}"}}],
        },
    }


def target_group_binding(pool: ServingPool, target_group_arn: Any, alb_security_group: Any) -> dict[str, Any]:
    """AWS Load Balancer Controller CR (elbv2.k8s.aws/v1beta1): registers the pool's pod IPs in the
    Pulumi-owned target group and opens the pods' port to the ALB's security group.
    https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/targetgroupbinding/spec/"""
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": meta(pool.name, pool),
        "spec": {
            "serviceRef": {"name": pool.name, "port": PORT},
            "targetGroupARN": target_group_arn, "targetType": "ip",
            "networking": {"ingress": [{"from": [{"securityGroup": {"groupID": alb_security_group}}],
                                        "ports": [{"protocol": "TCP", "port": PORT}]}]},
        },
    }


# GKE metadata server (Workload Identity tokens) as pods see it under Dataplane V2:
# https://cloud.google.com/kubernetes-engine/docs/how-to/network-policy#network-policy-and-workload-identity
METADATA_SERVER = ({"cidr": "169.254.169.252/32", "port": 988}, {"cidr": "169.254.169.254/32", "port": 80})
# The policy pack's k8s-network-policy-narrow accepts an egress to the metadata address only as a /32 on
# its port in a NetworkPolicy that says why in this annotation (GKE_METADATA mode serves the workload's
# own identity there, never the node's).
METADATA_EGRESS_ANNOTATION = "global-ai-rollout/metadata-egress"
METADATA_EGRESS_REASON = "GKE metadata server (GKE_METADATA mode): Workload Identity tokens for the weights bucket"


def network_policy(load_balancer_sources: list[str], monitoring_namespace: str, cloud: str) -> dict[str, Any]:
    """What the servers need through a default-deny namespace: the load balancer (and its health checks)
    and the metrics scraper in; DNS, HTTPS (bucket, STS / Google APIs, Hugging Face) and, on GKE, the
    metadata server out."""
    servers = {"matchLabels": {"app.kubernetes.io/name": APP}}
    egress: list[dict[str, Any]] = [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
         "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}],
         "ports": [{"protocol": "TCP", "port": 443}]},
    ]
    if cloud == "gcp":
        egress += [{"to": [{"ipBlock": {"cidr": m["cidr"]}}], "ports": [{"protocol": "TCP", "port": m["port"]}]}
                   for m in METADATA_SERVER]
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta("vllm-servers", annotations={METADATA_EGRESS_ANNOTATION: METADATA_EGRESS_REASON}
                         if cloud == "gcp" else None),
        "spec": {
            "podSelector": servers, "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": [{"ipBlock": {"cidr": c}} for c in load_balancer_sources],
                 "ports": [{"protocol": "TCP", "port": PORT}]},
                # Prometheus' server only (the scrape of /metrics), not every pod of its namespace.
                {"from": [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": monitoring_namespace}},
                    "podSelector": {"matchLabels": dict(PROMETHEUS_SERVER)}}],
                 "ports": [{"protocol": "TCP", "port": PORT}]},
            ],
            "egress": egress,
        },
    }
