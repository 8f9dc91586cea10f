"""The serving plan: per region and GPU pool, what the model servers look like.

Pure (no pulumi import), derived from the cluster plan (pools per instance type, GPUs per node) and
the config's measured throughput, so the components never re-decide:
- one vLLM replica per node of the pool (replicas = the pool's planned nodes), tensor parallel over
  all GPUs of the node (GPU limit = the node's GPUs);
- each replica's load-balancing weight is its capacity in requests/s (GPUs x throughput per GPU),
  so an 8-GPU replica weighs eight times a 1-GPU replica of the same GPU model;
- the autoscaler floor is the plan and its ceiling the pool's max (plan + burst);
- probes sized for the model's load time, requests sized to the node.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from infra.catalog import load_catalog
from infra.errors import ConfigError
from infra.planning.cluster_plan import ClusterPlan, NodePoolPlan

SERVING_NAMESPACE = "rollout-serving"  # created with Pod Security `restricted` (components/cluster/kubernetes_base.py)
SERVICE_ACCOUNT = "vllm"
PORT = 8000
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
ALB_MAX_WEIGHT = 999  # forward-action target group weights are 0-999 (ELBv2 TargetGroupTuple.Weight)
STARTUP_PERIOD_SECONDS = 10
# Share of a node's vCPU and memory the server requests: the rest is left to the kubelet, the system
# daemons and the device plugin (allocatable is below capacity on every node type).
CPU_SHARE, MEMORY_SHARE = 0.75, 0.75
SHM_SHARE = 0.25  # /dev/shm (NCCL between tensor-parallel workers) as a share of node memory
SHM_MAX_GIB = 64


@dataclass(frozen=True)
class Probes:
    """Startup allows `model_load_seconds` before liveness may kill the pod mid-load."""

    startup_period: int
    startup_failures: int
    readiness_period: int = 5
    readiness_failures: int = 3
    liveness_period: int = 15
    liveness_failures: int = 4
    timeout: int = 5

    @property
    def startup_budget_seconds(self) -> int:
        return self.startup_period * self.startup_failures


@dataclass(frozen=True)
class ServingPool:
    """The model servers on one GPU pool of one region."""

    region: str
    cloud: str
    pool: str  # node pool name (the node selector value on rollout.dev/pool)
    instance_type: str
    gpu_model: str
    replicas: int  # = the pool's planned nodes: one server per node
    tensor_parallel: int  # = GPUs per node = the container's nvidia.com/gpu limit
    rps_per_replica: float  # capacity of one replica at the latency target
    floor: int  # autoscaler minimum = the plan
    ceiling: int  # autoscaler maximum = the pool's max nodes
    zones: tuple[str, ...]
    cpu_request: str
    memory_request: str
    shm_size: str
    probes: Probes
    listener_weight: int = 0  # AWS: forward weight of this pool's target group (capacity share, 1..999)

    @property
    def capacity_rps(self) -> float:
        return self.replicas * self.rps_per_replica

    @property
    def name(self) -> str:
        """Kubernetes object names of this pool's servers (Deployment, Service, PDB, ScaledObject)."""
        return f"vllm-{self.pool.removeprefix('gpu-')}"


@dataclass(frozen=True)
class ServerSettings:
    """What every region's servers share, from the config's `model` and `serving` sections."""

    model_name: str  # --served-model-name: the name clients send
    image: str
    weights_source: str  # "bucket" | "huggingface"
    weights_path: str  # prefix inside the regional bucket
    hugging_face_model: str | None
    hugging_face_token_secret: str
    max_model_len: int
    gpu_memory_utilization: float
    target_waiting_per_replica: float
    polling_interval_seconds: int
    cooldown_seconds: int

    def model_source(self, bucket_uri: str | None) -> str:
        """What `vllm serve` loads: the bucket prefix (s3:// or gs://) or the Hugging Face repo id."""
        if self.weights_source == "bucket":
            if bucket_uri is None:
                raise ValueError("bucket weights need the bucket's URI")
            return f"{bucket_uri.rstrip('/')}/{self.weights_path}"
        return str(self.hugging_face_model)

    def server_args(self, pool: ServingPool, bucket_uri: str | None) -> list[str]:
        """Arguments of the vllm/vllm-openai entrypoint (the OpenAI-compatible server)."""
        args = ["--model", self.model_source(bucket_uri), "--served-model-name", self.model_name,
                "--tensor-parallel-size", str(pool.tensor_parallel),
                "--gpu-memory-utilization", str(self.gpu_memory_utilization),
                "--max-model-len", str(self.max_model_len), "--port", str(PORT)]
        if self.weights_source == "bucket":
            # https://docs.vllm.ai/en/stable/models/extensions/runai_model_streamer/
            args += ["--load-format", "runai_streamer"]
        return args


