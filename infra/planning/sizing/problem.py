"""The sizing problem as plain data, and how a stack config becomes one.

`SizingProblem` carries no config types, so tests and the benchmark build problems directly and the
solver never needs to know where prices or RTTs came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.catalog import Catalog, estimated_rtt_ms, load_catalog
from infra.config import RolloutConfig
from infra.errors import ConfigError
from infra.planning.server_shape import server_shape

DNS_WEIGHT_UNITS = 255  # Route 53 weights are 0-255 (reserve.py: where the rounding reserve comes from)


@dataclass(frozen=True)
class Candidate:
    """One way to add capacity: a node of `instance_type` in `region` (a replica = one node)."""

    region: str
    instance_type: str
    gpu_model: str
    gpu_count: int
    rps_per_node: float  # servers per node x rps per server (infra/planning/server_shape.py)
    usd_per_hour: float
    max_nodes: int | None = None  # quota; None = unlimited

    @property
    def usd_per_rps(self) -> float:
        return self.usd_per_hour / self.rps_per_node


@dataclass(frozen=True)
class Geo:
    """A demand source: peak requests/s from one geography."""

    name: str
    rps: float


@dataclass(frozen=True)
class SizingProblem:
    """Everything the optimiser needs, already resolved (prices, capacities, RTTs).

    `rtt_ms[i][j]` is the round trip from `geos[i]` to `regions[j]`. Every region is a serving
    region: it gets at least `min_replicas` nodes even if no geography is near it, because the
    program deploys a model server (and a GPU pool) in every configured region.
    """

    regions: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    geos: tuple[Geo, ...]
    rtt_ms: tuple[tuple[float, ...], ...]
    normal_budget_ms: float
    failover_budget_ms: float
    util_normal: float = 0.7
    util_failover: float = 0.9
    min_replicas: int = 2
    survive_region_loss: bool = True  # N-1: every single-region loss must be absorbable
    region_labels: tuple[str, ...] = ()  # e.g. "aws us-east-1", for messages
    # Routing is realised in whole DNS weights of at least this many units per set (Route 53: 255);
    # the solver then keeps the rounding's worst case free in every failover state (reserve.py).
    # 0 = continuous routing fractions (the plain model).
    weight_units: int = 0

    def __post_init__(self) -> None:
        if len(self.rtt_ms) != len(self.geos) or any(len(row) != len(self.regions) for row in self.rtt_ms):
            raise ValueError("rtt_ms must be a len(geos) x len(regions) table")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError("region names must be unique")
        if len({g.name for g in self.geos}) != len(self.geos):
            raise ValueError("geography names must be unique")
        unknown = {c.region for c in self.candidates} - set(self.regions)
        if unknown:
            raise ValueError(f"candidates in unknown regions: {sorted(unknown)}")
        bad = number_problems(self)
        if bad:  # defence in depth: config validation rejects these first; the solver must never see them
            raise ValueError("sizing problem with invalid numbers: " + "; ".join(bad[:5]))

    def label(self, region: str) -> str:
        if self.region_labels:
            return f"{region} ({self.region_labels[self.regions.index(region)]})"
        return region

    def candidates_in(self, region: str) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.region == region)

    @property
    def total_rps(self) -> float:
        return sum(g.rps for g in self.geos)


def number_problems(problem: SizingProblem) -> list[str]:
    """Numbers the solver cannot take: non-finite, negative, or zero where a positive value is needed.
    (HiGHS and the max-flow check crash or loop on .inf/.nan; config validation rejects them first.)"""

    def ok(value: object, *, positive: bool) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                and (value > 0 if positive else value >= 0))

    out = [f"geography {g.name}: rps {g.rps!r}" for g in problem.geos if not ok(g.rps, positive=True)]
    for c in problem.candidates:
        if not ok(c.rps_per_node, positive=True) or not ok(c.usd_per_hour, positive=True):
            out.append(f"{c.region}.{c.instance_type}: rps {c.rps_per_node!r}, $/h {c.usd_per_hour!r}")
        if c.max_nodes is not None and not (isinstance(c.max_nodes, int) and c.max_nodes >= 0):
            out.append(f"{c.region}.{c.instance_type}: quota {c.max_nodes!r}")
        if c.gpu_count < 1:
            out.append(f"{c.region}.{c.instance_type}: gpu count {c.gpu_count!r}")
    if any(not ok(v, positive=False) for row in problem.rtt_ms for v in row):
        out.append("rtt_ms: every RTT must be a finite number >= 0")
    for name in ("normal_budget_ms", "failover_budget_ms", "util_normal", "util_failover"):
        if not ok(getattr(problem, name), positive=True):
            out.append(f"{name}: {getattr(problem, name)!r}")
    if not 0 < problem.util_normal <= 1 or not 0 < problem.util_failover <= 1:
        out.append("utilisation must be in (0, 1]")
    if not isinstance(problem.min_replicas, int) or problem.min_replicas < 0:
        out.append(f"min_replicas: {problem.min_replicas!r}")
    if not isinstance(problem.weight_units, int) or problem.weight_units < 0:
        out.append(f"weight_units: {problem.weight_units!r}")
    return out


def _region_candidates(
    cfg: RolloutConfig, catalog: Catalog, index: int
) -> tuple[list[Candidate], str | None]:
    """Priced candidates in one region, or a problem text saying why there are none."""
    region = cfg.regions[index]
    overrides = cfg.sizing.prices.get(region.name, {})
    quotas = cfg.sizing.quotas.get(region.name, {})
    allowed = cfg.sizing.instance_types
    out: list[Candidate] = []
    considered: list[str] = []
    for (cloud, name), itype in sorted(catalog.instance_types.items()):
        if cloud != region.cloud or (allowed is not None and name not in allowed):
            continue
        rps = cfg.model.throughput_rps.get(itype.gpu_model)
        if rps is None:
            continue
        shape = server_shape(gpu_count=itype.gpu_count, gpu_memory_gib=itype.gpu_memory_gib, per_gpu_rps=rps,
                             weights_gib=cfg.model.weights_gib,
                             gpu_memory_utilization=cfg.serving.gpu_memory_utilization,
                             efficiency=cfg.model.tensor_parallel_efficiency)
        if shape is None:  # the model does not fit this node's GPUs
            continue
        considered.append(name)
        offering = catalog.offerings.get((cloud, name, region.location))
        price = overrides.get(name, offering.usd_per_hour if offering else None)
        if price is None or quotas.get(name) == 0:
            continue
        out.append(
            Candidate(
                region=region.name,
                instance_type=name,
                gpu_model=itype.gpu_model,
                gpu_count=itype.gpu_count,
                rps_per_node=shape.rps_per_node,
                usd_per_hour=float(price),
                max_nodes=quotas.get(name),
            )
        )
    if out:
        return out, None
    why = (
        f"regions[{index}] {region.name} ({region.cloud} {region.location}): no priced GPU instance type "
        f"to size with. "
    )
    if not considered:
        why += (
            "No instance type passes the filters (sizing.instanceTypes and the GPU models in "
            "model.throughputRps); widen them."
        )
    else:
        why += (
            f"Considered {', '.join(considered)}, but the catalog (infra/data/gpu_prices.csv) has no "
            f"price for them in {region.location} (or their quota is 0); add "
            f"sizing.prices.{region.name}.<instanceType>: <USD per hour> or a catalog row."
        )
    return [], why


def problem_from_config(
    cfg: RolloutConfig, *, catalog: Catalog | None = None, survive_region_loss: bool = True
) -> SizingProblem:
    """Resolve prices (config over catalog), capacities, RTTs (measured over estimated) and quotas."""
    catalog = catalog or load_catalog()
    problems: list[str] = []
    candidates: list[Candidate] = []
    for i in range(len(cfg.regions)):
        found, why = _region_candidates(cfg, catalog, i)
        candidates += found
        if why:
            problems.append(why)
    if problems:
        raise ConfigError(problems, title="cannot size the rollout")
    coords = {r.name: catalog.region(r.cloud, r.location) for r in cfg.regions}
    rtt = []
    for d in cfg.planned_demand:
        lat, lon = d.coordinates
        measured = cfg.latency.measured_rtt_ms.get(d.geography, {})
        rtt.append(
            tuple(
                float(measured[r.name])
                if r.name in measured
                else estimated_rtt_ms(lat, lon, coords[r.name].latitude, coords[r.name].longitude)
                for r in cfg.regions
            )
        )
    try:
        return _problem(cfg, candidates, rtt, survive_region_loss)
    except ValueError as error:  # numbers the solver must not see (config validation catches them first)
        raise ConfigError([str(error)], title="cannot size the rollout") from None


def _problem(cfg: RolloutConfig, candidates: list[Candidate], rtt: list[tuple[float, ...]],
             survive_region_loss: bool) -> SizingProblem:
    return SizingProblem(
        regions=tuple(r.name for r in cfg.regions),
        candidates=tuple(candidates),
        geos=tuple(Geo(d.geography, d.rps) for d in cfg.planned_demand),
        rtt_ms=tuple(rtt),
        normal_budget_ms=cfg.latency.normal_ms,
        failover_budget_ms=cfg.latency.failover_ms,
        util_normal=cfg.utilization.normal,
        util_failover=cfg.utilization.failover_ceiling,
        min_replicas=cfg.sizing.min_replicas_per_region,
        survive_region_loss=survive_region_loss,
        region_labels=tuple(f"{r.cloud} {r.location}" for r in cfg.regions),
        weight_units=DNS_WEIGHT_UNITS,  # a stack's routing is realised in Route 53 weights
    )
