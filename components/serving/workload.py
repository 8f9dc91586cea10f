"""The in-cluster half of one region's serving stack: the metrics pipeline and queue-depth autoscaler
(pinned Helm releases: Prometheus, KEDA), the servers' ServiceAccount, and per GPU pool a Deployment,
Service, PodDisruptionBudget, KEDA ScaledObject and, on EKS, a TargetGroupBinding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.serving import manifests
from components.serving.api_auth import KeyAuthMount
from infra.planning.monitoring import RECEIVER_KEYS, RECEIVER_SECRET, RECEIVER_SECRET_DIR, Delivery
from infra.planning.serving import RegionServing, ServerSettings
from infra.planning.serving_versions import KEDA, PROMETHEUS, PROMETHEUS_URL, Chart

# Pod Security `restricted` (rollout-system enforces it): non-root, RuntimeDefault seccomp, no
# privilege escalation, every capability dropped. Keys of the pinned prometheus chart 27.52.0
# (charts/prometheus/values.yaml: server.securityContext, server.containerSecurityContext,
# configmapReload.prometheus.containerSecurityContext) and keda chart (keda/values.yaml:
# podSecurityContext.<component>, securityContext.<component>).
# https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"}}
PROMETHEUS_USER = 65534  # the chart's default server user (nobody)


def alertmanager_values(delivery: Delivery) -> dict[str, Any]:
    """The chart's Alertmanager (subchart alertmanager 1.30.0, values under `alertmanager:`): restricted Pod
    Security, no volume claim (silences live in an emptyDir: a restart forgets them, the routes come back
    from the ConfigMap), the routes from the plan, and the receiver Secret mounted read-only (optional:
    until it exists, sends fail and the Watchdog stops reaching the heartbeat: the dead man's switch tells)."""
    return {
        "enabled": True,
        "persistence": {"enabled": False},
        "podSecurityContext": {**RESTRICTED_POD, "runAsUser": PROMETHEUS_USER, "runAsGroup": PROMETHEUS_USER,
                               "fsGroup": PROMETHEUS_USER},
        "securityContext": RESTRICTED_CONTAINER,
        # The pod never calls the API server: no token in it.
        "automountServiceAccountToken": False,
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "config": {"enabled": True, **delivery.config()},
        "extraSecretMounts": [{"name": "receivers", "mountPath": RECEIVER_SECRET_DIR, "secretName": RECEIVER_SECRET,
                               "readOnly": True, "optional": True}],
    }


def kube_state_metrics_values() -> dict[str, Any]:
    """kube-state-metrics (subchart 7.0.0): its defaults already meet `restricted` (values.yaml
    securityContext / containerSecurityContext); only requests are added. Prometheus scrapes its Service
    (annotated prometheus.io/scrape) through the chart's `kubernetes-service-endpoints` job."""
    return {"enabled": True, "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}}


def prometheus_values(alert_rules: dict | None = None, delivery: Delivery | None = None) -> dict[str, Any]:
    """The server: the chart's default `kubernetes-pods` job scrapes the servers' annotations, and it
    evaluates the region's rule file (the chart loads `serverFiles."alerting_rules.yml"`); with a delivery,
    kube-state-metrics (the node and pod alerts) and, when it sends somewhere, the chart's Alertmanager
    (Prometheus finds it by kubernetes_sd, templates/cm.yaml)."""
    values: dict[str, Any] = {
        "alertmanager": alertmanager_values(delivery) if delivery and delivery.sends else {"enabled": False},
        "kube-state-metrics": kube_state_metrics_values() if delivery else {"enabled": False},
        "prometheus-pushgateway": {"enabled": False}, "prometheus-node-exporter": {"enabled": False},
        "server": {"retention": "2d", "persistentVolume": {"enabled": False},
                   "global": {"scrape_interval": "15s"},
                   "securityContext": {**RESTRICTED_POD, "runAsUser": PROMETHEUS_USER, "runAsGroup": PROMETHEUS_USER,
                                       "fsGroup": PROMETHEUS_USER},
                   "containerSecurityContext": RESTRICTED_CONTAINER},
        "configmapReload": {"prometheus": {"containerSecurityContext": RESTRICTED_CONTAINER}},
    }
    if alert_rules:
        values["serverFiles"] = {"alerting_rules.yml": alert_rules}
    return values


def receiver_secret_data(delivery: Delivery, secrets: Mapping[str, pulumi.Input[str] | None]
                         ) -> dict[str, pulumi.Input[str]]:
    """The Secret's keys: each receiver secret the delivery reads and the stack sets (config `alerting:*`)."""
    return {RECEIVER_KEYS[k]: secrets[k] for k in delivery.secret_keys if secrets.get(k) is not None}  # type: ignore[misc]


# Receivers are outside the cluster: any public address, never private ranges or link-local (metadata).
NOT_INTERNET = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


def receiver_egress_policy(delivery: Delivery, namespace: str) -> dict[str, Any] | None:
    """Alertmanager -> its receivers (HTTPS webhooks, the SMTP relay's port); None when it sends nowhere.
    Its ingress (Prometheus on 9093) and DNS are the namespace's policies (components/cluster/kubernetes_base.py)."""
    if not delivery.egress_ports:
        return None
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "allow-alertmanager-receivers", "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "pulumi"}},
            "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}},
                     "policyTypes": ["Egress"],
                     "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_INTERNET)}}],
                                 "ports": [{"protocol": "TCP", "port": p} for p in delivery.egress_ports]}]}}


