"""The plan's shared types: what one region is, as every planner and component sees it.

Pure (no pulumi import). The planners import these types; `infra.planning.plan.RolloutPlan` composes
them with the planners' results, so no planner needs to import the plan that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from infra.catalog import CloudRegion
from infra.planning.addressing import AddressPlan, RegionAddresses


@dataclass(frozen=True)
class RegionPlan:
    """One region as the components see it."""

    name: str
    cloud: str
    location: str
    zones: tuple[str, ...]
    nat_gateways: int  # AWS: NAT gateways (one per zone, or one for all); GCP: Cloud NAT count
    addresses: RegionAddresses
    flow_log_retention_days: int
    catalog: CloudRegion


class PlannedRegions(Protocol):
    """What the topology and cluster planners read from a plan (a RolloutPlan satisfies it)."""

    @property
    def regions(self) -> tuple[RegionPlan, ...]: ...

    @property
    def addresses(self) -> AddressPlan: ...


class PlannedStack(PlannedRegions, Protocol):
    """PlannedRegions plus the stack's environment (the cluster planner protects keys in prod)."""

    @property
    def stack_environment(self) -> str: ...


def regional_hostname(region: str, domain: str) -> str:
    """The public name of one region's endpoint (health checks, debugging): `<region>.<domain>`.

    Every regional certificate covers it and the service name `<domain>` that users resolve."""
    return f"{region}.{domain}"
