"""The rollout plan: everything the components need, decided once from the config.

Pure: no pulumi import. Components translate a `RolloutPlan` into resources and never re-decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.catalog import CloudRegion, load_catalog
from infra.config import RolloutConfig, config_from_stack_file
from infra.errors import ConfigError
from infra.planning.addressing import AddressPlan, AddressRequest, plan_addresses
from infra.planning.api_edge import RegionApiEdge, plan_api_edge
from infra.planning.cluster_plan import ClusterPlan, cluster_setting_problems, plan_clusters
from infra.planning.database import DatabasePlan, plan_database, traffic_by_region
from infra.planning.monitoring import Delivery, MonitoringPlan, Slo, region_targets
from infra.planning.partition import PartitionAccess
from infra.planning.regions import RegionPlan
from infra.planning.residency import ResidencyPlan, plan_residency
from infra.planning.resolver import check_traffic
from infra.planning.serving import RegionServing, ServerSettings, ServingBudgets, plan_serving
from infra.planning.sizing import SizingPlan, SolveOptions, diagnose, plan_sizing, problem_from_config
from infra.planning.sizing.lock import SizingLock, lock_path, pinned_plan, read_lock
from infra.planning.topology import Topology, topology_of
from infra.planning.traffic import TrafficPlan, geolocation_problems, traffic_from_config


@dataclass(frozen=True)
class RolloutPlan:
    """The whole stack's plan: composes the per-region plans and every planner's result."""

    stack_environment: str
    domain: str
    tags: dict[str, str]  # AWS tag keys (kebab-case) -> values; also valid GCP labels
    regions: tuple[RegionPlan, ...]
    addresses: AddressPlan
    sizing: SizingPlan
    topology: Topology
    clusters: dict[str, ClusterPlan] = field(default_factory=dict)  # region name -> its cluster
    serving: dict[str, RegionServing] = field(default_factory=dict)  # region name -> its model servers
    server: ServerSettings | None = None  # the model section's release (regions: RegionServing.server)
    database: DatabasePlan | None = None  # the MongoDB replica set; None without a `mongodb` section
    traffic: TrafficPlan | None = None  # global routing: the Route 53 record tree
    releases: dict[str, RegionRelease] = field(default_factory=dict)  # region name -> what it runs
    monitoring: MonitoringPlan | None = None  # alert thresholds per region, from the sizing and serving plans
    api: dict[str, RegionApiEdge] = field(default_factory=dict)  # region name -> its public edge and key store
    residency: ResidencyPlan | None = None  # the zone-sharded cluster of user data; None without `residency`
    partitions: dict[str, PartitionAccess] = field(default_factory=dict)  # AWS partitions besides `aws`

    def region(self, name: str) -> RegionPlan:
        return next(r for r in self.regions if r.name == name)

    @property
    def aws_regions(self) -> tuple[RegionPlan, ...]:
        return tuple(r for r in self.regions if r.cloud == "aws")

    @property
    def gcp_regions(self) -> tuple[RegionPlan, ...]:
        return tuple(r for r in self.regions if r.cloud == "gcp")


@dataclass(frozen=True)
class RegionRelease:
    """What one region serves and whether it takes user traffic (moved wave by wave by the deploy).

    Serving components take `model` and `image` from here, never from the model section directly,
    and global routing gives a region with `traffic=False` weight 0 (docs/rollout.md).
    """

    model: str
    image: str
    traffic: bool = True


def plan_releases(cfg: RolloutConfig) -> dict[str, RegionRelease]:
    """Each region's pinned release (`rollout.pins`), else the model section's release with traffic."""
    out = {}
    for r in cfg.regions:
        pin = cfg.rollout.pins.get(r.name)
        out[r.name] = (RegionRelease(pin.model, pin.image, pin.traffic) if pin is not None
                       else RegionRelease(cfg.model.name, cfg.model.image, True))
    return out


def plan_fleet(cfg: RolloutConfig, sizing_lock: SizingLock | None = None, *, stack: str = "<stack>",
               options: SolveOptions | None = None) -> SizingPlan:
    """The pinned plan when the stack has a lock (checked against the current inputs), else a solve."""
    if sizing_lock is None:
        return plan_sizing(cfg, options)
    return pinned_plan(problem_from_config(cfg), sizing_lock, stack=stack)


def cloud_ordinal(region: CloudRegion) -> int:
    """Rank of a region among the catalog's regions of its cloud (stable: numbers are append-only)."""
    same_cloud = sorted(r.number for r in load_catalog().regions.values() if r.cloud == region.cloud)
    return same_cloud.index(region.number)


