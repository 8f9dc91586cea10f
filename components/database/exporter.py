"""The region's MongoDB exporter: member health, replication lag and the oplog window for the region's
Prometheus (the database alerts of infra/planning/monitoring.py).

Percona's mongodb_exporter v0.53.0 (https://github.com/percona/mongodb_exporter/tree/v0.53.0, read at that
tag): `MONGODB_URI` (main.go), `--collector.replicasetstatus` gives `mongodb_members_health{member_idx,
member_state}` (replSetGetStatus members, exporter/metrics.go processSlice), `--collector.diagnosticdata`
with `--compatible-mode` gives `mongodb_mongod_replset_member_replication_lag{name,state}` and
`mongodb_mongod_replset_oplog_{head,tail}_timestamp` (exporter/v1_compatibility.go replSetMetrics,
oplogStatus), `mongodb_up` (exporter/general_collector.go). The image runs as 65535:65535 from scratch
(Dockerfile) and listens on 9216.

One exporter per region, connected directly to the region's first member by its in-cluster name (a SAN of
the member's certificate): replSetGetStatus from any member reports every member's health and optime, so
each region sees the whole set, and a region whose member is down says so with `mongodb_up`. It logs in as
the `monitor` user (clusterMonitor, and read on `local` for the oplog: the README's "Permissions"; created
by the reconcile Job) with a
SCRAM password over TLS, like the restore user: the URI with the password is a Secret, never in the pod
spec. It is a declared database client (label rollout.dev/mongodb-client), so the members' and the
clients' NetworkPolicies already admit its 27017; this module adds Prometheus' scrape on 9216.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.database.manifests import CLIENT_LABEL, HEADLESS, labels
from infra.planning.database import NAMESPACE, PORT, DatabasePlan, Member

EXPORTER = "mongodb-exporter"
EXPORTER_IMAGE = "percona/mongodb_exporter:0.53.0"
EXPORTER_PORT = 9216
EXPORTER_USER = 65535  # Dockerfile: USER 65535:65535
MONITOR_USER = "monitor"
CA_DIR = "/etc/mongodb-ca"
MONITORING_NAMESPACE = "rollout-system"
PROMETHEUS_SERVER = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server"}


def member_address(plan: DatabasePlan, m: Member) -> str:
    """The member's in-cluster name behind the headless Service (region_database.member_dns_names)."""
    return f"{m.pod}.{HEADLESS}.{NAMESPACE}.svc.cluster.local:{PORT}"


def connection_uri(address: str, password: str) -> str:
    """mongodb://monitor:PASSWORD@member/admin over TLS with the private CA (the password is letters and
    digits: no escaping; components/rollout.py generates it so)."""
    return (f"mongodb://{MONITOR_USER}:{password}@{address}/admin?authSource=admin&tls=true"
            f"&tlsCAFile={CA_DIR}/ca.pem&directConnection=true")


def pod_labels(region: str) -> dict[str, str]:
    return {**labels(region), "app.kubernetes.io/name": EXPORTER, CLIENT_LABEL: "true"}


def pod_spec(secret_name: str) -> dict[str, Any]:
    """Restricted Pod Security: non-root, no capability, RuntimeDefault seccomp, read-only root, no API token."""
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": EXPORTER_USER, "runAsGroup": EXPORTER_USER,
                            "fsGroup": EXPORTER_USER, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "exporter", "image": EXPORTER_IMAGE,
            "args": ["--collector.diagnosticdata", "--collector.replicasetstatus", "--compatible-mode",
                     "--mongodb.direct-connect", f"--web.listen-address=:{EXPORTER_PORT}"],
            "env": [{"name": "MONGODB_URI", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "uri"}}}],
            "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT}],
            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            # The exporter serves only its landing page and /metrics: the listening port is its health.
            "readinessProbe": {"tcpSocket": {"port": EXPORTER_PORT}, "periodSeconds": 10},
            "livenessProbe": {"tcpSocket": {"port": EXPORTER_PORT}, "periodSeconds": 20},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True, "runAsNonRoot": True},
            "volumeMounts": [{"name": "ca", "mountPath": CA_DIR, "readOnly": True}],
        }],
        # ca.pem only (the private CA's certificate): the pod never holds a member's key.
        "volumes": [{"name": "ca", "secret": {"secretName": secret_name, "defaultMode": 0o444,
                                              "items": [{"key": "ca.pem", "path": "ca.pem"}]}}],
    }


def scrape_policy(region: str) -> dict[str, Any]:
    """Ingress: Prometheus' server only, on the metrics port (egress: the clients' policy, 27017 and DNS)."""
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/name": EXPORTER}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": MONITORING_NAMESPACE}},
                "podSelector": {"matchLabels": dict(PROMETHEUS_SERVER)}}],
                "ports": [{"protocol": "TCP", "port": EXPORTER_PORT}]}]}


def declare_exporter(parent: pulumi.Resource, name: str, plan: DatabasePlan, region: str, member: Member,
                     password: pulumi.Input[str], ca_cert_pem: pulumi.Input[str], k8s_provider: k8s.Provider,
                     after: list[pulumi.Resource]) -> k8s.apps.v1.Deployment:
    # Fixed object names: a replacement deletes the old object first (the API refuses a duplicate).
    kube = pulumi.ResourceOptions(parent=parent, provider=k8s_provider, delete_before_replace=True)
    secret = k8s.core.v1.Secret(
        f"{name}-exporter", metadata={"name": EXPORTER, "namespace": NAMESPACE, "labels": labels(region)},
        type="Opaque", string_data={
            "uri": pulumi.Output.secret(pulumi.Output.from_input(password).apply(
                lambda pw: connection_uri(member_address(plan, member), pw))),
            "ca.pem": ca_cert_pem}, opts=kube)
    k8s.networking.v1.NetworkPolicy(
        f"{name}-exporter-netpol", metadata={"name": "allow-mongodb-exporter", "namespace": NAMESPACE,
                                             "labels": labels(region)},
        spec=scrape_policy(region), opts=kube)
    pod = pod_labels(region)
    return k8s.apps.v1.Deployment(
        f"{name}-exporter", metadata={"name": EXPORTER, "namespace": NAMESPACE, "labels": labels(region)},
        spec={"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": EXPORTER}},
              "template": {"metadata": {"labels": pod, "annotations": {
                  "prometheus.io/scrape": "true", "prometheus.io/port": str(EXPORTER_PORT),
                  "prometheus.io/path": "/metrics"}},
                  "spec": pod_spec(EXPORTER)}},
        # It starts in seconds; it waits for the member it dials (the reconcile Job creates its user later:
        # until then `mongodb_up` is 0 and the exporter retries).
        opts=pulumi.ResourceOptions(parent=parent, provider=k8s_provider, depends_on=[secret, *after],
                                    delete_before_replace=True,
                                    custom_timeouts=pulumi.CustomTimeouts(create="5m", update="5m")))
