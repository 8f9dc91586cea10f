"""Typed stack configuration.

One code path: `parse_config(raw)` validates a plain mapping of config keys (without the
`global-ai-rollout:` namespace). `config_from_stack_file` feeds it from `Pulumi.<stack>.yaml`
offline; `config_from_pulumi` feeds it from `pulumi.Config` inside the program. Every problem is
collected into one `ConfigError` with its field path (the YAML key names, camelCase).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.catalog import GEOGRAPHIES, load_catalog
from infra.cron import cron_problem
from infra.errors import ConfigError
from infra.image_ref import image_problem
from infra.planning.api_keys import TIER_PATTERN
from infra.stack_yaml import StackFileError, load_stack_yaml
from infra.tag_rules import tag_problems

# Bounds on numbers (docs/validation.md): every number is finite (no .inf/.nan) and within reach of
# a real deployment; past these the input is a typo, not a plan.
MAX_RPS = 1e7  # per geography; 10 million requests/s
MIN_RPS = 1e-3  # one request per 1000 s: the sizing's resolution
MAX_THROUGHPUT_RPS = 1e4  # per GPU
MIN_THROUGHPUT_RPS = 1e-2  # per GPU: one request per 100 s
MIN_UTILIZATION = 0.05  # target utilisation below 5% is a typo (a fleet 20x its load)
MAX_USD_PER_HOUR = 1e4  # per node
MAX_QUOTA_NODES = 1_000_000  # per region and instance type
MAX_REPLICAS = 1_000  # minReplicasPerRegion, burstReplicas
MAX_LATENCY_MS = 2_000.0  # a round trip budget or measured RTT
MAX_REGIONS = 64  # the tunnel grid holds fewer per cloud anyway (infra/planning/addressing.py)
MAX_GEOGRAPHIES = 1_000
MAX_TEXT = 2_048  # any string value of the config; fields with a documented limit have their own
MAX_KEY = 256  # any mapping key
MAX_ENTRIES = 1_000  # any list or mapping
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy, retentionInDays:
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
CLOUDWATCH_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                             2192, 2557, 2922, 3288, 3653)

Rps = Annotated[float, Field(ge=MIN_THROUGHPUT_RPS, le=MAX_THROUGHPUT_RPS)]
Price = Annotated[float, Field(gt=0, le=MAX_USD_PER_HOUR)]
Quota = Annotated[int, Field(ge=0, le=MAX_QUOTA_NODES)]
Rtt = Annotated[float, Field(ge=0, le=MAX_LATENCY_MS)]

PROJECT = "global-ai-rollout"


class _Model(BaseModel):
    """Strict, immutable, camelCase-in-YAML base for every config section."""

    # strict: "4" is not a number and `true` is not 1 (a quoted number in YAML is a typo to report);
    # allow_inf_nan=False: .inf and .nan never reach the planners.
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, strict=True,
        allow_inf_nan=False,
    )


class RegionConfig(_Model):
    """One serving region: a short name used in resource names, and where it runs."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,14}[a-z0-9]$",
                      description="short name, 3-16 chars, lowercase letters, digits, dashes")
    cloud: Literal["aws", "gcp"]
    location: str = Field(max_length=64, description="provider region, e.g. us-east-1 or europe-west4")
    zones: int = Field(default=3, ge=1, le=6, description="zones (AZs) to spread over")
    cidr: str | None = Field(default=None, max_length=18, description="region block; default from the address plan")
    nat_per_zone: bool | None = Field(
        default=None, description="one NAT gateway per zone (AWS); default: network.natPerZone"
    )

    @field_validator("cidr")
    @classmethod
    def _cidr_is_private_block(cls, value: str | None) -> str | None:
        if value is None:
            return value
        net = ipaddress.ip_network(value, strict=True)  # ValueError -> field error
        if net.version != 4 or not net.is_private or net.subnet_of(ipaddress.ip_network("169.254.0.0/16")):
            raise ValueError("must be a private IPv4 block (RFC 1918), not link-local")
        if not 14 <= net.prefixlen <= 18:
            raise ValueError("region blocks are /14 to /18 (the VPC takes the first half, capped at /16)")
        return value


class NetworkConfig(_Model):
    supernet: str = Field(default="10.0.0.0/8", description="where default region blocks come from")
    nat_per_zone: bool = Field(default=False, description="AWS: one NAT gateway per zone (prod) or one in all")
    flow_log_retention_days: int = Field(default=30, ge=1, le=3653,
                                         description="one of the CloudWatch Logs retention periods")
    region_prefix_length: int = Field(default=15, ge=14, le=18,
                                      description="size of each default region block")

    @field_validator("supernet")
    @classmethod
    def _supernet_private(cls, value: str) -> str:
        net = ipaddress.ip_network(value, strict=True)
        if net.version != 4 or not net.is_private or net.subnet_of(ipaddress.ip_network("169.254.0.0/16")):
            raise ValueError("must be a private IPv4 block (RFC 1918), not link-local")
        if net.prefixlen > 16:
            raise ValueError("the supernet must be /16 or larger (it holds every region's block)")
        return value

    @field_validator("flow_log_retention_days")
    @classmethod
    def _cloudwatch_retention(cls, value: int) -> int:
        if value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts only {', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}; "
                             f"got {value}")
        return value

    @model_validator(mode="after")
    def _prefix_fits(self) -> NetworkConfig:
        if self.region_prefix_length < ipaddress.ip_network(self.supernet).prefixlen:
            raise ValueError(f"regionPrefixLength /{self.region_prefix_length} is larger than the supernet "
                             f"{self.supernet}")
        return self


class TagsConfig(_Model):
    """Required ownership tags; copied to every taggable resource (labels on GCP, lowercased)."""

    owner: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9_-]+$")
    cost_center: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9_-]+$")
    extra: dict[str, str] = Field(default_factory=dict, description="more tags: valid AWS tags and GCP labels")

    @field_validator("extra")
    @classmethod
    def _valid_on_both_clouds(cls, value: dict[str, str]) -> dict[str, str]:
        problems = tag_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value


def _pinned_image(value: str) -> str:
    problem = image_problem(value)
    if problem:
        raise ValueError(f"not an image reference: {problem}")
    last = value.rsplit("/", 1)[-1]
    if "@sha256:" not in value and (":" not in last or last.endswith(":latest")):
        raise ValueError("pin the image by tag or digest (not :latest)")
    return value