def address_requests(cfg: RolloutConfig) -> list[AddressRequest]:
    catalog = load_catalog()
    out = []
    for r in cfg.regions:
        entry = catalog.region(r.cloud, r.location)
        out.append(AddressRequest(name=r.name, cloud=r.cloud, number=entry.number,
                                  cloud_ordinal=cloud_ordinal(entry), zones=entry.zones[: r.zones],
                                  cidr=r.cidr))
    return out


def cluster_access(cfg: RolloutConfig) -> dict[str, Any]:
    """`plan_clusters` keyword arguments from `cluster.apiAccess` and `cluster.adminRoleArns`."""
    access = cfg.cluster.api_access
    return {"api_access": access.mode if access else None,
            "deployer_cidrs": access.deployer_cidrs if access else (),
            "runner_cidrs": access.runner_cidrs if access else (),
            "admin_role_arns": cfg.cluster.admin_role_arns}


@dataclass(frozen=True)
class _Stage:
    """The planned stack without sizing and clusters: what the cluster checks need before solving."""

    stack_environment: str
    regions: tuple[RegionPlan, ...]
    addresses: AddressPlan


def _region_plans(cfg: RolloutConfig, addresses: AddressPlan) -> tuple[RegionPlan, ...]:
    catalog = load_catalog()
    regions = []
    for r in cfg.regions:
        entry = catalog.region(r.cloud, r.location)
        per_zone = cfg.network.nat_per_zone if r.nat_per_zone is None else r.nat_per_zone
        regions.append(RegionPlan(
            name=r.name, cloud=r.cloud, location=r.location, zones=entry.zones[: r.zones],
            nat_gateways=(r.zones if per_zone else 1) if r.cloud == "aws" else 1,
            addresses=addresses.region(r.name),
            flow_log_retention_days=cfg.network.flow_log_retention_days, catalog=entry,
        ))
    return tuple(regions)


def plan_problems(cfg: RolloutConfig) -> list[str]:
    """Every problem every planning stage finds in a parsed config, before anything is solved or built:
    sizing inputs (prices, quotas, reach, capacity), GPU zones, the address plan and the cluster settings.
    Empty list = `build_plan` will succeed. Shared by the program and every CLI through `build_plan`."""
    catalog = load_catalog()
    problems: list[str] = []
    try:
        problem = problem_from_config(cfg)
    except ConfigError as error:
        problems += error.problems
    else:
        problems += diagnose(problem)
    # Route 53 geolocations (the traffic stage), so the sizing CLI refuses what the preview refuses.
    problems += geolocation_problems(cfg)
    for i, r in enumerate(cfg.regions):
        entry = catalog.region(r.cloud, r.location)
        zones = entry.zones[: r.zones]
        if not set(zones) & set(entry.gpu_zones):
            problems.append(
                f"regions[{i}].zones: the first {r.zones} zone(s) of {r.location} ({', '.join(zones)}) offer no "
                f"GPU instances (GPU zones: {', '.join(entry.gpu_zones) or 'none'}); raise zones")
    try:
        addresses = plan_addresses(address_requests(cfg), cfg.network.supernet, cfg.network.region_prefix_length)
    except ConfigError as error:
        problems += error.problems
        problems += cluster_setting_problems(cfg.cluster.kubernetes_version, cfg.sizing.burst_replicas,
                                             **cluster_access(cfg))
    else:
        stage = _Stage(cfg.environment, _region_plans(cfg, addresses), addresses)
        try:
            plan_clusters(stage, {}, cfg.sizing.burst_replicas, kubernetes_version=cfg.cluster.kubernetes_version,
                          **cluster_access(cfg))
        except ConfigError as error:
            problems += error.problems
        if cfg.mongodb is not None:  # the layout's rules do not depend on the traffic order
            try:
                plan_database(stage.regions, {}, cfg.mongodb, cfg.domain)
            except ConfigError as error:
                problems += error.problems
    return problems


