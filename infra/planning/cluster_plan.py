"""The cluster plan: per region, the Kubernetes cluster and its node pools, sized by the sizing plan.

Pure (no pulumi import), so it is property-tested directly and the components never re-decide:
- one GPU pool per instance type the sizing plan puts in the region, min = desired = planned nodes
  and max = planned + burst (headroom the autoscaler may use above the plan);
- GPU pools only in zones that offer GPUs (catalog `gpu_zones` ∩ the region's zones), tainted
  `nvidia.com/gpu=true:NoSchedule` and labelled with the GPU model;
- a small system pool, one node per zone, for cluster add-ons;
- API access as the stack names it (`cluster.apiAccess`): `dns-endpoint` (GKE DNS-based endpoint,
  EKS public endpoint limited to the deployer's CIDRs, never wider than a /8) or `private` (runner
  inside the network: EKS security-group rule and GKE control-plane ranges advertised over the VPNs);
- EKS cluster admins by access entry for the named IAM roles (never the creator's implicit admin);
- on GCP a /28 for the control plane that no range of the address plan uses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from infra.catalog import load_catalog
from infra.errors import ConfigError
from infra.planning.cluster_versions import DEFAULT_KUBERNETES_VERSION, GKE_RELEASE_CHANNEL, SUPPORTED
from infra.planning.regions import PlannedStack, RegionPlan

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"  # Kubernetes spelling; EKS wants NO_SCHEDULE, GKE NO_SCHEDULE
GPU_MODEL_LABEL = "rollout.dev/gpu-model"
GPU_COUNT_LABEL = "rollout.dev/gpu-count"
POOL_LABEL = "rollout.dev/pool"
NODE_ROLE_LABEL = "rollout.dev/node-role"
# The label NVIDIA's device plugin chart selects GPU nodes by when no node feature discovery runs.
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"

# System pool machines: general purpose, enough for CoreDNS, CNI, CSI and the device plugin.
SYSTEM_MACHINE = {"aws": "m6i.large", "gcp": "e2-standard-4"}

# GKE accelerator type per GPU model (https://cloud.google.com/compute/docs/gpus, "GPU models").
GKE_ACCELERATOR = {
    "L4": "nvidia-l4",
    "A100-40GB": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100-80GB": "nvidia-h100-80gb",
}

GKE_NAME_MAX = 40  # https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters
MASTER_PREFIX = 28  # GKE private clusters need a /28 for the control plane
API_ACCESS_MODES = ("dns-endpoint", "private")
MIN_ALLOWLIST_PREFIX = 8  # an allow-list entry wider than a /8 is the internet in all but name
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str  # Kubernetes spelling: NoSchedule


GPU_TAINT = Taint(GPU_TAINT_KEY, GPU_TAINT_VALUE, GPU_TAINT_EFFECT)


@dataclass(frozen=True)
class NodePoolPlan:
    """A node pool. Sizes are totals over the pool's zones."""

    name: str
    machine_type: str
    min_nodes: int
    desired_nodes: int
    max_nodes: int
    zones: tuple[str, ...]
    labels: dict[str, str]
    taints: tuple[Taint, ...] = ()
    gpu_model: str | None = None
    gpu_count: int = 0
    accelerator: str | None = None  # GKE accelerator type; None on AWS

    @property
    def is_gpu(self) -> bool:
        return self.gpu_count > 0

    @property
    def initial_per_zone(self) -> int:
        """GKE's initial_node_count is per zone: floor, so the total never exceeds the plan; the
        autoscaler (total limits) and pending serving replicas bring the pool to its minimum."""
        return self.desired_nodes // len(self.zones)


