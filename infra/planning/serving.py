"""The serving plan: per region and GPU pool, what the model servers look like.

Pure (no pulumi import), derived from the cluster plan (pools per instance type, GPUs per node) and
the config's measured throughput, so the components never re-decide:
- one vLLM server per GPU when the model fits one GPU (a p4d.24xlarge node runs eight servers of
  `nvidia.com/gpu: 1`); tensor parallelism only where the model needs it, counted with its efficiency
  (infra/planning/server_shape.py, the same shape the sizing buys);
- each pool's load-balancing weight is its capacity in requests/s;
- the autoscaler floor is the plan and its ceiling the pool's max (plan + burst), in servers;
- `--max-num-seqs` and the autoscaling target come from the per-GPU concurrency the throughput was
  measured at (model.concurrencyPerGpu);
- memory: the container limit covers the Run:ai loader buffer (capped by RUNAI_STREAMER_MEMORY_LIMIT),
  the server's runtime and the /dev/shm it mounts, or the plan is refused;
- time: probes sized for the model's load, the rollout's pace (maxUnavailable as a share) and the
  engine's wait sized from node boot + image pull + model load per rollout round (docs/serving.md).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from infra.catalog import load_catalog
from infra.errors import ConfigError
from infra.planning.cluster_plan import ClusterPlan, NodePoolPlan
from infra.planning.server_shape import in_flight_target, max_num_seqs, server_shape

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
SHM_SHARE = 0.25  # /dev/shm (NCCL between tensor-parallel workers) as a share of a server's memory
SHM_MAX_GIB = 64
SHM_SINGLE_GPU_GIB = 1  # one GPU per server: no NCCL peers, /dev/shm only for PyTorch's small IPC buffers
GIB = 1024 ** 3
# Memory-backed emptyDir volumes count against the container's memory limit
# (https://kubernetes.io/docs/concepts/storage/volumes/#emptydir-configuration-example).
# Termination grace: lets in-flight generations finish before a server is replaced.
TERMINATION_GRACE_SECONDS = 120
STAGING_SETUP_SECONDS = 600  # the staging Job: schedule, image pull, pip install of its clients


@dataclass(frozen=True)
class ServingBudgets:
    """The config's numbers the serving plan sizes servers, memory and waits with (defaults = config's)."""

    weights_gib: float = 14.96
    gpu_memory_utilization: float = 0.9
    tensor_parallel_efficiency: Mapping[int, float] | None = None
    concurrency_per_gpu: int = 8
    utilization: float = 0.7  # utilization.normal
    failover_ceiling: float = 0.9  # utilization.failoverCeiling
    loader_buffer_gib: float = 2.0
    runtime_overhead_gib: float = 6.0
    node_boot_seconds: int = 600
    image_pull_seconds: int = 600


@dataclass(frozen=True)
class Rollout:
    """How a pool's Deployment replaces its servers, and how long the engine waits for it.

    maxSurge 0 (every server holds whole GPUs; a surge would wait for nodes the pool may not have) and
    maxUnavailable as a share that keeps the rest of the pool within its failover ceiling at normal load:
    share = 1 - normal utilisation / failover ceiling. Kubernetes resolves the share rounding down and
    uses 1 when both resolve to 0 (ResolveFenceposts, kubernetes/pkg/controller/deployment/util)."""

    max_unavailable_percent: int
    rounds: int  # batches of servers replaced one after another
    round_seconds: int  # termination grace + image pull + model load
    wait_seconds: int  # node boot + rounds x round: the engine's wait (customTimeouts)

    @property
    def max_unavailable(self) -> str:
        return f"{self.max_unavailable_percent}%"


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
    replicas: int  # servers = the pool's planned nodes x servers per node
    tensor_parallel: int  # GPUs per server = the container's nvidia.com/gpu limit
    rps_per_replica: float  # capacity of one server at the latency target
    floor: int  # autoscaler minimum = the plan
    ceiling: int  # autoscaler maximum = the pool's max nodes x servers per node
    zones: tuple[str, ...]
    cpu_request: str
    memory_request: str  # also the limit (Guaranteed memory: a server is never evicted for a neighbour)
    shm_size: str
    probes: Probes
    listener_weight: int = 0  # AWS: forward weight of this pool's target group (capacity share, 1..999)
    servers_per_node: int = 1
    max_num_seqs: int = 256  # vLLM --max-num-seqs
    in_flight_target: float = 1.0  # KEDA: requests in flight per server
    loader_buffer_bytes: int = 2 * GIB  # RUNAI_STREAMER_MEMORY_LIMIT
    memory_need_gib: float = 0.0  # loader buffer + runtime + /dev/shm: what the limit must cover
    start_seconds: int = 0  # node boot + image pull + model load: one server from nothing to ready
    rollout: Rollout | None = None

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
    polling_interval_seconds: int
    scale_down_seconds: int  # HPA scale-down stabilisation (the floor is never 0: no cooldownPeriod)
    # Staging the bucket on a deploy (components/serving/weights_staging.py).
    revision: str = "main"
    stage_from_buckets: tuple[tuple[str, str], ...] = ()  # (cloud, s3://... | gs://...)
    staging_mib_per_second: int = 50
    weights_gib: float = 14.96

    def staging_source(self, cloud: str) -> str:
        """Where a region of `cloud` stages its bucket from: `hf://<repo>@<revision>` or a staged bucket."""
        buckets = dict(self.stage_from_buckets)
        if cloud in buckets:
            return f"{buckets[cloud].rstrip('/')}/{self.weights_path}"
        if self.hugging_face_model is None:
            raise ValueError("staging needs serving.weights.huggingFaceModel or stageFromBuckets")
        return f"hf://{self.hugging_face_model}@{self.revision}"

    @property
    def staging_seconds(self) -> int:
        """The staging Job's budget: installing its clients, then reading and writing every byte once."""
        return STAGING_SETUP_SECONDS + math.ceil(2 * self.weights_gib * 1024 / self.staging_mib_per_second)

    def model_source(self, bucket_uri: str | None) -> str:
        """What `vllm serve` loads: the bucket prefix (s3:// or gs://) or the Hugging Face repo id."""
        if self.weights_source == "bucket":
            if bucket_uri is None:
                raise ValueError("bucket weights need the bucket's URI")
            return f"{bucket_uri.rstrip('/')}/{self.weights_path}"
        return str(self.hugging_face_model)

    def server_args(self, pool: ServingPool, bucket_uri: str | None) -> list[str]:
        """Arguments of the vllm/vllm-openai entrypoint (the OpenAI-compatible server): the one place
        they are built (https://docs.vllm.ai/en/stable/cli/serve.html)."""
        args = ["--model", self.model_source(bucket_uri), "--served-model-name", self.model_name,
                "--tensor-parallel-size", str(pool.tensor_parallel),
                "--gpu-memory-utilization", str(self.gpu_memory_utilization),
                "--max-model-len", str(self.max_model_len),
                # The concurrency the throughput was measured at: beyond it requests queue, and the
                # autoscaler (same number, infra/planning/server_shape.py) adds servers.
                "--max-num-seqs", str(pool.max_num_seqs),
                "--port", str(PORT)]
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