# The last few plans, by their inputs: one preview plans once (the offline runner validates and plans
# before the program runs, and the program then asks for the same plan). Compared by equality, never
# by hash, and the plan is frozen, so a hit is the plan those inputs produce.
_RECENT: list[tuple[tuple[Any, ...], RolloutPlan]] = []
_RECENT_SIZE = 4


def build_plan(cfg: RolloutConfig, sizing_lock: SizingLock | None = None, *, stack: str = "<stack>",
               options: SolveOptions | None = None) -> RolloutPlan:
    """config (+ the stack's sizing lock) -> plan: addresses, sizing, links, clusters. Raises one
    ConfigError listing every problem of every stage (`plan_problems`) before solving anything."""
    key = (cfg, sizing_lock, stack, options)
    for seen, plan in _RECENT:
        if seen == key:
            return plan
    plan = _build_plan(cfg, sizing_lock, stack=stack, options=options)
    _RECENT.insert(0, (key, plan))
    del _RECENT[_RECENT_SIZE:]
    return plan


def _build_plan(cfg: RolloutConfig, sizing_lock: SizingLock | None, *, stack: str,
                options: SolveOptions | None) -> RolloutPlan:
    problems = plan_problems(cfg)
    if problems:
        raise ConfigError(problems, title="invalid stack configuration")
    sizing = plan_fleet(cfg, sizing_lock, stack=stack, options=options)
    addresses = plan_addresses(address_requests(cfg), cfg.network.supernet,
                               cfg.network.region_prefix_length)
    regions = _region_plans(cfg, addresses)
    tags = {"owner": cfg.tags.owner, "cost-center": cfg.tags.cost_center,
            "environment": cfg.environment, "managed-by": "pulumi", **cfg.tags.extra}
    plan = RolloutPlan(stack_environment=cfg.environment, domain=cfg.domain, tags=tags,
                       regions=regions, addresses=addresses, sizing=sizing,
                       topology=topology_of(regions, addresses))
    clusters = plan_clusters(plan, sizing.replicas, cfg.sizing.burst_replicas,
                             kubernetes_version=cfg.cluster.kubernetes_version,
                             **cluster_access(cfg))
    releases = plan_releases(cfg)
    serving = plan_serving(clusters, cfg.model.throughput_rps, cfg.serving.model_load_seconds, serving_budgets(cfg))
    # Each region's servers run its release (model and image: the model section or the region's pin).
    serving = {name: replace(rs, server=server_settings(cfg, releases[name])) for name, rs in serving.items()}
    traffic = traffic_from_config(cfg, sizing, frozenset(r for r, rel in releases.items() if not rel.traffic))
    wrong = check_traffic(traffic)
    if wrong:  # the planner's own invariants: a bug, not bad input
        raise RuntimeError("traffic plan fails its resolver check: " + "; ".join(wrong))
    database = None
    if cfg.mongodb is not None:
        database = plan_database(regions, traffic_by_region(sizing.headroom), cfg.mongodb, cfg.domain)
    residency = None
    if cfg.residency is not None and database is not None and cfg.mongodb is not None:
        residency = plan_residency(regions, traffic_by_region(sizing.headroom), cfg.residency, cfg.mongodb,
                                   cfg.domain, database)
    api = plan_api_edge(serving, {n: c.name for n, c in clusters.items()},
                        {t: c.share_of_region for t, c in cfg.api.tiers.items()}, cfg.api.address_share,
                        cfg.serving.max_model_len, cfg.api.refresh_seconds, cfg.api.max_stale_seconds,
                        cfg.api.log_retention_days)
    plan = replace(plan, clusters=clusters, releases=releases, traffic=traffic, serving=serving, database=database,
                   residency=residency,
                   server=server_settings(cfg, RegionRelease(cfg.model.name, cfg.model.image)), api=api,
                   partitions={name: PartitionAccess(name, p.region, tuple(p.allowed_account_ids), p.profile,
                                                     p.role_arn) for name, p in cfg.partitions.items()})
    return replace(plan, monitoring=monitoring_plan(cfg, plan))


