"""The database's Kubernetes object specs as plain dicts (no resources here), so tests read them directly.

Files a pod reads from a Secret volume are root-owned with the volume's mode; every database pod runs
as the image's `mongodb` user (999) with `fsGroup: 999`, so the kubelet gives the files group 999 and
mode 0440 lets that group read them
(https://kubernetes.io/docs/tasks/configure-pod-container/security-context/#set-the-security-context-for-a-pod).
"""

from __future__ import annotations

import json
from typing import Any

from components.serving.manifests import METADATA_EGRESS_ANNOTATION, METADATA_SERVER
from infra.planning.database import (
    APP_LABEL,
    MAX_LAG_SECONDS,
    PORT,
    STARTUP_PROBE_PERIOD_SECONDS,
    DatabasePlan,
    Member,
)

HEADLESS = "mongodb"
TLS_DIR = "/etc/mongodb/tls"
SCRIPTS_DIR = "/scripts"
SCRIPTS_CONFIG = "mongodb-scripts"
MONGO_UID = 999  # the `mongodb` user of the official image
SECRET_MODE = 0o440  # owner and group (fsGroup) read
CLIENT_LABEL = "rollout.dev/mongodb-client"
SERVING_NAMESPACE = "rollout-serving"
# Object storage and STS / Google APIs are public HTTPS endpoints: 443 to the internet only, never to
# private ranges or link-local (the instance metadata service).
NOT_INTERNET = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")
METADATA_REASON = "GKE metadata server (GKE_METADATA mode): Workload Identity token for the backup bucket"
TLS_HASH_ANNOTATION = "rollout.dev/tls-sha256"


def labels(region: str, member: str | None = None, app: str = APP_LABEL,
           extra: dict[str, str] | None = None) -> dict[str, str]:
    """The database objects' labels; `app` and `extra` (replica set, residency zone) set the sharded
    cluster's members apart from the `mongodb` replica set's, whose labels never change (a StatefulSet's
    selector is immutable)."""
    out = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "rollout",
           "rollout.dev/region": region}
    if member:
        out["app.kubernetes.io/instance"] = member
    out.update(extra or {})
    return out


