"""The zone-sharded cluster's Kubernetes object specs as plain dicts (no resources here).

Who talks to whom, on 27017 only (docs/residency.md "Flows"); every other flow stays closed:
- `mongos` (every region) -> every shard member and every config server (it routes and reads the
  cluster's metadata); the serving namespace and the declared clients (reconcile, backup) -> `mongos`;
- shard members <-> config servers (a shard reads and writes the cluster metadata; the balancer on
  the config primary drives the shards);
- the members of one shard among themselves, across that shard's zone regions only: a shard member
  dials no other shard's member and no region outside its zone;
- config servers among themselves.
Inbound ranges: on EKS whatever reaches a member through its NLB (`ip` targets, TCP) arrives from the
NLB's own fixed address (manifests.member_sources); on GKE the internal load balancer keeps the source,
so a member admits the member ranges of the regions its dialers run in (routers run in every region).
"""

from __future__ import annotations

from typing import Any

from components.database.manifests import (
    CLIENT_LABEL,
    DNS_EGRESS,
    SERVING_NAMESPACE,
    TLS_DIR,
    labels,
    local_mongosh,
    pod_security,
    restricted_container_security,
    secret_volume,
)
from infra.planning.database import IMAGE_PULL_SECONDS, PORT, DatabasePlan
from infra.planning.residency import CONFIG_SET, ResidencyPlan, RouterPlan

SHARD_APP = "mongodb-shard"  # a shard's data-bearing members
CONFIG_APP = "mongodb-config"  # the config servers
ROUTER_APP = "mongos"
SET_LABEL = "rollout.dev/replica-set"
ZONE_LABEL = "rollout.dev/residency-zone"  # read by the policy residency-in-zone
ROUTER_SERVICE = "mongos"
ROUTER_TLS = "mongos-tls"
ROUTER_START_SECONDS = 60  # mongos starts and reaches the config servers (no data to recover)
# The engine's wait for the router Deployment (infra/rehearsal/waits.py): image pull and start with 50%
# margin on create; a rolling update replaces the two replicas one after the other.
ROUTER_WAIT_SECONDS = int(1.5 * (IMAGE_PULL_SECONDS + ROUTER_START_SECONDS))


def set_app(set_name: str) -> str:
    return CONFIG_APP if set_name == CONFIG_SET else SHARD_APP


def set_role(set_name: str) -> str:
    return "configsvr" if set_name == CONFIG_SET else "shardsvr"


def set_labels(plan: ResidencyPlan, set_name: str) -> dict[str, str]:
    """The labels that tell one set's pods from another's: the set, and a shard's residency zone."""
    zone = next((s.zone for s in plan.shards if s.name == set_name), None)
    return {SET_LABEL: set_name, **({ZONE_LABEL: zone} if zone else {})}


