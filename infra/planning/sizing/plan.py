"""The sizing result: what to deploy where, how traffic is routed, and how sure we are it is cheap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Routing = Mapping[str, Mapping[str, float]]  # geography -> region -> rps


@dataclass(frozen=True)
class NodeGroup:
    """`nodes` nodes of one instance type in one region (a GPU node pool in the program)."""

    region: str
    instance_type: str
    gpu_model: str
    nodes: int
    gpus: int
    capacity_rps: float
    usd_per_hour: float  # for the whole group


@dataclass(frozen=True)
class RegionHeadroom:
    """How loaded a region is in normal state and in its worst single-region failure."""

    region: str
    capacity_rps: float
    normal_rps: float
    normal_utilization: float
    worst_failover_utilization: float
    worst_failover_lost_region: str | None


@dataclass(frozen=True)
class SizingPlan:
    """An integral, checked plan. `lower_bound` is a proven bound on the optimal hourly cost."""

    node_groups: tuple[NodeGroup, ...]
    routing: Routing
    failover: Mapping[str, Routing]  # lost region -> routing while it is lost
    hourly_cost: float
    lower_bound: float
    solve_seconds: float
    headroom: tuple[RegionHeadroom, ...]
    status: str = "optimal"  # "optimal" (within the gap target), "time limit" or "previous" (kept, within the gap)

    @property
    def gap(self) -> float:
        """Relative gap to the lower bound: the plan costs at most this much more than the optimum."""
        if self.hourly_cost <= 0:
            return 0.0
        return max(0.0, (self.hourly_cost - self.lower_bound) / self.hourly_cost)

    @property
    def replicas(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for g in self.node_groups:
            out.setdefault(g.region, {})[g.instance_type] = g.nodes
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-able view (the CLI's --json and the Pulumi stack output)."""

        def plain(routing: Routing) -> dict[str, dict[str, float]]:
            return {geo: {r: round(v, 4) for r, v in per.items()} for geo, per in routing.items()}

        return {
            "replicas": self.replicas,
            "hourly_cost": round(self.hourly_cost, 4),
            "lower_bound": round(self.lower_bound, 4),
            "gap": round(self.gap, 6),
            "routing": plain(self.routing),
            "failover": {lost: plain(r) for lost, r in self.failover.items()},
            "solve_seconds": round(self.solve_seconds, 4),
            "status": self.status,
            "headroom": {
                h.region: {
                    "capacity_rps": round(h.capacity_rps, 4),
                    "normal_utilization": round(h.normal_utilization, 4),
                    "worst_failover_utilization": round(h.worst_failover_utilization, 4),
                    "worst_failover_lost_region": h.worst_failover_lost_region,
                }
                for h in self.headroom
            },
        }
