"""The flows the system needs, and the flows that must stay closed: who -> whom:port, and why.

Each row is checked in every cluster where both ends exist (a row whose source or destination matches
no pod of a cluster does not apply there). Ends are pods (namespace + labels) or named places outside
the pod network, resolved per cluster by `flows.py`:

- `API_SERVER`: the control plane (GKE: masterIpv4CidrBlock; EKS: the cluster's ENIs in the VPC),
  reached through the `kubernetes` Service on 443.
- `LOAD_BALANCER`: where the region's load balancer connects from (AWS: the ALB in the VPC; GCP: the
  proxy-only subnet and Google's health checkers 35.191.0.0/16, 130.211.0.0/22).
- `OBJECT_STORAGE`: the weights bucket's public HTTPS endpoint (a representative address:
  S3 52.216.0.0/15, https://ip-ranges.amazonaws.com/ip-ranges.json; Google APIs 142.250.0.0/15,
  https://www.gstatic.com/ipranges/goog.json).
- `METADATA`: the GKE metadata server seen by pods under Dataplane V2 (169.254.169.254:80 and
  169.254.169.252:988, https://cloud.google.com/kubernetes-engine/docs/how-to/network-policy#network-policy-and-workload-identity).
- `INTERNET`: any public address (TEST-NET-3 203.0.113.0/24 stands for it).
- `PEER_MEMBERS`: MongoDB members of the other regions, dialled by name at their internal load balancers'
  fixed addresses (the NLB's `private-ipv4-addresses`, GKE's `loadBalancerIP`; their network when unknown).
- `KUBE_DNS`: the cluster DNS pods (kube-system, k8s-app=kube-dns), present in every cluster.
- `STRANGER`: a pod in a namespace the program does not manage (`default`), with no labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

API_SERVER, LOAD_BALANCER, OBJECT_STORAGE, METADATA = "api-server", "load-balancer", "object-storage", "metadata"
INTERNET, PEER_MEMBERS, KUBE_DNS, STRANGER = "internet", "peer-members", "kube-dns", "stranger"
PLACES = (API_SERVER, LOAD_BALANCER, OBJECT_STORAGE, METADATA, INTERNET, PEER_MEMBERS, KUBE_DNS, STRANGER)


@dataclass(frozen=True)
class Pods:
    """Pods of one cluster: in `namespaces` (None: any rollout namespace) whose labels include `labels`."""

    namespaces: tuple[str, ...] | None
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str = ""

    def __str__(self) -> str:
        return self.name or f"pods {self.namespaces} {dict(self.labels)}"


End = Pods | str


@dataclass(frozen=True)
class Flow:
    id: str
    source: End
    dest: End
    port: int
    why: str
    required: bool = True  # False: must be closed
    protocol: str = "TCP"
    clouds: tuple[str, ...] = ("aws", "gcp")


ROLLOUT_NAMESPACES = ("rollout-system", "rollout-serving", "rollout-data")
ANY_NAMESPACE = (*ROLLOUT_NAMESPACES, "kube-system")
KEDA_OPERATOR = Pods(("rollout-system",), {"app.kubernetes.io/name": "keda-operator"}, "KEDA operator")
KEDA_METRICS = Pods(("rollout-system",), {"app.kubernetes.io/name": "keda-operator-metrics-apiserver"},
                    "KEDA metrics apiserver")
KEDA_WEBHOOKS = Pods(("rollout-system",), {"app.kubernetes.io/name": "keda-admission-webhooks"},
                     "KEDA admission webhooks")
PROMETHEUS = Pods(("rollout-system",), {"app.kubernetes.io/name": "prometheus",
                                        "app.kubernetes.io/component": "server"}, "Prometheus server")
ALERTMANAGER = Pods(("rollout-system",), {"app.kubernetes.io/name": "alertmanager"}, "Alertmanager")
KUBE_STATE_METRICS = Pods(("rollout-system",), {"app.kubernetes.io/name": "kube-state-metrics"},
                          "kube-state-metrics")
DCGM_EXPORTER = Pods(("rollout-system",), {"app.kubernetes.io/name": "dcgm-exporter"}, "DCGM exporter")
MONGODB_EXPORTER = Pods(("rollout-data",), {"app.kubernetes.io/name": "mongodb-exporter"}, "MongoDB exporter")
VLLM = Pods(("rollout-serving",), {"app.kubernetes.io/name": "vllm"}, "vLLM servers")
MONGODB = Pods(("rollout-data",), {"app.kubernetes.io/name": "mongodb"}, "MongoDB members")
MONGO_CLIENTS = Pods(None, {"rollout.dev/mongodb-client": "true"}, "MongoDB clients (jobs)")
BACKUP = Pods(("rollout-data",), {"app.kubernetes.io/name": "mongodb-backup"}, "MongoDB backup job")
SHARD = Pods(("rollout-data",), {"app.kubernetes.io/name": "mongodb-shard"}, "MongoDB shard members")
CONFIG_SERVERS = Pods(("rollout-data",), {"app.kubernetes.io/name": "mongodb-config"}, "MongoDB config servers")
ROUTER = Pods(("rollout-data",), {"app.kubernetes.io/name": "mongos"}, "mongos routers")
SERVING_PODS = Pods(("rollout-serving",), {}, "rollout-serving pods")
AUTOSCALER = Pods(("kube-system",), {"app.kubernetes.io/instance": "cluster-autoscaler"}, "cluster-autoscaler")
LB_CONTROLLER = Pods(("kube-system",), {"app.kubernetes.io/name": "aws-load-balancer-controller"},
                     "AWS Load Balancer Controller")
ROLLOUT_PODS = Pods(ROLLOUT_NAMESPACES, {}, "every rollout pod")
SYSTEM_PODS = Pods(("rollout-system",), {}, "rollout-system pods")

FLOWS: tuple[Flow, ...] = (
    Flow("dns-udp", ROLLOUT_PODS, KUBE_DNS, 53, "name resolution (Services, member names, buckets)", protocol="UDP"),
    Flow("dns-tcp", ROLLOUT_PODS, KUBE_DNS, 53, "name resolution of large answers"),
    Flow("keda-operator-api", KEDA_OPERATOR, API_SERVER, 443, "KEDA watches ScaledObjects and scales Deployments"),
    Flow("keda-metrics-api", KEDA_METRICS, API_SERVER, 443, "the metrics apiserver authenticates and reads objects"),
    Flow("keda-webhooks-api", KEDA_WEBHOOKS, API_SERVER, 443, "the webhooks read the objects they validate"),
    Flow("api-keda-metrics", API_SERVER, KEDA_METRICS, 6443,
         "the HPA reads external metrics through the APIService (v1beta1.external.metrics.k8s.io)"),
    Flow("api-keda-webhooks", API_SERVER, KEDA_WEBHOOKS, 9443, "admission of ScaledObjects (ValidatingWebhook)"),
    Flow("keda-metrics-operator", KEDA_METRICS, KEDA_OPERATOR, 9666, "the metrics apiserver asks the operator (gRPC)"),
    Flow("prometheus-api", PROMETHEUS, API_SERVER, 443, "kubernetes_sd discovers the pods to scrape"),
    Flow("prometheus-scrape-vllm", PROMETHEUS, VLLM, 8000, "vllm:num_requests_waiting on /metrics"),
    Flow("prometheus-scrape-kube-state-metrics", PROMETHEUS, KUBE_STATE_METRICS, 8080,
         "node and pod state (kube_node_status_condition, kube_pod_status_unschedulable) on /metrics"),
    Flow("kube-state-metrics-api", KUBE_STATE_METRICS, API_SERVER, 443, "kube-state-metrics lists nodes and pods"),
    Flow("prometheus-scrape-dcgm-exporter", PROMETHEUS, DCGM_EXPORTER, 9400,
         "GPU health, XID errors, utilisation and memory (DCGM_FI_DEV_*) on /metrics", clouds=("aws",)),
    Flow("prometheus-scrape-mongodb-exporter", PROMETHEUS, MONGODB_EXPORTER, 9216,
         "member health, replication lag and the oplog window on /metrics"),
    Flow("mongodb-exporter-members", MONGODB_EXPORTER, MONGODB, 27017,
         "the exporter reads replSetGetStatus, diagnostic data and the oplog from its region's member"),
    Flow("prometheus-alertmanager", PROMETHEUS, ALERTMANAGER, 9093, "Prometheus posts firing alerts"),
    Flow("alertmanager-receiver", ALERTMANAGER, INTERNET, 443,
         "notifications and the Watchdog heartbeat to the stack's HTTPS receivers (webhook, heartbeat)"),
    Flow("keda-query-prometheus", KEDA_OPERATOR, PROMETHEUS, 9090,
         "the ScaledObjects' prometheus trigger (Service port 80 -> container 9090)"),
    Flow("lb-vllm", LOAD_BALANCER, VLLM, 8000, "user requests and health checks from the region's load balancer"),
    Flow("vllm-weights", VLLM, OBJECT_STORAGE, 443, "the Run:ai streamer reads the weights from the bucket"),
    Flow("vllm-metadata", VLLM, METADATA, 80, "Workload Identity tokens for the bucket (GKE metadata server)",
         clouds=("gcp",)),
    Flow("vllm-metadata-988", VLLM, METADATA, 988, "Workload Identity tokens (GKE metadata server, Dataplane V2)",
         clouds=("gcp",)),
    Flow("members-out", MONGODB, PEER_MEMBERS, 27017, "replication to the members in the other regions"),
    Flow("members-in", PEER_MEMBERS, MONGODB, 27017, "replication from the members in the other regions"),
    Flow("members-local", MONGODB, MONGODB, 27017, "replication between the region's own members"),
    Flow("clients-members", MONGO_CLIENTS, MONGODB, 27017, "reconcile and backup jobs dial the members"),
    Flow("backup-bucket", BACKUP, OBJECT_STORAGE, 443, "the dump goes to the regional backup bucket"),
    Flow("backup-metadata", BACKUP, METADATA, 80, "Workload Identity tokens for the backup bucket (GKE)",
         clouds=("gcp",)),
    Flow("backup-metadata-988", BACKUP, METADATA, 988, "Workload Identity tokens (GKE metadata server, Dataplane V2)",
         clouds=("gcp",)),
    Flow("autoscaler-api", AUTOSCALER, API_SERVER, 443, "the autoscaler watches pending pods and nodes"),
    Flow("autoscaler-cloud", AUTOSCALER, OBJECT_STORAGE, 443,
         "the autoscaler resizes node groups through the cloud's public API (same public HTTPS path)"),
    Flow("lb-controller-api", LB_CONTROLLER, API_SERVER, 443, "the controller watches Services and bindings"),
    Flow("api-lb-controller", API_SERVER, LB_CONTROLLER, 9443, "the controller's admission webhooks"),
    # The zone-sharded cluster (docs/residency.md "Flows"), within a cluster.
    Flow("serving-router", SERVING_PODS, ROUTER, 27017, "the application reads and writes user data through mongos"),
    Flow("router-shard", ROUTER, SHARD, 27017, "mongos routes user-data operations to the zone's shard"),
    Flow("router-config", ROUTER, CONFIG_SERVERS, 27017, "mongos reads the chunk and zone ranges"),
    Flow("shard-config", SHARD, CONFIG_SERVERS, 27017, "a shard reads and updates the cluster metadata"),
    Flow("config-shard", CONFIG_SERVERS, SHARD, 27017, "the balancer on the config primary drives the shards"),
    Flow("clients-shard", MONGO_CLIENTS, SHARD, 27017, "the sharded reconcile Job and the shard backups"),
    Flow("clients-router", MONGO_CLIENTS, ROUTER, 27017, "the sharded reconcile Job's sharding setup"),
    # Must stay closed.
    Flow("stranger-shard", STRANGER, SHARD, 27017, "a pod outside the cluster's flows never reaches a shard",
         required=False),
    Flow("system-shard", SYSTEM_PODS, SHARD, 27017, "monitoring and autoscaling pods are not database clients",
         required=False),
    Flow("serving-shard", SERVING_PODS, SHARD, 27017, "the application reaches user data only through mongos",
         required=False),
    Flow("internet-router", INTERNET, ROUTER, 27017, "the routers are never public", required=False),
    Flow("internet-mongodb", INTERNET, MONGODB, 27017, "the database is never public", required=False),
    Flow("internet-vllm", INTERNET, VLLM, 8000, "servers are reached only through the load balancer", required=False),
    Flow("stranger-vllm", STRANGER, VLLM, 8000, "no pod outside the load balancer path reaches the servers",
         required=False),
    Flow("stranger-mongodb", STRANGER, MONGODB, 27017, "a non-member, non-client pod never reaches 27017",
         required=False),
    Flow("system-mongodb", SYSTEM_PODS, MONGODB, 27017, "monitoring and autoscaling pods are not database clients",
         required=False),
    Flow("mongodb-vllm", MONGODB, VLLM, 8000, "the database never calls the servers", required=False),
    Flow("stranger-alertmanager", STRANGER, ALERTMANAGER, 9093, "only Prometheus posts alerts (no forged pages, "
         "no silences from other pods)", required=False),
    Flow("vllm-alertmanager", VLLM, ALERTMANAGER, 9093, "the servers never post or silence alerts", required=False),
)