# Pulumi config secrets (namespace `alerting`) that fill the receiver Secret.
ALERTING_SECRETS = {"oncall": "webhookUrl", "heartbeat": "heartbeatUrl", "smtp": "smtpPassword"}


def keda_values() -> dict[str, Any]:
    components = ("operator", "metricServer", "webhooks")
    return {"podSecurityContext": {c: dict(RESTRICTED_POD) for c in components},
            "securityContext": {c: dict(RESTRICTED_CONTAINER) for c in components},
            "resources": {"operator": {"requests": {"cpu": "100m", "memory": "128Mi"}}}}


def wait_timeouts(seconds: int) -> pulumi.CustomTimeouts:
    """The engine's wait for a workload: the plan's start-time budget, not the provider's 10 minutes."""
    return pulumi.CustomTimeouts(create=f"{seconds}s", update=f"{seconds}s")


def _release(name: str, chart: Chart, values: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        name, name=chart.name, chart=chart.name, version=chart.version, namespace=chart.namespace,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo), values=values,
        atomic=True, cleanup_on_fail=True, opts=opts)


@dataclass(frozen=True)
class ServingWorkloadArgs:
    serving: RegionServing
    server: ServerSettings
    cluster_name: str
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    bucket_uri: pulumi.Input[str] | None = None  # bucket weights: s3://name or gs://name
    # AWS: pool name -> target group ARN, and the ALB's security group the pods admit.
    target_group_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    alb_security_group_id: pulumi.Input[str] | None = None
    # Where the load balancer's connections and health checks come from (AWS: the VPC, where the ALB
    # lives; GCP: the proxy-only subnet and Google's health checkers).
    load_balancer_sources: tuple[str, ...] = ()
    # What must exist before a server can load (the weights staged in the bucket, the key-check ConfigMap).
    weights_ready: tuple[pulumi.Resource, ...] = ()
    alert_rules: dict | None = None  # the region's Prometheus rule file (infra/planning/monitoring.py)
    alert_delivery: Delivery | None = None  # None: no Alertmanager (alerts visible in Prometheus only)
    key_auth: KeyAuthMount | None = None  # the servers' API-key check (components/serving/api_auth.py)