class ModelConfig(_Model):
    """The served model and its measured throughput per GPU model (requests/s at the latency target)."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    image: str = Field(min_length=1, max_length=255, pattern=r"^[a-z0-9][A-Za-z0-9._/:@-]*$",
                       description="container image, pinned by tag or digest")
    throughput_rps: dict[str, Rps] = Field(
        min_length=1, description="requests/s one GPU of this model sustains at the latency target"
    )
    # Llama 3.1 8B in bf16: model.safetensors.index.json "total_size" 16060522496 bytes = 14.96 GiB
    # (https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/blob/main/model.safetensors.index.json).
    weights_gib: float = Field(default=14.96, gt=0, le=4096,
                               description="size of the weights files; decides GPUs per server and memory")
    concurrency_per_gpu: int = Field(
        default=8, ge=1, le=1024,
        description="concurrent requests per GPU at which throughputRps was measured "
                    "(vllm bench serve --max-concurrency); sets --max-num-seqs and the autoscaling target")
    tensor_parallel_efficiency: dict[int, float] = Field(
        default_factory=dict, description="per-GPU throughput at tensor parallel N relative to one GPU (measured)")

    @field_validator("image")
    @classmethod
    def _image_pinned(cls, value: str) -> str:
        return _pinned_image(value)

    @field_validator("tensor_parallel_efficiency")
    @classmethod
    def _efficiencies(cls, value: dict[int, float]) -> dict[int, float]:
        bad = sorted(k for k in value if k not in (2, 4, 8))
        if bad:
            raise ValueError(f"tensor parallel degrees are 2, 4 or 8; got {bad}")
        if any(not 0 < v <= 1 for v in value.values()):
            raise ValueError("efficiency is a share of linear scaling: > 0 and <= 1")
        return value

    @field_validator("throughput_rps")
    @classmethod
    def _known_gpus(cls, value: dict[str, float]) -> dict[str, float]:
        known = load_catalog().gpu_models()
        bad = sorted(set(value) - set(known))
        if bad:
            raise ValueError(f"unknown GPU model(s) {', '.join(bad)}; valid: {', '.join(known)}")
        if any(v <= 0 for v in value.values()):
            raise ValueError("throughput must be > 0")
        return value


class DemandConfig(_Model):
    """Peak demand from one user geography: a built-in name or explicit coordinates."""

    geography: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$",
                           description="built-in geography name, or a label when coordinates are given")
    rps: float = Field(ge=MIN_RPS, le=MAX_RPS, description="peak requests per second")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _resolvable(self) -> DemandConfig:
        explicit = (self.latitude is None, self.longitude is None)
        if explicit == (True, True):
            if self.geography not in GEOGRAPHIES:
                raise ValueError(
                    f"geography {self.geography!r} is not built in; give latitude and longitude or "
                    f"use one of: {', '.join(sorted(GEOGRAPHIES))}"
                )
        elif True in explicit:
            raise ValueError("give both latitude and longitude, or neither")
        return self

    @property
    def coordinates(self) -> tuple[float, float]:
        if self.latitude is not None and self.longitude is not None:
            return (self.latitude, self.longitude)
        g = GEOGRAPHIES[self.geography]
        return (g.latitude, g.longitude)


REST_OF_WORLD = "rest-of-world"  # the geography of every location no demand entry lists


class RestOfWorldConfig(_Model):
    """Users in no configured geography: counted (`rps`, planned as the geography `rest-of-world`, served
    from the regions near `latitude`/`longitude` and answered by the default `*` record), or refused on
    purpose (`refuse: true`: no default record, those countries get no answer and the plan names them)."""

    rps: float | None = Field(default=None, ge=MIN_RPS, le=MAX_RPS, description="their peak requests per second")
    latitude: float | None = Field(default=None, ge=-90, le=90, description="where their traffic is planned from")
    longitude: float | None = Field(default=None, ge=-180, le=180)
    refuse: bool = False

    @model_validator(mode="after")
    def _one_mode(self) -> RestOfWorldConfig:
        if self.refuse == (self.rps is not None):
            raise ValueError("give rps (with latitude and longitude) to count them, or refuse: true, not both")
        if self.rps is not None and (self.latitude is None or self.longitude is None):
            raise ValueError("rps needs latitude and longitude: where the rest of the world's traffic is "
                             "planned from (its regions are chosen within the latency budget of that point)")
        return self


class LatencyConfig(_Model):
    normal_ms: float = Field(gt=0, le=MAX_LATENCY_MS,
                             description="round trip budget from a geography to its serving region")
    failover_ms: float = Field(gt=0, le=MAX_LATENCY_MS, description="budget while any one region is lost")
    measured_rtt_ms: dict[str, dict[str, Rtt]] = Field(
        default_factory=dict, description="geography -> region name -> measured RTT overriding estimates"
    )

    @model_validator(mode="after")
    def _ordered(self) -> LatencyConfig:
        if self.failover_ms < self.normal_ms:
            raise ValueError("failoverMs must be >= normalMs")
        return self


class UtilizationConfig(_Model):
    normal: float = Field(default=0.7, ge=MIN_UTILIZATION, le=1)
    failover_ceiling: float = Field(default=0.9, ge=MIN_UTILIZATION, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> UtilizationConfig:
        if self.failover_ceiling < self.normal:
            raise ValueError("failoverCeiling must be >= normal")
        return self


class SizingConfig(_Model):
    min_replicas_per_region: int = Field(default=2, ge=1, le=MAX_REPLICAS,
                                         description="every region serves: at least one GPU node")
    burst_replicas: int = Field(default=2, ge=0, le=MAX_REPLICAS, description="node pool max above the plan")
    quotas: dict[str, dict[str, Quota]] = Field(
        default_factory=dict, description="region name -> instance type -> max nodes"
    )
    prices: dict[str, dict[str, Price]] = Field(
        default_factory=dict, description="region name -> instance type -> USD/h (overrides catalog)"
    )
    instance_types: list[str] | None = Field(
        default=None, min_length=1, description="restrict the candidates to these instance types"
    )


class ApiAccessConfig(_Model):
    """How `pulumi up` (and operators) reach every cluster's API. No mode opens an API to the world.

    - `dns-endpoint`: GKE's DNS-based control-plane endpoint (IAM-authenticated, reachable from anywhere
      with Google credentials, no IP allow-list needed) and the EKS public endpoint limited to
      `deployerCidrs` (the runner's egress addresses). The private IP endpoints stay on for the nodes.
    - `private`: no public endpoint at all; the runner sits inside the stack's network at `runnerCidrs`
      (in the supernet). EKS cluster security groups admit 443 from those ranges and every Cloud Router
      advertises the GKE control-plane ranges over the VPNs.
    """

    mode: Literal["dns-endpoint", "private"]
    deployer_cidrs: list[str] = Field(default_factory=list, max_length=50,
                                      description="dns-endpoint: EKS public API allow-list (the runner's egress)")
    runner_cidrs: list[str] = Field(default_factory=list, max_length=50,
                                    description="private: where the runner sits inside the stack's network")


class ClusterConfig(_Model):
    """Kubernetes in every region (versions pinned in infra/planning/cluster_versions.py)."""

    kubernetes_version: str = Field(default="1.36", description="EKS and GKE minor version")
    api_access: ApiAccessConfig | None = Field(
        default=None, description="how pulumi reaches the cluster APIs; required (see README, Deploy for real)")
    admin_role_arns: list[str] = Field(
        default_factory=list, max_length=50,
        description="IAM roles given EKS cluster-admin access entries (besides the deployer)")


class WeightsConfig(_Model):
    """Where model servers read the weights: a bucket the program creates in each region's cloud
    (read through workload identity), or Hugging Face with a token Secret (documented fallback)."""

    source: Literal["bucket", "huggingface"] = Field(default="bucket")
    path: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._/-]+$",
                             description="prefix inside the bucket; default: model.name")
    hugging_face_model: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$",
                                           description="repo id, e.g. meta-llama/Llama-3.1-8B-Instruct")
    hugging_face_token_secret: str = Field(
        default="hf-token", pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
        description="Kubernetes Secret (key `token`): made by the program from the Pulumi secret "
                    "`huggingface:token` when set, else out of band")
    revision: str = Field(default="main", pattern=r"^[A-Za-z0-9._/-]{1,100}$",
                          description="Hugging Face revision staged (a commit pins the checksums)")
    stage_from_buckets: dict[Literal["aws", "gcp"], str] = Field(
        default_factory=dict,
        description="stage from an existing bucket per cloud (s3:// / gs:// prefix holding a staged copy with "
                    "its weights-manifest.json) instead of Hugging Face")
    staging_mib_per_second: int = Field(default=50, ge=1, le=10_000,
                                        description="the staging Job's copy rate; sizes its wait")

    @model_validator(mode="after")
    def _huggingface_named(self) -> WeightsConfig:
        if self.source == "huggingface" and self.hugging_face_model is None:
            raise ValueError("source huggingface needs huggingFaceModel (the repo id)")
        for cloud, uri in self.stage_from_buckets.items():
            scheme = "s3://" if cloud == "aws" else "gs://"
            if not uri.startswith(scheme) or len(uri) <= len(scheme):
                raise ValueError(f"stageFromBuckets.{cloud}: {uri!r} is not an {scheme} URI")
        return self


class AutoscalingConfig(_Model):
    """KEDA on the requests in flight per server (running + waiting), against the per-GPU concurrency the
    sizing assumes (model.concurrencyPerGpu x the normal utilisation). The floor is the plan (never 0), so
    KEDA's cooldownPeriod (scale to zero only) does not apply: `scaleDownSeconds` is the HPA's scale-down
    stabilisation window."""

    polling_interval_seconds: int = Field(default=15, ge=5, le=300)
    scale_down_seconds: int = Field(default=600, ge=60, le=3600)


class StartTimeConfig(_Model):
    """What a new server waits for before it is ready, besides the model load (docs/serving.md)."""

    node_boot_seconds: int = Field(default=600, ge=30, le=3600,
                                   description="a GPU node from request to Ready (driver and device plugin)")
    image_pull_seconds: int = Field(default=600, ge=10, le=3600, description="the server image pull")


class ServingConfig(_Model):
    """The model server (vLLM OpenAI server) in every region."""

    weights: WeightsConfig = Field(default_factory=WeightsConfig)
    max_model_len: int = Field(default=8192, ge=256, le=1_048_576)
    gpu_memory_utilization: float = Field(default=0.9, gt=0.1, le=0.98)
    model_load_seconds: int = Field(default=900, ge=30, le=7200,
                                    description="worst-case load time; sizes the startup probe")
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)
    start_time: StartTimeConfig = Field(default_factory=StartTimeConfig)
    loader_buffer_gib: float = Field(default=2.0, ge=1.0, le=64.0,
                                     description="Run:ai streamer CPU buffer cap (RUNAI_STREAMER_MEMORY_LIMIT)")
    runtime_overhead_gib: float = Field(default=6.0, ge=1.0, le=256.0,
                                        description="server process memory besides the loader buffer")

class ApiTierConfig(_Model):
    """One client tier: the most of one region's planned capacity a single key of the tier may use."""

    share_of_region: float = Field(gt=0, le=1, description="requests a key may send = share x planned rps")


def _default_tiers() -> dict[str, ApiTierConfig]:
    return {"standard": ApiTierConfig(share_of_region=0.05), "partner": ApiTierConfig(share_of_region=0.25)}


class ApiConfig(_Model):
    """Client API keys and the edge's limits (infra/planning/api_edge.py, docs/security.md)."""

    tiers: dict[str, ApiTierConfig] = Field(default_factory=_default_tiers,
                                            description="tier name (in the key: rk_<tier>_...) -> its share")
    address_share: float = Field(default=0.25, gt=0, le=1,
                                 description="most of a region's planned capacity one client address may use")
    rotation_overlap_hours: int = Field(default=24, ge=0, le=720, description="a rotated key keeps working so long")
    refresh_seconds: int = Field(default=30, ge=5, le=300, description="servers re-read the key store this often")
    max_stale_seconds: int = Field(default=300, ge=30, le=3600,
                                   description="servers refuse every request once the key store is unread so long")
    log_retention_days: int = Field(default=90, ge=1, le=3650, description="load balancer access logs")

    @model_validator(mode="after")
    def _tiers_and_freshness(self) -> ApiConfig:
        bad = [t for t in self.tiers if not re.fullmatch(TIER_PATTERN, t)]
        if bad:
            raise ValueError(f"tier names {bad}: lowercase letters and digits, starting with a letter, at most 16")
        if not self.tiers:
            raise ValueError("at least one tier")
        if self.max_stale_seconds <= 2 * self.refresh_seconds:
            raise ValueError("maxStaleSeconds must exceed two refreshes (one failed fetch must not lock clients out)")
        return self


# Official image, pinned by tag. MongoDB 8.0.17 (2025-12-19) fixes CVE-2025-14847
# (https://www.mongodb.com/docs/manual/release-notes/8.0/); tags: https://hub.docker.com/_/mongo
MONGODB_IMAGE = "mongo:8.0.17"
MAX_REPLICA_SET_MEMBERS = 50  # https://www.mongodb.com/docs/manual/reference/limits/#replica-sets


class MongoDbConfig(_Model):
    """The replica set spanning the regions (infra/planning/database.py decides the layout)."""

    survive_region_loss: bool = Field(
        default=True, description="false: accept a layout that loses its majority with one region (dev only)")
    tie_breaker_region: str | None = Field(
        default=None, description="a region of the stack that holds one voting, never-primary member")
    image: str = Field(default=MONGODB_IMAGE, description="official mongo image, pinned by tag or digest")
    replica_set_name: str = Field(default="rs0", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    storage_gib: int = Field(default=50, ge=10, le=16384, description="volume per member")
    backup_retention_days: int = Field(default=14, ge=1, le=3650, description="days a dump is kept")
    backup_schedule: str = Field(default="17 3 * * *", max_length=200,
                                 description="cron schedule of the dump Job (UTC), as Kubernetes CronJobs read it")
    non_voting_members: dict[str, int] = Field(
        default_factory=dict, description="region name -> extra read-only members (votes 0, priority 0)")
    primary_region: str | None = Field(
        default=None, description="the preferred primary's region; the primary stays there whatever the traffic")
    memory_gib: int = Field(default=4, ge=2, le=1024,
                            description="memory per member (request = limit); the WiredTiger cache follows it")

    @field_validator("image")
    @classmethod
    def _image_pinned(cls, value: str) -> str:
        return _pinned_image(value)

    @field_validator("backup_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem:
            raise ValueError(f"not a schedule Kubernetes runs: {problem}")
        return value

    @field_validator("non_voting_members")
    @classmethod
    def _counts(cls, value: dict[str, int]) -> dict[str, int]:
        if any(v < 0 for v in value.values()):
            raise ValueError("member counts must be >= 0")
        return value


class HealthCheckConfig(_Model):
    """Route 53 health checks of each region's public endpoint (HTTPS, SNI on).

    Route 53 accepts a request interval of 10 or 30 s and a failure threshold of 1-10
    (https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html)."""

    # ResourcePath: at most 255 characters (API_HealthCheckConfig, same page).
    path: str = Field(default="/health", max_length=255, pattern=r"^/[A-Za-z0-9._~/-]*$",
                      description="HTTPS path probed")
    request_interval: Literal[10, 30] = Field(default=30, description="seconds between probes")
    failure_threshold: int = Field(default=3, ge=1, le=10, description="failed probes before unhealthy")


class TrafficConfig(_Model):
    """Global traffic: the Route 53 public zone, health checks, geolocation of user geographies."""

    zone_id: str | None = Field(default=None, pattern=r"^Z[A-Z0-9]{1,31}$",
                                description="an existing public hosted zone to use instead of creating one")
    zone_name: str | None = Field(default=None, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
                                  description="that zone's name (the domain must be inside it)")
    zone_delegated: bool = Field(
        default=False, description="a zone this stack creates is delegated from its parent (its name servers are "
        "in the parent's NS record): certificates can be validated. Until then the first `up` creates the zone "
        "alone (docs/deploy.md, 'A new public zone'); the deploy rehearsal refuses validation before it")
    health_check: HealthCheckConfig = Field(default_factory=HealthCheckConfig)
    geolocations: dict[str, list[str]] = Field(
        default_factory=dict,
        description="geography -> Route 53 locations (DE, US-NY, continent:EU); built-in geographies have defaults")
    endpoint_ttl: int = Field(default=60, ge=0, le=86400, description="TTL of the GCP endpoints' A records")


class GateConfig(_Model):
    """The health gate a region passes before it gets traffic (docs/rollout.md)."""

    health_path: str = Field(default="/health", max_length=512, pattern=r"^/[\x21-\x7e]*$",
                             description="path probed on the regional endpoint")
    probes: int = Field(default=20, ge=1, le=1000, description="probes per gate")
    interval_seconds: float = Field(default=15.0, ge=0, le=3600, description="pause between probes")
    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="highest failed fraction that passes")


class ReleasePinConfig(_Model):
    """What one region runs: set by `python -m infra.ops.deploy` wave by wave, not by hand."""

    model: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    image: str = Field(min_length=1, max_length=255, pattern=r"^[a-z0-9][A-Za-z0-9._/:@-]*$")
    traffic: bool = Field(default=True, description="false: the region takes no user traffic (drained)")

    @field_validator("image")
    @classmethod
    def _image_pinned(cls, value: str) -> str:
        return _pinned_image(value)


class SloConfig(_Model):
    """Per-region service level objectives the alerts burn against (docs/monitoring.md)."""

    availability: float = Field(default=0.999, ge=0.5, lt=1, description="share of model requests without a 5xx")
    latency: float = Field(default=0.99, ge=0.5, lt=1, description="share of requests with a fast first token")
    ttft_seconds: Literal[0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0] = Field(
        default=2.5, description="first-token time of the latency SLO: a vLLM histogram bucket")


class ReceiverConfig(_Model):
    """Where each region's Alertmanager sends (docs/monitoring.md, "Delivery"). The URLs and the SMTP
    password are Pulumi secrets outside this block: `pulumi config set --secret alerting:webhookUrl ...`,
    `alerting:heartbeatUrl`, `alerting:smtpPassword` (unset: the Secret is expected out of band)."""

    kind: Literal["webhook", "email", "none"] = Field(
        default="webhook", description="webhook (also SNS / Pub/Sub through an HTTPS bridge), email, or none")
    heartbeat: bool = Field(default=True, description="send the Watchdog every minute to alerting:heartbeatUrl")
    email_to: list[str] = Field(default_factory=list, max_length=20, description="kind email: recipients")
    email_from: str | None = Field(default=None, max_length=254, description="kind email: sender address")
    smarthost: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$",
                                  description="kind email: SMTP relay host:port (587 for STARTTLS submission)")
    smtp_username: str | None = Field(default=None, max_length=254,
                                      description="kind email: SMTP user (password: alerting:smtpPassword)")

    @model_validator(mode="after")
    def _email_complete(self) -> ReceiverConfig:
        if self.kind == "email" and not (self.email_to and self.email_from and self.smarthost):
            raise ValueError("kind email needs emailTo, emailFrom and smarthost")
        if not self.heartbeat and self.kind != "none":
            raise ValueError("heartbeat may be off only with kind none: the Watchdog's heartbeat proves alerts "
                             "leave the cluster")
        return self


class MonitoringConfig(_Model):
    """Where alerts go: the clouds' alarms to `emails`, Alertmanager to `receiver`."""

    emails: list[str] = Field(default_factory=list, max_length=20,
                              description="alert e-mail recipients (SNS subscriptions, GCP channels)")
    slo: SloConfig = Field(default_factory=SloConfig)
    load_tolerance: float = Field(default=0.10, gt=0, le=1, description="load above plan that alerts")
    receiver: ReceiverConfig = Field(default_factory=ReceiverConfig)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [e for e in value if not re.fullmatch(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}", e)]
        if bad:
            raise ValueError(f"not e-mail addresses: {', '.join(bad)}")
        return value


class RolloutSettingsConfig(_Model):
    """Progressive rollout: a canary region first, then these groups, with a health gate between."""

    canary: str | None = Field(default=None, description="first region; default: the least-loaded one")
    groups: list[list[str]] = Field(default_factory=list,
                                    description="waves after the canary; unnamed regions form a last wave")
    gate: GateConfig = Field(default_factory=GateConfig)
    canary_bake_seconds: float = Field(default=900.0, ge=0, le=86400,
                                       description="the first wave's time under traffic before its second gate")
    bake_seconds: float = Field(default=300.0, ge=0, le=86400,
                                description="every later wave's time under traffic before its second gate")
    pins: dict[str, ReleasePinConfig] = Field(
        default_factory=dict, description="region -> deployed release; absent = the model section's release"
    )


class ResidencyConfig(_Model):
    """Where user data may live (docs/residency.md): residency zones, each a set of regions that may
    hold its users' documents, backups and logs, and the zone of every demand geography.

    Absent: one replica set (the `mongodb` section) holds every document. Present (with a `mongodb`
    section): `infra/planning/residency.py` plans the zone-sharded cluster the program deploys.
    Majority rule (checked with the regions): a zone's shard votes only inside the zone, so it must keep
    a majority when any one availability zone is lost: a one-region zone needs a region with at least 3
    zones (three voting members, one per zone), a two-region zone at least one region with 2 or more
    zones (it holds two of the three votes, in two zones); three or more regions always can. Whether a
    zone also survives the loss of a whole region is reported by the planner, not refused.
    """

    zones: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{0,15}$")],
                Annotated[list[str], Field(min_length=1, max_length=MAX_REGIONS)]] = Field(
        min_length=1, description="residency zone (1-16 lowercase letters/digits) -> regions that may hold its data")
    geographies: dict[str, str] = Field(default_factory=dict, description="demand geography -> residency zone")

    @model_validator(mode="after")
    def _one_zone_per_region(self) -> ResidencyConfig:
        problems = []
        seen: dict[str, str] = {}
        for zone, names in self.zones.items():
            for i, name in enumerate(names):
                if name in seen:
                    where = "earlier in this zone" if seen[name] == zone else f"also in zone {seen[name]!r}"
                    problems.append(f"zones.{zone}[{i}]: region {name!r} is {where} (a region belongs to one zone)")
                seen.setdefault(name, zone)
        for geo, zone in self.geographies.items():
            if zone not in self.zones:
                problems.append(f"geographies.{geo}: no such zone {zone!r} (zones: {', '.join(self.zones)})")
        if problems:
            raise ValueError(" | ".join(problems))
        return self


def _residency_fits(value: ResidencyConfig | None, info: ValidationInfo) -> ResidencyConfig | None:
    """Cross-section checks of `residency` (regions and demand are validated before it): every region is
    configured, every demand geography has a zone, every zone can keep a majority (ResidencyConfig)."""
    if value is None:
        return value
    problems = []
    regions = {r.name: r for r in info.data.get("regions") or ()}
    if "regions" in info.data:
        for zone, names in value.zones.items():
            for i, name in enumerate(names):
                if name not in regions:
                    problems.append(f"zones.{zone}[{i}]: no such region {name!r} (regions: {', '.join(regions)})")
            azs = sorted((regions[n].zones for n in dict.fromkeys(names) if n in regions), reverse=True)
            if len(azs) == 1 and azs[0] < 3:
                problems.append(f"zones.{zone}: one region with {azs[0]} availability zone(s) cannot keep a "
                                f"majority when a zone is lost: give the region 3 zones or add a region to the zone")
            elif len(azs) == 2 and azs[0] < 2:
                problems.append(f"zones.{zone}: two single-zone regions cannot keep a majority when one is lost: "
                                f"give one of them 2 or more zones or add a third region")
    if "demand" in info.data:
        demand = [d.geography for d in info.data["demand"]]
        for i, geo in enumerate(demand):
            if geo not in value.geographies:
                problems.append(f"geographies: demand[{i}] geography {geo!r} is in no zone (map it to one of "
                                f"{', '.join(value.zones)})")
        for geo in value.geographies:
            if geo not in demand:
                problems.append(f"geographies.{geo}: no demand entry has this geography")
    if problems:
        raise ValueError(" | ".join(problems))
    return value


class PartitionConfig(_Model):
    """How the program reaches an AWS partition other than the global one (docs/partitions.md): its own
    credentials (a named profile and/or a role to assume) and accounts. `aws:*` keys configure the global
    partition only; accounts and credentials of one partition do not work in the other
    (https://docs.amazonaws.cn/en_us/aws/latest/userguide/general-info.html)."""

    region: str = Field(pattern=r"^cn-[a-z]+-\d{1,2}$", description="the provider's default region, e.g. cn-north-1")
    profile: str | None = Field(default=None, max_length=128, description="named profile of that partition")
    role_arn: str | None = Field(default=None, max_length=2048,
                                 description="role the provider assumes (arn:aws-cn:iam::<account>:role/<name>)")
    allowed_account_ids: list[Annotated[str, Field(pattern=r"^\d{12}$")]] = Field(
        min_length=1, description="the partition's accounts this stack may touch")

    @model_validator(mode="after")
    def _role_in_partition(self) -> PartitionConfig:
        if self.role_arn is None:
            return self
        match = ROLE_ARN.match(self.role_arn)
        if match is None or not self.role_arn.startswith("arn:aws-cn:"):
            raise ValueError(f"roleArn {self.role_arn!r} is not an aws-cn IAM role ARN "
                             "(arn:aws-cn:iam::<12 digits>:role/<name>)")
        if match.group(1) not in self.allowed_account_ids:
            raise ValueError(f"roleArn: account {match.group(1)} is not in allowedAccountIds")
        return self


class RolloutConfig(_Model):
    """The whole stack configuration, validated and immutable."""

    environment: Literal["dev", "staging", "prod"]
    domain: str = Field(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
    tags: TagsConfig
    regions: list[RegionConfig] = Field(min_length=1, max_length=MAX_REGIONS)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    model: ModelConfig
    demand: list[DemandConfig] = Field(min_length=1, max_length=MAX_GEOGRAPHIES)
    latency: LatencyConfig
    utilization: UtilizationConfig = Field(default_factory=UtilizationConfig)
    sizing: SizingConfig = Field(default_factory=SizingConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)

    mongodb: MongoDbConfig | None = Field(default=None, description="the replica set; absent: none")
    residency: Annotated[ResidencyConfig | None, AfterValidator(_residency_fits)] = Field(
        default=None, description="residency zones of user data (docs/residency.md); absent: one replica set")
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    rollout: RolloutSettingsConfig = Field(default_factory=RolloutSettingsConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    rest_of_world: RestOfWorldConfig | None = Field(
        default=None, description="users in no configured geography: counted (rps) or refused; required")
    api: ApiConfig = Field(default_factory=ApiConfig)  # client keys and edge limits
    partitions: dict[Literal["aws-cn"], PartitionConfig] = Field(
        default_factory=dict, description="AWS partitions besides the global one: credentials per partition")

    def region(self, name: str) -> RegionConfig:
        return next(r for r in self.regions if r.name == name)

    @property
    def planned_demand(self) -> list[DemandConfig]:
        """Every source of demand the plan counts: the configured geographies and the rest of the world."""
        rest = self.rest_of_world
        if rest is None or rest.rps is None:
            return list(self.demand)
        return [*self.demand, DemandConfig(geography=REST_OF_WORLD, rps=rest.rps, latitude=rest.latitude,
                                           longitude=rest.longitude)]


def _cross_checks(cfg: RolloutConfig) -> list[str]:
    """Checks that need the catalog or more than one section."""
    catalog = load_catalog()
    problems: list[str] = []
    names: dict[str, int] = {}
    locations: dict[tuple[str, str], str] = {}
    for i, region in enumerate(cfg.regions):
        path = f"regions[{i}]"
        if region.name in names:
            problems.append(f"{path}.name: {region.name!r} is also regions[{names[region.name]}]")
        names.setdefault(region.name, i)
        key = (region.cloud, region.location)
        if key in locations:
            problems.append(
                f"{path}.location: {region.location} is already used by region {locations[key]!r}"
            )
        locations.setdefault(key, region.name)
        if key not in catalog.regions:
            problems.append(catalog.unknown_region_problem(region.cloud, region.location, f"{path}.location"))
            continue
        available = catalog.regions[key].zones
        if region.zones > len(available):
            problems.append(
                f"{path}.zones: {region.location} has {len(available)} zones in the catalog "
                f"({', '.join(available)}); asked for {region.zones}"
            )
        if region.cloud == "aws" and region.zones < 2:
            problems.append(f"{path}.zones: AWS regions need at least 2 zones (EKS requires it)")
    region_names = set(names)
    supernet = ipaddress.ip_network(cfg.network.supernet)
    for i, region in enumerate(cfg.regions):
        if region.cidr is not None and not ipaddress.ip_network(region.cidr).subnet_of(supernet):
            problems.append(f"regions[{i}].cidr: {region.cidr} is outside network.supernet {cfg.network.supernet}; "
                            "firewalls and peers that admit the supernet would miss this region")
    for section, table in (("sizing.quotas", cfg.sizing.quotas), ("sizing.prices", cfg.sizing.prices)):
        for rname, per_type in table.items():
            if rname not in region_names:
                problems.append(f"{section}.{rname}: no such region; regions: {', '.join(sorted(region_names))}")
                continue
            region = cfg.region(rname)
            for itype in per_type:
                if (region.cloud, itype) not in catalog.instance_types:
                    valid = sorted(n for c, n in catalog.instance_types if c == region.cloud)
                    problems.append(f"{section}.{rname}.{itype}: unknown {region.cloud} instance type; "
                                    f"valid: {', '.join(valid)}")
    if cfg.cluster.api_access is None:
        problems.append("cluster.apiAccess: required: say how pulumi reaches the cluster APIs, "
                        "mode dns-endpoint (with deployerCidrs) or private (with runnerCidrs); see README")
    geos = {d.geography for d in cfg.demand}
    for geo, per_region in cfg.latency.measured_rtt_ms.items():
        if geo not in geos:
            problems.append(f"latency.measuredRttMs.{geo}: no demand entry has this geography")
        for rname in per_region:
            if rname not in region_names:
                problems.append(f"latency.measuredRttMs.{geo}.{rname}: no such region")
    if REST_OF_WORLD in geos:
        problems.append(f"demand: {REST_OF_WORLD!r} is the geography of restOfWorld; give its rps there")
    first_seen: dict[str, int] = {}
    for i, d in enumerate(cfg.demand):
        if d.geography in first_seen:
            problems.append(f"demand[{i}].geography: {d.geography!r} is listed twice "
                            f"(also demand[{first_seen[d.geography]}])")
        first_seen.setdefault(d.geography, i)
    if cfg.sizing.instance_types is not None:
        for i, itype in enumerate(cfg.sizing.instance_types):
            if not any(n == itype for _, n in catalog.instance_types):
                problems.append(f"sizing.instanceTypes[{i}]: unknown instance type {itype!r}")
    problems += _mongodb_checks(cfg, region_names)
    problems += _traffic_problems(cfg)
    problems += _rollout_problems(cfg, region_names)
    served = {catalog.instance_types[k].gpu_model for k in catalog.instance_types}
    if not served & set(cfg.model.throughput_rps):
        problems.append("model.throughputRps: no catalogued GPU model has a throughput")
    problems += _serving_checks(cfg)
    problems += _partition_problems(cfg)
    return problems


def _partition_problems(cfg: RolloutConfig) -> list[str]:
    """Every partition a region is in has its credentials (`partitions.<name>`), and none is configured
    for nothing; the partition rules of the regions themselves are in infra/planning/partition_rules.py."""
    catalog = load_catalog()
    used: dict[str, int] = {}  # partition -> the first region in it
    for i, r in enumerate(cfg.regions):
        if (r.cloud, r.location) in catalog.regions:
            used.setdefault(catalog.regions[(r.cloud, r.location)].partition, i)
    problems = [f"regions[{i}]: {cfg.regions[i].location} is in the {name} partition, which needs its own "
                f"credentials: add partitions.{name} (region, allowedAccountIds, profile and/or roleArn; "
                "docs/partitions.md)" for name, i in sorted(used.items()) if name not in ("aws", "gcp")
                and name not in cfg.partitions]
    problems += [f"partitions.{name}: no region of the stack is in this partition" for name in cfg.partitions
                 if name not in used]
    return problems


def _serving_checks(cfg: RolloutConfig) -> list[str]:
    """An instance type the stack names must have a throughput for its GPU model, else the sizing
    would drop it silently and the serving plan could not weigh its replicas."""
    catalog = load_catalog()
    problems = []
    for i, itype in enumerate(cfg.sizing.instance_types or ()):
        models = {t.gpu_model for (_, n), t in catalog.instance_types.items() if n == itype}
        for gpu in sorted(models - set(cfg.model.throughput_rps)):
            problems.append(f"sizing.instanceTypes[{i}]: {itype} carries GPU model {gpu}, which has no entry in "
                            f"model.throughputRps; add model.throughputRps.{gpu} (requests/s per GPU)")
    weights = cfg.serving.weights
    if weights.source == "bucket" and not weights.stage_from_buckets and weights.hugging_face_model is None:
        problems.append("serving.weights.huggingFaceModel: the weights buckets are created empty and staged on the "
                        "first deploy: give the repo id to stage from (e.g. meta-llama/Llama-3.1-8B-Instruct), or "
                        "stageFromBuckets (aws: s3://..., gcp: gs://..., a staged copy)")
    if weights.source == "bucket" and weights.stage_from_buckets:
        for cloud in sorted({r.cloud for r in cfg.regions} - set(weights.stage_from_buckets)):
            problems.append(f"serving.weights.stageFromBuckets.{cloud}: the stack has {cloud} regions; give the "
                            f"{cloud} bucket to stage from (a region copies only within its cloud)")
    for rname, pin in cfg.rollout.pins.items():
        try:
            _pinned_image(pin.image)
        except ValueError as error:
            problems.append(f"rollout.pins.{rname}.image: {error}")
    return problems


def _mongodb_checks(cfg: RolloutConfig, region_names: set[str]) -> list[str]:
    """Names in `mongodb` exist, the opt-out is dev only, member counts stay within MongoDB's limit.
    (Whether a layout can survive a region loss is decided by the planner, which names the fix.)"""
    db = cfg.mongodb
    if db is None:
        return []
    problems = []
    if db.tie_breaker_region is not None and db.tie_breaker_region not in region_names:
        problems.append(f"mongodb.tieBreakerRegion: no such region {db.tie_breaker_region!r}; "
                        f"regions: {', '.join(sorted(region_names))}")
    if db.primary_region is not None and db.primary_region not in region_names:
        problems.append(f"mongodb.primaryRegion: no such region {db.primary_region!r}; "
                        f"regions: {', '.join(sorted(region_names))}")
    for rname in db.non_voting_members:
        if rname not in region_names:
            problems.append(f"mongodb.nonVotingMembers.{rname}: no such region; "
                            f"regions: {', '.join(sorted(region_names))}")
    extra = sum(db.non_voting_members.values())
    if len(cfg.regions) * 2 + extra > MAX_REPLICA_SET_MEMBERS:  # at most two members per region + extras
        problems.append(f"mongodb.nonVotingMembers: {extra} extra members could exceed MongoDB's limit of "
                        f"{MAX_REPLICA_SET_MEMBERS} members per replica set")
    if not db.survive_region_loss and cfg.environment != "dev":
        problems.append(f"mongodb.surviveRegionLoss: false is allowed only in dev (this stack is "
                        f"{cfg.environment}); add a third region or set mongodb.tieBreakerRegion")
    return problems


def _traffic_problems(cfg: RolloutConfig) -> list[str]:
    traffic = cfg.traffic
    if traffic.zone_id and not traffic.zone_name:
        return ["traffic.zoneName: give the name of the existing zone traffic.zoneId names"]
    zone = traffic.zone_name
    if zone and cfg.domain != zone and not cfg.domain.endswith("." + zone):
        return [f"traffic.zoneName: the domain {cfg.domain!r} is not inside zone {zone!r}; "
                "no zone would hold its records"]
    return []


def _rollout_problems(cfg: RolloutConfig, region_names: set[str]) -> list[str]:
    """The rollout section names only configured regions, each at most once."""
    problems: list[str] = []
    rollout = cfg.rollout
    seen: dict[str, str] = {}
    if rollout.canary is not None:
        if rollout.canary not in region_names:
            problems.append(f"rollout.canary: no such region {rollout.canary!r}; regions: "
                            f"{', '.join(sorted(region_names))}")
        seen[rollout.canary] = "rollout.canary"
    for i, group in enumerate(rollout.groups):
        if not group:
            problems.append(f"rollout.groups[{i}]: an empty wave")
        for j, name in enumerate(group):
            path = f"rollout.groups[{i}][{j}]"
            if name not in region_names:
                problems.append(f"{path}: no such region {name!r}")
            elif name in seen:
                problems.append(f"{path}: {name!r} is already in {seen[name]}")
            seen.setdefault(name, path)
    for name in rollout.pins:
        if name not in region_names:
            problems.append(f"rollout.pins.{name}: no such region")
    return problems


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# Plain-words versions of the regex patterns above, for error messages.
_PATTERN_HINTS = {
    "name": "3-16 characters: lowercase letters, digits and dashes, starting with a letter",
    "domain": "a lowercase DNS name such as rollout.example.com",
    "owner": "lowercase letters, digits, '_' or '-' (it becomes a GCP label)",
    "costCenter": "lowercase letters, digits, '_' or '-' (it becomes a GCP label)",
}


_SHOW_INPUT = {"float_type", "int_type", "string_type", "bool_type", "finite_number", "greater_than",
               "greater_than_equal", "less_than", "less_than_equal", "int_from_float", "dict_type", "list_type",
               "model_type", "too_long", "too_short", "string_too_long", "string_too_short"}


def _shown(value: Any) -> str:
    """A short repr of a bad input for a message (inputs can be whole YAML documents)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _raw_region_problems(raw: Mapping[str, Any]) -> list[str]:
    """Catalog checks on the raw region list, so an unknown region is reported even when other
    fields fail validation (one error listing every problem)."""
    catalog = load_catalog()
    regions = raw.get("regions")
    if not isinstance(regions, list):
        return []
    problems = []
    for i, region in enumerate(regions):
        if not isinstance(region, dict):
            continue
        cloud, location = region.get("cloud"), region.get("location")
        if cloud in ("aws", "gcp") and isinstance(location, str) and (cloud, location) not in catalog.regions:
            problems.append(catalog.unknown_region_problem(cloud, location, f"regions[{i}].location"))
    return problems


def _model_of(annotation: Any) -> tuple[str, Any]:
    """('model', M) | ('list', inner) | ('dict', inner) | ('leaf', None) for a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_of(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _model_of(inner[0]) if len(inner) == 1 else ("leaf", None)
    if origin is list:
        return ("list", typing.get_args(annotation)[0])
    if origin is dict:
        return ("dict", typing.get_args(annotation)[1])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ("model", annotation)
    return ("leaf", None)


def _squash(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _keys_of(model: type[BaseModel]) -> dict[str, Any]:
    """YAML key (camelCase alias) -> field annotation."""
    return {info.alias or to_camel(name): info.annotation for name, info in model.model_fields.items()}


TOO_LARGE = ("characters; at most", "entries; at most", "keys are names")


def _shape_problems(value: Any, annotation: Any, path: str) -> list[str]:
    """Spellings and sizes the schema does not say in types: a key spelled another way than its camelCase
    name (snake_case, kebab-case, other case) is refused naming the key to write (pydantic would take the
    Python field name silently), an unknown key gets the nearest valid one, and every string, key, list and
    mapping is bounded so no value can be megabytes long."""
    problems: list[str] = []
    where = path or "(top level)"
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return [f"{where}: {len(value):,} characters; at most {MAX_TEXT:,}"]
    if isinstance(value, list | dict) and len(value) > MAX_ENTRIES:
        return [f"{where}: {len(value):,} entries; at most {MAX_ENTRIES:,}"]
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    kind, inner = ("model", annotation) if is_model else _model_of(annotation)
    if isinstance(value, list):
        for i, item in enumerate(value):
            problems += _shape_problems(item, inner if kind == "list" else None, f"{path}[{i}]")
        return problems
    if not isinstance(value, dict):
        return problems
    known = _keys_of(inner) if kind == "model" else {}
    squashed = {_squash(k): k for k in known}
    for key, child in value.items():
        if not isinstance(key, str) or len(key) > MAX_KEY:
            problems.append(f"{where}: a key of {len(str(key)):,} characters or not text; keys are names")
            continue
        here = f"{path}.{key}" if path else key
        if kind != "model":
            problems += _shape_problems(child, inner if kind == "dict" else None, here)
        elif key in known:
            problems += _shape_problems(child, known[key], here)
        elif _squash(key) in squashed:
            problems.append(f"{here}: unknown spelling; the key is {squashed[_squash(key)]!r} (keys are camelCase)")
        else:
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{here}: unknown field; {hint}valid keys: {', '.join(known)}")
    return problems


def parse_config(raw: Mapping[str, Any], *, source: str = "stack config") -> RolloutConfig:
    """Validate a mapping of un-namespaced config keys; raise one ConfigError listing every problem."""
    shape = _shape_problems(dict(raw), RolloutConfig, "")
    if any(marker in p for p in shape for marker in TOO_LARGE):
        raise ConfigError(shape, title=f"invalid {source}")  # too large to validate further
    try:
        cfg = RolloutConfig.model_validate(dict(raw))
    except ValidationError as exc:
        problems = list(shape)
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            path = _field_path(loc) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                continue  # named with the key to write by _shape_problems
            if err["type"] == "literal_error":
                msg = f"{msg}; got {err.get('input')!r}"
            elif err["type"] == "string_pattern_mismatch" and loc and loc[-1] in _PATTERN_HINTS:
                msg = f"{_PATTERN_HINTS[str(loc[-1])]}; got {_shown(err.get('input'))}"
            elif err["type"] in _SHOW_INPUT:
                msg = f"{msg}; got {_shown(err.get('input'))}"
                if isinstance(err.get("input"), str) and err["type"] in ("float_type", "int_type"):
                    msg += " (a quoted value is text: write the number without quotes)"
                elif isinstance(err.get("input"), (int, float)) and err["type"] == "string_type":
                    msg += " (YAML reads it as a number: quote it)"
            problems.append(f"{path}: {msg}")
        raise ConfigError(problems + _raw_region_problems(raw), title=f"invalid {source}") from None
    problems = shape + _cross_checks(cfg)
    if problems:
        raise ConfigError(problems, title=f"invalid {source}")
    return cfg


def _strip_namespace(config: Mapping[Any, Any], source: str) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in config.items():
        if not isinstance(key, str):
            problems.append(f"config key {key!r}: keys are text such as '{PROJECT}:regions'")
            continue
        namespace, _, name = key.partition(":")
        if namespace == PROJECT and not name:
            problems.append(f"config key {key!r}: no name after '{PROJECT}:'")
        if namespace == PROJECT and name:
            if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
                try:
                    value = json.loads(value)  # the engine passes object values as JSON text
                except ValueError as exc:
                    problems.append(f"{name}: not valid JSON ({exc})")
                    continue
            raw[name] = value
    if problems:
        raise ConfigError(problems, title=f"invalid {source}")
    if not raw:
        raise ConfigError([f"no '{PROJECT}:' keys found in {source}"], title=f"invalid {source}")
    return raw


# ---- provider keys ------------------------------------------------------------------------------------
# The providers' own keys in the same stack file, validated like the program's: a wrong one otherwise
# surfaces as a provider error (or a silent fallback) in the middle of `pulumi up`.
AWS_ACCOUNT = re.compile(r"^\d{12}$")  # https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-identifiers.html
# Project IDs: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter, not ending
# with a hyphen (https://cloud.google.com/resource-manager/docs/creating-managing-projects#before_you_begin).
GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html (role ARNs; paths allowed)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
AWS_REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
ASSUME_ROLE_KEYS = ("roleArn", "sessionName", "externalId", "duration", "policy", "policyArns", "tags",
                    "transitiveTagKeys", "sourceIdentity")


def _engine_value(value: Any) -> Any:
    """The engine passes list and object values as JSON text; the stack file as YAML values."""
    if isinstance(value, str) and value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _account_ids(key: str, raw: Any) -> tuple[list[str], set[str]]:
    if raw is None:
        return [], set()
    if not isinstance(raw, list) or not raw:
        return [f"{key}: a non-empty list of 12-digit account ids such as [\"123456789012\"]; got {_shown(raw)}"], set()
    problems, ids = [], set()
    for i, account in enumerate(raw):
        if isinstance(account, int) and not isinstance(account, bool):
            problems.append(f"{key}[{i}]: {account} is a number; quote it (account ids are 12-digit text and a "
                            "leading zero would be lost)")
        elif not isinstance(account, str) or not AWS_ACCOUNT.match(account):
            problems.append(f"{key}[{i}]: {_shown(account)} is not a 12-digit AWS account id")
        else:
            ids.add(account)
    return problems, ids


def _assume_role_problems(key: str, raw: Any, allowed: set[str], forbidden: set[str]) -> list[str]:
    entries = raw if isinstance(raw, list) else [raw]
    if not entries or (key == "aws:assumeRoles" and not isinstance(raw, list)):
        return [f"{key}: a list of mappings such as [{{roleArn: arn:aws:iam::123456789012:role/deployer}}]"]
    problems = []
    for i, entry in enumerate(entries):
        path = f"{key}[{i}]" if isinstance(raw, list) else key
        if not isinstance(entry, dict):
            problems.append(f"{path}: a mapping with roleArn; got {_shown(entry)}")
            continue
        for extra in sorted(set(map(str, entry)) - set(ASSUME_ROLE_KEYS)):
            close = difflib.get_close_matches(extra, ASSUME_ROLE_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{path}.{extra}: unknown field{hint} valid keys: {', '.join(ASSUME_ROLE_KEYS)}")
        arn = entry.get("roleArn")
        match = ROLE_ARN.match(arn) if isinstance(arn, str) and len(arn) <= 2048 else None
        if match is None:
            problems.append(f"{path}.roleArn: {_shown(arn)} is not an IAM role ARN "
                            "(arn:aws:iam::<12 digits>:role/<name>)")
        elif allowed and match.group(1) not in allowed:
            problems.append(f"{path}.roleArn: account {match.group(1)} is not in aws:allowedAccountIds "
                            f"({', '.join(sorted(allowed))}); the provider would refuse to run as it")
        elif match.group(1) in forbidden:
            problems.append(f"{path}.roleArn: account {match.group(1)} is in aws:forbiddenAccountIds")
        for text_key in ("sessionName", "externalId", "sourceIdentity", "duration"):
            if text_key in entry and (not isinstance(entry[text_key], str) or len(entry[text_key]) > 1224):
                problems.append(f"{path}.{text_key}: text of at most 1224 characters; got {_shown(entry[text_key])}")
    return problems


def provider_key_problems(config: Mapping[Any, Any]) -> tuple[list[str], set[str]]:
    """Problems of the aws:/gcp: keys this program relies on, and the allowed AWS accounts (may be empty)."""
    problems, allowed = _account_ids("aws:allowedAccountIds", _engine_value(config.get("aws:allowedAccountIds")))
    more, forbidden = _account_ids("aws:forbiddenAccountIds", _engine_value(config.get("aws:forbiddenAccountIds")))
    problems += more
    problems += [f"aws:forbiddenAccountIds: {a} is also allowed" for a in sorted(allowed & forbidden)]
    for key in ("aws:assumeRoles", "aws:assumeRole"):
        if config.get(key) is not None:
            problems += _assume_role_problems(key, _engine_value(config.get(key)), allowed, forbidden)
    project = config.get("gcp:project")
    if project is not None and not (isinstance(project, str) and GCP_PROJECT.match(project)):
        problems.append(f"gcp:project: {_shown(project)} is not a project id (6-30 lowercase letters, digits and "
                        "hyphens, starting with a letter)")
    region = config.get("aws:region")
    if region is not None and not (isinstance(region, str) and AWS_REGION.match(region)):
        problems.append(f"aws:region: {_shown(region)} is not an AWS region name such as us-east-1")
    return problems, allowed


def _admin_account_problems(cfg: RolloutConfig, allowed: set[str]) -> list[str]:
    problems = []
    for i, arn in enumerate(cfg.cluster.admin_role_arns):
        match = ROLE_ARN.match(arn)
        if match and allowed and match.group(1) not in allowed:
            problems.append(f"cluster.adminRoleArns[{i}]: account {match.group(1)} is not in aws:allowedAccountIds "
                            f"({', '.join(sorted(allowed))})")
    return problems


def _with_provider_keys(config: Mapping[Any, Any], raw: dict[str, Any], source: str) -> RolloutConfig:
    """parse_config plus the provider keys, every problem of both in one ConfigError."""
    provider, allowed = provider_key_problems(config)
    try:
        cfg = parse_config(raw, source=source)
    except ConfigError as exc:
        raise ConfigError([*provider, *exc.problems], title=exc.title) from None
    problems = provider + _admin_account_problems(cfg, allowed)
    if problems:
        raise ConfigError(problems, title=f"invalid {source}")
    return cfg


def stack_file_path(stack: str, root: Path | None = None) -> Path:
    root = root or Path(__file__).resolve().parent.parent
    return root / f"Pulumi.{stack}.yaml"


# Third parties' credentials, set with `pulumi config set --secret`: the Hugging Face token
# (components/serving/weights_staging.py) and the alert receivers (components/serving/workload.py).
SECRET_CONFIG_KEYS = frozenset({"huggingface:token", "alerting:webhookUrl", "alerting:heartbeatUrl",
                                "alerting:smtpPassword"})


def config_from_stack_file(path: Path | str) -> RolloutConfig:
    """Load `Pulumi.<stack>.yaml` offline (no Pulumi CLI needed)."""
    path = Path(path)
    config = stack_file_config(path)
    secure = [k for k, v in config.items() if isinstance(v, dict) and "secure" in v and k not in SECRET_CONFIG_KEYS]
    if secure:
        # Keys, passwords and certificates are generated in state; only third parties' credentials (the
        # SECRET_CONFIG_KEYS, read by the components under `pulumi up`) come from config, encrypted.
        raise ConfigError([f"{k}: secret config values are not used by this program" for k in secure])
    config = {k: v for k, v in config.items() if k not in SECRET_CONFIG_KEYS}  # not decryptable offline
    return _with_provider_keys(config, _strip_namespace(config, path.name), path.name)


def stack_file_config(path: Path | str) -> dict[Any, Any]:
    """The stack file's whole `config:` map (every namespace), read strictly (infra/stack_yaml.py)."""
    path = Path(path)
    try:
        document = load_stack_yaml(path)
    except StackFileError as exc:
        raise ConfigError([f"{path}: {p}" for p in exc.problems], title="cannot load stack config") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError([f"{path}: no 'config:' mapping"], title="cannot load stack config")
    return config


def config_from_engine(values: Mapping[str, Any]) -> RolloutConfig:
    """Load the same config inside `pulumi up` / `pulumi preview`.

    The engine hands the program every config value as a map of `namespace:key` to text (JSON for
    objects); `infra/__main__.py` passes that whole map here, so unknown keys are rejected exactly
    as they are offline instead of silently ignored.
    """
    return _with_provider_keys(values, _strip_namespace(values, "pulumi config"), "pulumi config")
