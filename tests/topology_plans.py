"""Region sets for link tests: plans built the way `infra.planning.plan.build_plan` builds them, minus sizing
(topology reads only regions and addresses, and the MILP would dominate a 50-example property test)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from infra.catalog import load_catalog
from infra.planning.addressing import AddressPlan, AddressRequest, plan_addresses
from infra.planning.plan import cloud_ordinal
from infra.planning.regions import RegionPlan

SUPERNET = "10.0.0.0/8"


@dataclass(frozen=True)
class Regions:
    """The slice of a RolloutPlan that topology reads."""

    regions: tuple[RegionPlan, ...]
    addresses: AddressPlan
    tags: dict[str, str]

    @property
    def aws_regions(self) -> tuple[RegionPlan, ...]:
        return tuple(r for r in self.regions if r.cloud == "aws")

    @property
    def gcp_regions(self) -> tuple[RegionPlan, ...]:
        return tuple(r for r in self.regions if r.cloud == "gcp")


def short_name(cloud: str, location: str) -> str:
    return f"{cloud[0]}{load_catalog().region(cloud, location).number:02d}"


def regions_plan(locations: Sequence[tuple[str, str]], zones: int = 3) -> Regions:
    """A plan for (cloud, location) pairs, named like 'a00' / 'g34' after their catalog numbers."""
    catalog = load_catalog()
    requests, entries = [], []
    for cloud, location in locations:
        entry = catalog.region(cloud, location)
        entries.append(entry)
        requests.append(AddressRequest(name=short_name(cloud, location), cloud=cloud, number=entry.number,
                                       cloud_ordinal=cloud_ordinal(entry), zones=entry.zones[:zones]))
    addresses = plan_addresses(requests, SUPERNET, 15)
    regions = tuple(
        RegionPlan(name=req.name, cloud=req.cloud, location=entry.location, zones=req.zones, nat_gateways=1,
                   addresses=addresses.region(req.name), flow_log_retention_days=7, catalog=entry)
        for req, entry in zip(requests, entries, strict=True))
    return Regions(regions=regions, addresses=addresses, tags={"owner": "platform-team", "managed-by": "pulumi"})


def all_locations(cloud: str | None = None, partitions: tuple[str, ...] = ("aws", "gcp")) -> list[tuple[str, str]]:
    """Catalog regions of `cloud` (any); by default only the global AWS partition and GCP (the links of
    other partitions, e.g. aws-cn, have their own tests: tests/test_partitions.py)."""
    return sorted((c, loc) for (c, loc), r in load_catalog().regions.items()
                  if cloud in (None, c) and r.partition in partitions)


def region_mixes(min_size: int = 1, max_size: int = 20) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Any mix of catalog regions of both clouds, 1..20 of them."""
    return st.lists(st.sampled_from(all_locations()), min_size=min_size, max_size=max_size, unique=True)