class ServingWorkload(pulumi.ComponentResource):
    """Kubernetes objects of one region's model servers (the parent's provider targets its cluster)."""

    deployments: dict[str, k8s.apps.v1.Deployment]
    services: dict[str, k8s.core.v1.Service]
    neg_names: dict[str, str]  # GKE: pool -> standalone NEG name

    def __init__(self, name: str, args: ServingWorkloadArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:serving:ServingWorkload", name, None, opts)
        # Fixed object names: a replacement must delete the old object first (the API refuses a duplicate).
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        plan, server, gke = args.serving, args.server, args.serving.cloud == "gcp"
        receivers: list[pulumi.Resource] = []
        if args.alert_delivery is not None and args.alert_delivery.sends:
            # Receiver URLs / SMTP password: Pulumi secrets in a Kubernetes Secret, read by file, never in values.
            config = pulumi.Config("alerting")
            data = receiver_secret_data(args.alert_delivery,
                                        {k: config.get_secret(key) for k, key in ALERTING_SECRETS.items()})
            if data:
                receivers.append(k8s.core.v1.Secret(
                    f"{name}-alert-receivers", type="Opaque", string_data=data,
                    metadata={"name": RECEIVER_SECRET, "namespace": PROMETHEUS.namespace,
                              "labels": {"app.kubernetes.io/managed-by": "pulumi"}}, opts=child))
            egress = receiver_egress_policy(args.alert_delivery, PROMETHEUS.namespace)
            if egress:
                k8s.networking.v1.NetworkPolicy(f"{name}-alertmanager-netpol", **_body(egress), opts=child)
        prometheus = _release(f"{name}-prometheus", PROMETHEUS,
                              prometheus_values(args.alert_rules, args.alert_delivery),
                              pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=receivers)))
        keda = _release(f"{name}-keda", KEDA, keda_values(), child)
        sa = manifests.service_account(dict(args.service_account_annotations))
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=sa["metadata"],
            automount_service_account_token=sa["automountServiceAccountToken"], opts=child)

        def server_args(pool):
            if server.weights_source != "bucket":
                return server.server_args(pool, None)
            if args.bucket_uri is None:
                raise ValueError(f"region {plan.region}: bucket weights need the bucket")
            return pulumi.Output.from_input(args.bucket_uri).apply(lambda uri: server.server_args(pool, uri))

        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol", **_body(manifests.network_policy(list(args.load_balancer_sources),
                                                               PROMETHEUS.namespace, plan.cloud)), opts=child)
        self.deployments, self.services, self.neg_names = {}, {}, {}
        for pool in plan.pools:
            body = manifests.deployment(pool, server, bucket_uri="s3://placeholder")
            body["spec"]["template"]["spec"]["containers"][0]["args"] = server_args(pool)
            if args.key_auth is not None:
                body = args.key_auth.apply(body)
                extra = args.key_auth.args
                body["spec"]["template"]["spec"]["containers"][0]["args"] = pulumi.Output.from_input(
                    server_args(pool)).apply(lambda a, extra=extra: [*extra, *a])
            # KEDA's HPA owns `replicas` after creation: the plan sets the first value only.
            self.deployments[pool.pool] = k8s.apps.v1.Deployment(
                f"{name}-{pool.name}", **_body(body),
                # Wait for the whole rollout: node boot + rounds x (grace + image pull + model load).
                opts=pulumi.ResourceOptions(parent=self, depends_on=[account, *args.weights_ready],
                                            ignore_changes=["spec.replicas"], delete_before_replace=True,
                                            custom_timeouts=wait_timeouts(pool.rollout.wait_seconds
                                                                          if pool.rollout else pool.start_seconds)))
            neg = manifests.neg_name(args.cluster_name, pool) if gke else None
            if neg:
                self.neg_names[pool.pool] = neg
            self.services[pool.pool] = k8s.core.v1.Service(
                f"{name}-{pool.name}", **_body(manifests.service(pool, neg)), opts=child)
            k8s.policy.v1.PodDisruptionBudget(f"{name}-{pool.name}", **_body(manifests.pod_disruption_budget(pool)),
                                              opts=child)
            scaled = manifests.scaled_object(pool, server, PROMETHEUS_URL)
            k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-scaler", api_version=scaled["apiVersion"], kind=scaled["kind"],
                metadata=scaled["metadata"], spec=scaled["spec"],
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True,
                                            depends_on=[keda, prometheus, self.deployments[pool.pool]]))
            if not gke:
                arn = args.target_group_arns.get(pool.pool)
                if arn is None or args.alb_security_group_id is None:
                    raise ValueError(f"region {plan.region}: pool {pool.pool} has no target group")
                binding = manifests.target_group_binding(pool, arn, args.alb_security_group_id)
                # The AWS Load Balancer Controller (installed with the cluster) owns this kind.
                k8s.apiextensions.CustomResource(
                    f"{name}-{pool.name}-tgb", api_version=binding["apiVersion"], kind=binding["kind"],
                    metadata=binding["metadata"], spec=binding["spec"],
                    opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True,
                                                depends_on=[self.services[pool.pool]]))
        self.register_outputs({"deployments": list(self.deployments), "negs": self.neg_names})


def _body(manifest: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of a typed Kubernetes resource: everything but apiVersion/kind."""
    return {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