@dataclass(frozen=True)
class ClusterPlan:
    region: str
    cloud: str
    location: str
    name: str
    kubernetes_version: str
    zones: tuple[str, ...]
    system_pool: NodePoolPlan
    gpu_pools: tuple[NodePoolPlan, ...]
    public_api_cidrs: tuple[str, ...]  # EKS public endpoint allow-list (dns-endpoint mode); empty: none
    authorized_networks: tuple[str, ...]  # GKE master authorized networks (the stack's private ranges)
    master_ipv4_cidr: str | None  # GKE control plane /28; None on AWS
    release_channel: str | None  # GKE only
    protect_keys: bool = False  # prod: the Secrets encryption keys carry `protect` (losing one loses the Secrets)
    protect_cluster: bool = False  # prod: the cluster carries `protect` (a replacement is an outage of the region)
    api_access: str = "private"  # one of API_ACCESS_MODES
    runner_cidrs: tuple[str, ...] = ()  # private mode: where the runner sits inside the network
    admin_role_arns: tuple[str, ...] = ()  # EKS cluster-admin access entries (besides the deployer role)
    local_network: str = ""  # this region's own range (NetworkPolicy allows from the region's load balancers)
    # Where the region's public load balancer connects from: on AWS the public subnets (the ALB's nodes;
    # the VPC CNI gives pods VPC addresses, so the whole VPC would admit every pod); on GCP the region's
    # range (Dataplane V2 never matches an ipBlock against the cluster's own pods).
    load_balancer_networks: tuple[str, ...] = ()
    peer_network: str = ""  # the stack's supernet: every region's ranges (MongoDB members in peer regions)

    @property
    def public_endpoint(self) -> bool:
        """A public IP endpoint (EKS only, allow-listed). GKE's DNS endpoint is IAM-gated, not an IP one."""
        return bool(self.public_api_cidrs)

    @property
    def dns_endpoint(self) -> bool:
        """GKE: serve the API on the DNS-based control-plane endpoint (and build the kubeconfig on it)."""
        return self.cloud == "gcp" and self.api_access == "dns-endpoint"

    @property
    def pools(self) -> tuple[NodePoolPlan, ...]:
        return (self.system_pool, *self.gpu_pools)


def cluster_name(environment: str, region: str) -> str:
    return f"rollout-{environment}-{region}".lower()


def master_ipv4_cidr(region: RegionPlan) -> str:
    """The last /28 of the region's network part. On GCP the address plan uses only pieces 0
    (primary) and 1 (services) of the network's eight pieces, and pods live in the block's other
    half (infra/planning/addressing.py), so the last piece, and this /28, is provably unused."""
    network = ipaddress.ip_network(region.addresses.network)
    last = ipaddress.ip_network((int(network.broadcast_address) - 2 ** (32 - MASTER_PREFIX) + 1, MASTER_PREFIX))
    return str(last)


def _pool_name(instance_type: str) -> str:
    return "gpu-" + instance_type.replace(".", "-").lower()


def _system_pool(region: RegionPlan) -> NodePoolPlan:
    zones = region.zones
    return NodePoolPlan(
        name="system", machine_type=SYSTEM_MACHINE[region.cloud], min_nodes=len(zones),
        desired_nodes=len(zones), max_nodes=2 * len(zones), zones=zones,
        labels={NODE_ROLE_LABEL: "system", POOL_LABEL: "system"},
    )


def _gpu_pool(region: RegionPlan, instance_type: str, nodes: int, burst: int,
              problems: list[str]) -> NodePoolPlan | None:
    catalog = load_catalog()
    field = f"sizing.replicas.{region.name}.{instance_type}"
    try:
        itype = catalog.instance_type(region.cloud, instance_type)
    except ConfigError as error:
        problems += [f"{field}: {p}" for p in error.problems]
        return None
    zones = tuple(z for z in region.zones if z in set(region.catalog.gpu_zones))
    if not zones:
        problems.append(
            f"{field}: none of the region's zones {list(region.zones)} offers GPUs (GPU zones of "
            f"{region.location}: {list(region.catalog.gpu_zones)}); raise the region's `zones` or pick "
            f"another region")
        return None
    accelerator = None
    if region.cloud == "gcp":
        accelerator = GKE_ACCELERATOR.get(itype.gpu_model)
        if accelerator is None:
            problems.append(f"{field}: no GKE accelerator type known for GPU model {itype.gpu_model!r}")
            return None
    name = _pool_name(instance_type)
    labels = {
        NODE_ROLE_LABEL: "gpu", POOL_LABEL: name, GPU_MODEL_LABEL: itype.gpu_model,
        GPU_COUNT_LABEL: str(itype.gpu_count), GPU_PRESENT_LABEL: "true",
    }
    return NodePoolPlan(
        name=name, machine_type=instance_type, min_nodes=nodes, desired_nodes=nodes, max_nodes=nodes + burst,
        zones=zones, labels=labels, taints=(GPU_TAINT,), gpu_model=itype.gpu_model, gpu_count=itype.gpu_count,
        accelerator=accelerator,
    )