def rollout_for(replicas: int, budgets: ServingBudgets, model_load_seconds: int) -> Rollout:
    """The pool's rollout pace and the engine's wait for it (see `Rollout`)."""
    percent = max(1, math.floor(100 * (1 - budgets.utilization / budgets.failover_ceiling) + 1e-9))
    batch = max(1, math.floor(replicas * percent / 100))
    rounds = math.ceil(replicas / batch)
    round_seconds = TERMINATION_GRACE_SECONDS + budgets.image_pull_seconds + model_load_seconds
    return Rollout(max_unavailable_percent=percent, rounds=rounds, round_seconds=round_seconds,
                   wait_seconds=budgets.node_boot_seconds + rounds * round_seconds)


def _pool(cluster: ClusterPlan, pool: NodePoolPlan, throughput: Mapping[str, float], load_seconds: int,
          budgets: ServingBudgets, problems: list[str]) -> ServingPool | None:
    gpu = pool.gpu_model or ""
    per_gpu = throughput.get(gpu)
    if per_gpu is None:
        problems.append(f"model.throughputRps.{gpu}: region {cluster.region} runs {pool.machine_type} "
                        f"({gpu}) but the model has no throughput for it; add the measured requests/s per GPU")
        return None
    itype = load_catalog().instance_type(cluster.cloud, pool.machine_type)
    shape = server_shape(gpu_count=itype.gpu_count, gpu_memory_gib=itype.gpu_memory_gib, per_gpu_rps=per_gpu,
                         weights_gib=budgets.weights_gib, gpu_memory_utilization=budgets.gpu_memory_utilization,
                         efficiency=budgets.tensor_parallel_efficiency)
    if shape is None:
        problems.append(f"model.weightsGib: region {cluster.region} runs {pool.machine_type} ({itype.gpu_count}x "
                        f"{gpu} {itype.gpu_memory_gib} GiB) but {budgets.weights_gib:g} GiB of weights do not fit "
                        "its GPUs with room for the KV cache")
        return None
    per_node = shape.servers_per_node
    memory_gib = itype.memory_gib * MEMORY_SHARE / per_node
    shm_gib = SHM_SINGLE_GPU_GIB if shape.tensor_parallel == 1 else min(SHM_MAX_GIB, memory_gib * SHM_SHARE)
    need = budgets.loader_buffer_gib + budgets.runtime_overhead_gib + shm_gib
    memory = max(1, math.floor(memory_gib))
    if need > memory:
        problems.append(f"serving.loaderBufferGib: region {cluster.region} {pool.machine_type}: a server needs "
                        f"{need:g} GiB (loader buffer {budgets.loader_buffer_gib:g} + runtime "
                        f"{budgets.runtime_overhead_gib:g} + /dev/shm {shm_gib:g}) but gets {memory} GiB")
        return None
    replicas = pool.desired_nodes * per_node
    return ServingPool(
        region=cluster.region, cloud=cluster.cloud, pool=pool.name, instance_type=pool.machine_type,
        gpu_model=gpu, replicas=replicas, tensor_parallel=shape.tensor_parallel,
        rps_per_replica=shape.rps_per_server, floor=pool.min_nodes * per_node, ceiling=pool.max_nodes * per_node,
        zones=pool.zones,
        cpu_request=f"{max(1000, math.floor(itype.vcpus * CPU_SHARE * 1000 / per_node))}m",
        memory_request=f"{memory}Gi",
        shm_size=_quantity_gib(shm_gib),
        probes=probes_for(load_seconds),
        servers_per_node=per_node,
        max_num_seqs=max_num_seqs(budgets.concurrency_per_gpu, shape.tensor_parallel),
        in_flight_target=in_flight_target(budgets.concurrency_per_gpu, shape.tensor_parallel, budgets.utilization),
        loader_buffer_bytes=math.floor(budgets.loader_buffer_gib * GIB),
        memory_need_gib=need,
        start_seconds=budgets.node_boot_seconds + budgets.image_pull_seconds + load_seconds,
        rollout=rollout_for(replicas, budgets, load_seconds),
    )


def plan_serving(clusters: Mapping[str, ClusterPlan], throughput_rps: Mapping[str, float],
                 model_load_seconds: int, budgets: ServingBudgets | None = None) -> dict[str, RegionServing]:
    """Region name -> its serving plan. Raises ConfigError listing every problem."""
    budgets = budgets or ServingBudgets()
    problems: list[str] = []
    out: dict[str, RegionServing] = {}
    for name, cluster in clusters.items():
        pools = [p for p in (_pool(cluster, gp, throughput_rps, model_load_seconds, budgets, problems)
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