@dataclass(frozen=True)
class RegionServing:
    region: str
    cloud: str
    pools: tuple[ServingPool, ...]
    server: ServerSettings | None = None  # the region's release: model, image, shared server settings

    @property
    def capacity_rps(self) -> float:
        return sum(p.capacity_rps for p in self.pools)


def probes_for(model_load_seconds: int) -> Probes:
    return Probes(startup_period=STARTUP_PERIOD_SECONDS,
                  startup_failures=math.ceil(model_load_seconds / STARTUP_PERIOD_SECONDS))


def listener_weights(capacities: Mapping[str, float]) -> dict[str, int]:
    """Integer weights 1..999 proportional to capacity (largest pool = 999)."""
    if not capacities:
        return {}
    top = max(capacities.values())
    return {k: max(1, round(ALB_MAX_WEIGHT * c / top)) for k, c in capacities.items()}


def _quantity_gib(gib: float) -> str:
    return f"{max(1, math.floor(gib))}Gi"


def _pool(cluster: ClusterPlan, pool: NodePoolPlan, throughput: Mapping[str, float], load_seconds: int,
          problems: list[str]) -> ServingPool | None:
    gpu = pool.gpu_model or ""
    per_gpu = throughput.get(gpu)
    if per_gpu is None:
        problems.append(f"model.throughputRps.{gpu}: region {cluster.region} runs {pool.machine_type} "
                        f"({gpu}) but the model has no throughput for it; add the measured requests/s per GPU")
        return None
    itype = load_catalog().instance_type(cluster.cloud, pool.machine_type)
    return ServingPool(
        region=cluster.region, cloud=cluster.cloud, pool=pool.name, instance_type=pool.machine_type,
        gpu_model=gpu, replicas=pool.desired_nodes, tensor_parallel=pool.gpu_count,
        rps_per_replica=pool.gpu_count * per_gpu, floor=pool.min_nodes, ceiling=pool.max_nodes,
        zones=pool.zones,
        cpu_request=f"{max(1000, math.floor(itype.vcpus * CPU_SHARE * 1000))}m",
        memory_request=_quantity_gib(itype.memory_gib * MEMORY_SHARE),
        shm_size=_quantity_gib(min(SHM_MAX_GIB, itype.memory_gib * SHM_SHARE)),
        probes=probes_for(load_seconds),
    )


def plan_serving(clusters: Mapping[str, ClusterPlan], throughput_rps: Mapping[str, float],
                 model_load_seconds: int) -> dict[str, RegionServing]:
    """Region name -> its serving plan. Raises ConfigError listing every problem."""
    problems: list[str] = []
    out: dict[str, RegionServing] = {}
    for name, cluster in clusters.items():
        pools = [p for p in (_pool(cluster, gp, throughput_rps, model_load_seconds, problems)
                             for gp in cluster.gpu_pools) if p is not None]
        weights = listener_weights({p.pool: p.capacity_rps for p in pools})
        pools = [replace(p, listener_weight=weights[p.pool]) for p in pools]
        out[name] = RegionServing(region=name, cloud=cluster.cloud, pools=tuple(pools))
    if problems:
        raise ConfigError(problems, title="invalid serving plan")
    return out


def proxy_only_range(network: str) -> str:
    """GCP: the proxy-only subnet of the regional external Application Load Balancer (Envoy proxies).

    The region's network span is cut in eight pieces; on GCP pieces 0 and 1 hold the primary and
    services ranges and the last /28 of piece 7 the GKE control plane (infra/planning/addressing.py,
    cluster_plan.master_ipv4_cidr), so the first /23 of piece 2 is unused by every other range.
    Google recommends a /23 for proxy-only subnets:
    https://cloud.google.com/load-balancing/docs/proxy-only-subnets#proxy_only_subnet_size"""
    net = ipaddress.ip_network(network)
    piece = list(net.subnets(new_prefix=net.prefixlen + 3))[2]
    return str(next(piece.subnets(new_prefix=max(piece.prefixlen, 23))))