def monitoring_plan(cfg: RolloutConfig, plan: RolloutPlan) -> MonitoringPlan:
    """Alert thresholds from what the plan promises (infra/planning/monitoring.py)."""
    m = cfg.monitoring
    targets = region_targets(plan, failover_ceiling=cfg.utilization.failover_ceiling)
    return MonitoringPlan(slo=Slo(availability=m.slo.availability, latency=m.slo.latency,
                                  ttft_seconds=m.slo.ttft_seconds), regions=targets, load_tolerance=m.load_tolerance,
                          emails=tuple(m.emails),
                          delivery=Delivery(kind=m.receiver.kind, heartbeat=m.receiver.heartbeat,
                                            email_to=tuple(m.receiver.email_to), email_from=m.receiver.email_from,
                                            smarthost=m.receiver.smarthost, smtp_username=m.receiver.smtp_username))


def server_settings(cfg: RolloutConfig, release: RegionRelease) -> ServerSettings:
    """The servers' settings for one release; the weights prefix follows the release's model."""
    s = cfg.serving
    return ServerSettings(
        model_name=release.model, image=release.image, weights_source=s.weights.source,
        weights_path=s.weights.path or release.model, hugging_face_model=s.weights.hugging_face_model,
        hugging_face_token_secret=s.weights.hugging_face_token_secret, max_model_len=s.max_model_len,
        gpu_memory_utilization=s.gpu_memory_utilization,
        polling_interval_seconds=s.autoscaling.polling_interval_seconds,
        scale_down_seconds=s.autoscaling.scale_down_seconds,
        revision=s.weights.revision, stage_from_buckets=tuple(sorted(s.weights.stage_from_buckets.items())),
        staging_mib_per_second=s.weights.staging_mib_per_second, weights_gib=cfg.model.weights_gib)


def serving_budgets(cfg: RolloutConfig) -> ServingBudgets:
    m, s = cfg.model, cfg.serving
    return ServingBudgets(
        weights_gib=m.weights_gib, gpu_memory_utilization=s.gpu_memory_utilization,
        tensor_parallel_efficiency=m.tensor_parallel_efficiency, concurrency_per_gpu=m.concurrency_per_gpu,
        utilization=cfg.utilization.normal, failover_ceiling=cfg.utilization.failover_ceiling,
        loader_buffer_gib=s.loader_buffer_gib, runtime_overhead_gib=s.runtime_overhead_gib,
        node_boot_seconds=s.start_time.node_boot_seconds, image_pull_seconds=s.start_time.image_pull_seconds)


def stack_name(stack_file: Path | str) -> str:
    """`Pulumi.prod.yaml` -> `prod`."""
    return Path(stack_file).name.removeprefix("Pulumi.").removesuffix(".yaml")


def validated_config(path: Path | str) -> RolloutConfig:
    """The stack file's config after every check `build_plan` runs before solving (`plan_problems`):
    for commands that need the inputs but not the deployed plan (the sizing CLI re-solving to pin)."""
    cfg = config_from_stack_file(path)
    problems = plan_problems(cfg)
    if problems:
        raise ConfigError(problems, title="invalid stack configuration")
    return cfg


def plan_stack_file(path: Path | str, options: SolveOptions | None = None) -> tuple[RolloutConfig, RolloutPlan]:
    """Read, validate and plan one stack file with its sizing lock (`Pulumi.<stack>.sizing.json` beside
    it), if any: the one validation the CLIs run before any output. Raises one ConfigError."""
    cfg = config_from_stack_file(path)
    return cfg, build_plan(cfg, read_lock(lock_path(path)), stack=stack_name(path), options=options)


def plan_for_stack_file(path: Path | str) -> RolloutPlan:
    """Plan a stack file offline with its sizing lock, if any."""
    return plan_stack_file(path)[1]