def pod_security() -> dict[str, Any]:
    return {"runAsUser": MONGO_UID, "runAsGroup": MONGO_UID, "fsGroup": MONGO_UID, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


def restricted_container_security() -> dict[str, Any]:
    """Pod Security 'restricted' (rollout-data enforces it)."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


def secret_volume(name: str, secret: str, items: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"secretName": secret, "defaultMode": SECRET_MODE}
    if items:
        spec["items"] = [{"key": k, "path": k, "mode": SECRET_MODE} for k in items]
    return {"name": name, "secret": spec}


def mongod_args(plan: DatabasePlan, role: str | None = None) -> list[str]:
    """`role`: None (the replica set), "shardsvr" (a shard) or "configsvr" (the config servers)
    (https://www.mongodb.com/docs/manual/reference/program/mongod/#sharded-cluster-options)."""
    return [*([f"--{role}"] if role else []), "--replSet", plan.replica_set, "--bind_ip_all", "--port", str(PORT),
            "--tlsMode", "requireTLS", "--tlsCertificateKeyFile", f"{TLS_DIR}/tls.pem",
            "--tlsCAFile", f"{TLS_DIR}/ca.pem", "--clusterAuthMode", "x509",
            # Members always present their certificate (x.509 membership); the application, backup and
            # restore users authenticate with SCRAM passwords over TLS, without a client certificate.
            "--tlsAllowConnectionsWithoutCertificates",
            # The cache from the container's memory limit, not the node's RAM.
            "--wiredTigerCacheSizeGB", f"{plan.cache_gib:g}", "--dbpath", "/data/db"]


def local_mongosh(*, as_member: bool) -> list[str]:
    """mongosh to this member over localhost; `as_member` authenticates with the member certificate
    (x.509, the internal __system identity) so rs.status() is allowed."""
    base = ["mongosh", "--quiet", "--tls", "--host", "localhost", "--tlsCAFile", f"{TLS_DIR}/ca.pem",
            "--tlsCertificateKeyFile", f"{TLS_DIR}/tls.pem"]
    if as_member:
        base += ["--authenticationMechanism", "MONGODB-X509", "--authenticationDatabase", "$external"]
    return base


# Ready means caught up: PRIMARY, or SECONDARY within MAX_LAG_SECONDS of a visible primary. A member of
# a set not initiated yet (first deploy, or a new member the Job has not added) is ready: nothing to
# catch up to. STARTUP2 (initial sync), RECOVERING, or no primary in sight: not ready, so a rolling
# change (the engine waits for each member StatefulSet before the next) stops there.
READY_JS = (
    "let s; try { s = rs.status(); } catch (e) { if (e.codeName === 'NotYetInitialized') quit(0); throw e; }"
    " const me = s.members.find((m) => m.self); if (me.stateStr === 'PRIMARY') quit(0);"
    " const p = s.members.find((m) => m.stateStr === 'PRIMARY');"
    f" quit(me.stateStr === 'SECONDARY' && p && (p.optimeDate - me.optimeDate) <= {MAX_LAG_SECONDS * 1000} ? 0 : 1);")


def readiness_command() -> list[str]:
    return [*local_mongosh(as_member=True), "--eval", READY_JS]


def ping_command() -> list[str]:
    return [*local_mongosh(as_member=False), "--eval", "db.adminCommand({ping: 1}).ok"]


def member_pod_spec(plan: DatabasePlan, m: Member, reconcile_subject: str, role: str | None = None,
                    app: str = APP_LABEL, scripts_config: str = SCRIPTS_CONFIG) -> dict[str, Any]:
    """One member's pod: mongod pinned to the member's zone; the bootstrap member also runs the
    first-deploy bootstrap beside it (scripts/bootstrap.js, localhost exception). `role`, `app` and
    `scripts_config`: a shard's or the config servers' member (mongod_args, labels)."""
    memory = f"{plan.memory_gib}Gi"
    containers: list[dict[str, Any]] = [{
        "name": "mongod", "image": plan.image, "args": mongod_args(plan, role),
        "ports": [{"name": "mongodb", "containerPort": PORT}],
        # Memory request = limit: the member is never the first evicted under node memory pressure.
        "resources": {"requests": {"cpu": "500m", "memory": memory}, "limits": {"memory": memory}},
        "securityContext": restricted_container_security(),
        # The plan's start budget (MONGOD_START_SECONDS: journal recovery from the last checkpoint)
        # before liveness applies; the engine's wait (member_wait_seconds) covers it.
        "startupProbe": {"exec": {"command": ping_command()}, "periodSeconds": STARTUP_PROBE_PERIOD_SECONDS,
                         "timeoutSeconds": 10, "failureThreshold": plan.startup_probe_failure_threshold()},
        "readinessProbe": {"exec": {"command": readiness_command()}, "periodSeconds": 10, "timeoutSeconds": 8,
                           "failureThreshold": 3},
        "livenessProbe": {"exec": {"command": ping_command()}, "periodSeconds": 20, "timeoutSeconds": 10,
                          "failureThreshold": 6},
        "volumeMounts": [{"name": "data", "mountPath": "/data/db"},
                         {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }]
    volumes: list[dict[str, Any]] = [secret_volume("tls", f"{m.name}-tls"), {"name": "tmp", "emptyDir": {}}]
    if m == plan.bootstrap_member:
        first = {"_id": m.id, "host": f"{m.host}:{PORT}", "votes": 1, "priority": m.priority,
                 "tags": {"region": m.region, "zone": m.zone, "cloud": m.cloud}}
        containers.append({
            "name": "bootstrap", "image": plan.image,
            "command": ["sh", "-c", f"until {' '.join(local_mongosh(as_member=False))} --file "
                                    f"{SCRIPTS_DIR}/bootstrap.js; do sleep 10; done; exec sleep infinity"],
            "env": [{"name": "BOOTSTRAP_MEMBER", "value": json.dumps(first, sort_keys=True)},
                    {"name": "REPLICA_SET", "value": plan.replica_set},
                    *([{"name": "CONFIG_SERVER", "value": "true"}] if role == "configsvr" else []),
                    {"name": "RECONCILE_SUBJECT", "value": reconcile_subject},
                    {"name": "TLS_DIR", "value": TLS_DIR}, {"name": "SCRIPTS_DIR", "value": SCRIPTS_DIR}],
            "resources": {"requests": {"cpu": "10m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            "securityContext": restricted_container_security(),
            "volumeMounts": [{"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                             {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True},
                             {"name": "tmp", "mountPath": "/tmp"}],
        })
        volumes.append({"name": "scripts", "configMap": {"name": scripts_config}})
    return {
        "terminationGracePeriodSeconds": 60,  # a primary steps down on SIGTERM before it exits
        "securityContext": pod_security(),
        "automountServiceAccountToken": False,
        "affinity": {
            # The member's zone is the plan's: its volume and its load balancer address are there.
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                       "values": [m.zone]}]}]}},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100, "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": app}}}}]},
        },
        "containers": containers,
        "volumes": volumes,
    }


def _ip_blocks(cidrs) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": c}} for c in cidrs]