def _check_cidrs(field: str, cidrs: Sequence[str], problems: list[str], within: str | None = None) -> tuple[str, ...]:
    out = []
    for i, text in enumerate(cidrs):
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as error:
            problems.append(f"{field}[{i}]: {error}")
            continue
        if net.prefixlen < MIN_ALLOWLIST_PREFIX:
            problems.append(f"{field}[{i}]: {text} opens the API to (a large part of) the internet; list the "
                            f"runner's addresses (a /{MIN_ALLOWLIST_PREFIX} or narrower)")
            continue
        if within is not None and not (net.version == 4 and net.subnet_of(ipaddress.ip_network(within))):  # type: ignore[arg-type]
            problems.append(f"{field}[{i}]: {text} is outside the stack supernet {within}: the private links "
                            "route only the stack's own ranges, so a runner there cannot reach the APIs")
            continue
        out.append(str(net))
    return tuple(out)


def _check_admins(admin_role_arns: Sequence[str], problems: list[str]) -> None:
    for i, arn in enumerate(admin_role_arns):
        if not ROLE_ARN.match(arn):
            problems.append(f"cluster.adminRoleArns[{i}]: {arn!r} is not an IAM role ARN "
                            "(arn:aws:iam::<12 digits>:role/<name>)")
    if len(set(admin_role_arns)) != len(admin_role_arns):
        problems.append("cluster.adminRoleArns: lists a role twice (one access entry per principal)")