def _pods(**match: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": dict(match)}}


def _blocks(cidrs) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": c}} for c in dict.fromkeys(cidrs)]


SHARD_PODS = _pods(**{"app.kubernetes.io/name": SHARD_APP})
CONFIG_PODS = _pods(**{"app.kubernetes.io/name": CONFIG_APP})
ROUTER_PODS = _pods(**{"app.kubernetes.io/name": ROUTER_APP})
CLIENT_PODS = _pods(**{CLIENT_LABEL: "true"})
SERVING = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": SERVING_NAMESPACE}}}


def inbound_sources(rs: DatabasePlan, region: str, cloud: str, ranges: dict[str, tuple[str, ...]]) -> list[str]:
    """Where a member of `rs` in `region` sees dialers arrive from outside its own cluster's pods: its own
    NLBs' fixed addresses (EKS), and every other region's member ranges (routers run everywhere)."""
    own = list(rs.member_addresses(region)) if cloud == "aws" else []
    return [*own, *(c for name, cidrs in ranges.items() if name != region for c in cidrs)]


def shard_policy(plan: ResidencyPlan, set_name: str, region: str, cloud: str,
                 ranges: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """One shard's members in one region: in from its own set, the config servers, the routers, the
    declared clients and the other regions' routers; out to its own set and the config servers only."""
    rs = plan.shard(next(s.zone for s in plan.shards if s.name == set_name)).replica_set
    own = _pods(**{SET_LABEL: set_name})
    return {
        "podSelector": {"matchLabels": {SET_LABEL: set_name}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [own, CONFIG_PODS, ROUTER_PODS, CLIENT_PODS,
                              *_blocks(inbound_sources(rs, region, cloud, ranges))],
                     "ports": [{"protocol": "TCP", "port": PORT}]}],
        "egress": [{"to": [own, CONFIG_PODS, *_blocks([*rs.member_addresses(),
                                                       *plan.config_servers.member_addresses()])],
                    "ports": [{"protocol": "TCP", "port": PORT}]}, DNS_EGRESS],
    }


def all_addresses(plan: ResidencyPlan) -> list[str]:
    return [a for rs in plan.sets() for a in rs.member_addresses()]


def config_policy(plan: ResidencyPlan, region: str, cloud: str, ranges: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The config servers in one region: in from each other, the shards, the routers and the clients; out to
    each other and the shards (the balancer on the config primary drives chunk moves)."""
    cfg = plan.config_servers
    return {
        "podSelector": {"matchLabels": {SET_LABEL: CONFIG_SET}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [CONFIG_PODS, SHARD_PODS, ROUTER_PODS, CLIENT_PODS,
                              *_blocks(inbound_sources(cfg, region, cloud, ranges))],
                     "ports": [{"protocol": "TCP", "port": PORT}]}],
        "egress": [{"to": [CONFIG_PODS, SHARD_PODS, *_blocks(all_addresses(plan))],
                    "ports": [{"protocol": "TCP", "port": PORT}]}, DNS_EGRESS],
    }


def router_policy(plan: ResidencyPlan) -> dict[str, Any]:
    """`mongos`: in from the serving namespace and the declared clients; out to every shard member and
    config server (their pods here, their load balancer addresses elsewhere)."""
    return {
        "podSelector": ROUTER_PODS["podSelector"],
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [SERVING, CLIENT_PODS], "ports": [{"protocol": "TCP", "port": PORT}]}],
        "egress": [{"to": [SHARD_PODS, CONFIG_PODS, *_blocks(all_addresses(plan))],
                    "ports": [{"protocol": "TCP", "port": PORT}]}, DNS_EGRESS],
    }


def clients_policy(plan: ResidencyPlan) -> dict[str, Any]:
    """The declared clients (the sharded reconcile Job, the shards' backups) dial the routers, the shards
    and the config servers."""
    return {
        "podSelector": {"matchLabels": {CLIENT_LABEL: "true"}},
        "policyTypes": ["Egress"],
        "egress": [{"to": [ROUTER_PODS, SHARD_PODS, CONFIG_PODS, *_blocks(all_addresses(plan))],
                    "ports": [{"protocol": "TCP", "port": PORT}]}, DNS_EGRESS],
    }


def mongos_args(plan: ResidencyPlan) -> list[str]:
    """https://www.mongodb.com/docs/manual/reference/program/mongos/: the config servers by their fixed
    names; TLS and x.509 cluster auth as the members (mongos presents a member certificate)."""
    cfg = plan.config_servers
    configdb = f"{cfg.replica_set}/" + ",".join(f"{m.host}:{PORT}" for m in cfg.members)
    return ["--configdb", configdb, "--bind_ip_all", "--port", str(PORT),
            "--tlsMode", "requireTLS", "--tlsCertificateKeyFile", f"{TLS_DIR}/tls.pem",
            "--tlsCAFile", f"{TLS_DIR}/ca.pem", "--clusterAuthMode", "x509",
            "--tlsAllowConnectionsWithoutCertificates"]


def router_deployment_spec(plan: ResidencyPlan, router: RouterPlan, image: str) -> dict[str, Any]:
    """Two stateless routers spread over two zones (required: one zone's loss leaves one), PSA restricted."""
    pod_labels = labels(router.region, app=ROUTER_APP)
    ping = [*local_mongosh(as_member=False), "--eval", "db.adminCommand({ping: 1}).ok"]
    return {
        "replicas": router.replicas,
        "selector": {"matchLabels": pod_labels},
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "securityContext": pod_security(),
                "automountServiceAccountToken": False,
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                               "whenUnsatisfiable": "DoNotSchedule",
                                               "labelSelector": {"matchLabels": pod_labels}}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{
                        "key": "topology.kubernetes.io/zone", "operator": "In",
                        "values": list(router.zones)}]}]}}},
                "containers": [{
                    "name": "mongos", "image": image, "command": ["mongos"], "args": mongos_args(plan),
                    "ports": [{"name": "mongodb", "containerPort": PORT}],
                    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
                    # mongos keeps no data: only /tmp (an emptyDir) is writable.
                    "securityContext": {**restricted_container_security(), "readOnlyRootFilesystem": True},
                    "readinessProbe": {"exec": {"command": ping}, "periodSeconds": 10, "timeoutSeconds": 8,
                                       "failureThreshold": 3},
                    "livenessProbe": {"exec": {"command": ping}, "initialDelaySeconds": 30, "periodSeconds": 20,
                                      "timeoutSeconds": 10, "failureThreshold": 6},
                    "volumeMounts": [{"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                                     {"name": "tmp", "mountPath": "/tmp"}]}],
                "volumes": [secret_volume("tls", ROUTER_TLS), {"name": "tmp", "emptyDir": {}}],
            },
        },
    }


def sharding_setup(plan: ResidencyPlan, namespace: str) -> dict[str, Any]:
    """What the sharding script applies through `mongos`: each shard by its members' names, then the
    planner's commands (zones, ranges, the collection with the compound hashed key)."""
    return {"shards": [{"name": s.name, "hosts": [f"{m.host}:{PORT}" for m in s.replica_set.members]}
                       for s in plan.shards],
            "namespace": namespace,
            "commands": plan.setup_commands(namespace)}