MEMBER_PODS = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": APP_LABEL}}}
DNS_EGRESS = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
              "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def member_sources(plan: DatabasePlan, region: str, cloud: str) -> list[str]:
    """Addresses a member in `region` sees peers (and clients) arrive from, outside its own cluster's pods.

    Every member and client dials members by name, i.e. at their load balancers' fixed addresses. EKS: an
    NLB with `ip` targets over TCP does not preserve the client's address
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html#client-ip-preservation),
    so whatever came through this region's member NLBs arrives from their fixed addresses: those /32s,
    never the VPC's ranges, which (VPC CNI pods take VPC addresses) would admit every pod of the VPC.
    GKE: the internal passthrough load balancer keeps the client's address, so peers arrive from the
    other member regions' ranges; this cluster's own pods are matched by podSelector (Dataplane V2 never
    matches CIDR rules against the cluster's pods). The other regions' ranges are admitted on EKS too:
    none of them contains an address of this VPC."""
    own = list(plan.member_addresses(region)) if cloud == "aws" else []
    return [*own, *plan.ranges_outside(region)]


def members_policy(plan: DatabasePlan, region: str, cloud: str) -> dict[str, Any]:
    """Members accept 27017 only from: the members and declared clients (label rollout.dev/mongodb-client:
    the reconcile Job and the backup) of this namespace, the serving namespace, and `member_sources`; they
    dial only the members, by pod in the cluster and by their fixed load balancer addresses (/32s; a
    member's own region's on EKS too: its name resolves to the NLB), on 27017, and DNS."""
    return {
        "podSelector": MEMBER_PODS["podSelector"],
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [
            MEMBER_PODS,
            {"podSelector": {"matchLabels": {CLIENT_LABEL: "true"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": SERVING_NAMESPACE}}},
            *_ip_blocks(member_sources(plan, region, cloud))], "ports": [{"protocol": "TCP", "port": PORT}]}],
        "egress": [{"to": [MEMBER_PODS, *_ip_blocks(plan.member_addresses())],
                    "ports": [{"protocol": "TCP", "port": PORT}]}, DNS_EGRESS],
    }


def clients_policy(plan: DatabasePlan) -> dict[str, Any]:
    """The declared clients (reconcile Job, backup) dial the members, here and in the other regions, at
    the same places the members dial each other."""
    return {
        "podSelector": {"matchLabels": {CLIENT_LABEL: "true"}},
        "policyTypes": ["Egress"],
        "egress": [{"to": [MEMBER_PODS, *_ip_blocks(plan.member_addresses())],
                    "ports": [{"protocol": "TCP", "port": PORT}]}, DNS_EGRESS],
    }


def backup_policy(cloud: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The backup pod streams to the bucket's HTTPS API (internet, never private or link-local ranges);
    on GKE it also reaches the metadata server for its Workload Identity token (the annotated
    exception the policy pack's k8s-network-policy-narrow accepts: /32s with ports)."""
    egress: list[dict[str, Any]] = [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_INTERNET)}}],
         "ports": [{"protocol": "TCP", "port": 443}]}]
    annotations: dict[str, str] = {}
    if cloud == "gcp":
        egress += [{"to": [{"ipBlock": {"cidr": s["cidr"]}}], "ports": [{"protocol": "TCP", "port": s["port"]}]}
                   for s in METADATA_SERVER]
        annotations[METADATA_EGRESS_ANNOTATION] = METADATA_REASON
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mongodb-backup"}},
            "policyTypes": ["Egress"], "egress": egress}, annotations


def reconcile_job_spec(*, job_labels: dict[str, str], image: str, command: str, env: list[dict[str, Any]],
                       budget_seconds: int, scripts_config_map: str, tls_secret: str) -> dict[str, Any]:
    """The spec of a reconcile Job (replica set or sharded cluster): mongosh with the scripts and the
    client certificate mounted read-only, restricted Pod Security, no service account token, and a
    deadline equal to the plan's budget (the engine waits as long, see the callers' customTimeouts)."""
    return {"backoffLimit": 3, "activeDeadlineSeconds": budget_seconds, "template": {
        "metadata": {"labels": job_labels},
        "spec": {
            "restartPolicy": "OnFailure",
            "automountServiceAccountToken": False,
            # fsGroup: the kubelet gives the Secret's files group 999; mode 0440 lets uid 999 read them.
            "securityContext": pod_security(),
            "containers": [{
                "name": "reconcile", "image": image, "command": ["sh", "-c", command], "env": env,
                "securityContext": restricted_container_security(),
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                "volumeMounts": [{"name": "scripts", "mountPath": "/scripts", "readOnly": True},
                                 {"name": "tls", "mountPath": TLS_DIR, "readOnly": True}]}],
            "volumes": [{"name": "scripts", "configMap": {"name": scripts_config_map, "defaultMode": SECRET_MODE}},
                        secret_volume("tls", tls_secret)],
        }}}