def _check_access(api_access: str, deployer_cidrs: Sequence[str], runner_cidrs: Sequence[str],
                  supernet: str | None, problems: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(EKS public allow-list, runner ranges) for the mode; every problem appended with its field path."""
    if api_access not in API_ACCESS_MODES:
        problems.append(f"cluster.apiAccess.mode: {api_access!r} is not one of {', '.join(API_ACCESS_MODES)}")
    deployers = _check_cidrs("cluster.apiAccess.deployerCidrs", deployer_cidrs, problems)
    runners = _check_cidrs("cluster.apiAccess.runnerCidrs", runner_cidrs, problems, within=supernet)
    if api_access == "dns-endpoint" and not deployer_cidrs:
        problems.append("cluster.apiAccess.deployerCidrs: dns-endpoint mode needs the runner's egress CIDRs "
                        "(the EKS public endpoint admits only them)")
    if api_access == "dns-endpoint" and runner_cidrs:
        problems.append("cluster.apiAccess.runnerCidrs: only used in private mode")
    if api_access == "private" and not runner_cidrs:
        problems.append("cluster.apiAccess.runnerCidrs: private mode needs the ranges the runner deploys from")
    if api_access == "private" and deployer_cidrs:
        problems.append("cluster.apiAccess.deployerCidrs: private mode has no public endpoint to allow-list")
    return (deployers if api_access == "dns-endpoint" else ()), (runners if api_access == "private" else ())


def cluster_setting_problems(kubernetes_version: str, burst: int, api_access: str | None = None,
                             deployer_cidrs: Sequence[str] = (), runner_cidrs: Sequence[str] = (),
                             admin_role_arns: Sequence[str] = (), supernet: str | None = None) -> list[str]:
    """The stack-wide cluster settings' problems (checked even when other stages fail; `supernet` None:
    the address plan failed, so runner ranges are not checked against it)."""
    problems: list[str] = []
    if kubernetes_version not in SUPPORTED:
        problems.append(f"cluster.kubernetesVersion: {kubernetes_version!r} is not pinned; supported: "
                        f"{', '.join(sorted(SUPPORTED))} (add a row to infra/planning/cluster_versions.py)")
    if burst < 0:
        problems.append(f"sizing.burstReplicas: must be >= 0, got {burst}")
    if api_access is not None:
        _check_access(api_access, deployer_cidrs, runner_cidrs, supernet, problems)
    _check_admins(admin_role_arns, problems)
    return problems


def plan_clusters(plan: PlannedStack, replicas: Mapping[str, Mapping[str, int]], burst: int,
                  kubernetes_version: str = DEFAULT_KUBERNETES_VERSION, api_access: str | None = None,
                  deployer_cidrs: Sequence[str] = (), runner_cidrs: Sequence[str] = (),
                  admin_role_arns: Sequence[str] = ()) -> dict[str, ClusterPlan]:
    """Region name -> its cluster. Raises ConfigError listing every problem.

    `api_access` None (not named): private endpoints and nothing else, clusters no runner can reach; the
    config layer requires `cluster.apiAccess`, so only planning tests rely on this default."""
    problems = cluster_setting_problems(kubernetes_version, burst, api_access, deployer_cidrs, runner_cidrs,
                                        admin_role_arns, plan.addresses.supernet)
    known = {r.name for r in plan.regions}
    problems += [f"sizing.replicas.{name}: no such region in the plan" for name in replicas if name not in known]
    cidrs, runners = _check_access(api_access, deployer_cidrs, runner_cidrs, plan.addresses.supernet,
                                   []) if api_access is not None else ((), ())
    out: dict[str, ClusterPlan] = {}
    for region in plan.regions:
        name = cluster_name(plan.stack_environment, region.name)
        if region.cloud == "gcp" and len(name) > GKE_NAME_MAX:
            problems.append(f"regions.{region.name}.name: cluster name {name!r} is longer than "
                            f"{GKE_NAME_MAX} characters; use a shorter region name")
        pools = []
        for instance_type, nodes in sorted(replicas.get(region.name, {}).items()):
            if nodes < 0:
                problems.append(f"sizing.replicas.{region.name}.{instance_type}: must be >= 0, got {nodes}")
            elif nodes > 0:
                pool = _gpu_pool(region, instance_type, nodes, max(burst, 0), problems)
                if pool:
                    pools.append(pool)
        gcp = region.cloud == "gcp"
        out[region.name] = ClusterPlan(
            region=region.name, cloud=region.cloud, location=region.location, name=name,
            kubernetes_version=kubernetes_version, zones=region.zones, system_pool=_system_pool(region),
            gpu_pools=tuple(pools), public_api_cidrs=() if gcp else cidrs,
            # The region's own range and the runners' ranges (private mode), not the whole supernet: other
            # regions and a compromised peer never reach this control plane (docs/security.md).
            authorized_networks=(region.addresses.network, *runners) if gcp else (),
            master_ipv4_cidr=master_ipv4_cidr(region) if gcp else None,
            release_channel=GKE_RELEASE_CHANNEL if gcp else None,
            protect_keys=plan.stack_environment == "prod", protect_cluster=plan.stack_environment == "prod",
            api_access=api_access or "private", runner_cidrs=runners, admin_role_arns=tuple(admin_role_arns),
            local_network=region.addresses.network, peer_network=plan.addresses.supernet,
            load_balancer_networks=tuple(z.public for z in region.addresses.zones) if not gcp
            else (region.addresses.network,),
        )
    if problems:
        raise ConfigError(problems, title="invalid cluster plan")
    return out


# EKS UpdateNodegroupConfig refuses desiredSize outside [minSize, maxSize]
# (https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html), and with
# desiredSize in ignoreChanges the engine sends the state's (creation-time) desired size with every
# changed min/max (terraform-aws-modules/terraform-aws-eks#2030). A GPU group is therefore created
# with one node and min 0, so the desired size it will always send (1) fits any later [0, max >= 1]:
# the plan's floor is held by the model servers' replicas (KEDA's minReplicaCount), which the cluster
# autoscaler turns into nodes, and the plan's ceiling is maxSize.
EKS_GPU_CREATE_NODES = 1


def eks_scaling(pool: NodePoolPlan) -> tuple[int, int, int]:
    """(minSize, desiredSize at creation, maxSize) for an EKS managed node group of `pool`.

    The system pool's sizes depend only on its zones, never on demand, so they are sent as planned."""
    if not pool.is_gpu:
        return pool.min_nodes, pool.desired_nodes, pool.max_nodes
    return 0, EKS_GPU_CREATE_NODES, max(pool.max_nodes, EKS_GPU_CREATE_NODES)
