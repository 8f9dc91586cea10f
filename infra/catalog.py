"""What the clouds offer: GPU regions (with coordinates and zones), GPU instance types and
on-demand prices. The facts live in `infra/data/*.csv`, each file and row with its source, so
updating a price is a data change, not a code change.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from infra.errors import ConfigError

Cloud = Literal["aws", "gcp"]
CLOUDS: tuple[Cloud, ...] = ("aws", "gcp")
# AWS partitions (separate accounts, credentials, ARNs and endpoints; infra/planning/partition.py) and
# Google Cloud's one: every catalog region belongs to exactly one.
Partition = Literal["aws", "aws-cn", "gcp"]
PARTITIONS: dict[str, tuple[Partition, ...]] = {"aws": ("aws", "aws-cn"), "gcp": ("gcp",)}
DATA_DIR = Path(__file__).with_name("data")


@dataclass(frozen=True)
class CloudRegion:
    """A provider region. `number` is permanent and drives the default address slot."""

    number: int
    cloud: Cloud
    location: str
    city: str
    continent: str
    latitude: float
    longitude: float
    zones: tuple[str, ...]  # full zone names, e.g. us-east-1a / europe-west4-a
    gpu_zones: tuple[str, ...]  # the subset where GPU instance types are offered
    partition: Partition = "aws"  # aws | aws-cn (mainland China) | gcp


@dataclass(frozen=True)
class InstanceType:
    cloud: Cloud
    name: str
    gpu_model: str
    gpu_count: int
    gpu_memory_gib: int
    vcpus: int
    memory_gib: int


@dataclass(frozen=True)
class Offering:
    """An instance type offered in a region at an on-demand price (USD per hour)."""

    instance_type: InstanceType
    location: str
    usd_per_hour: float
    source: str


@dataclass(frozen=True)
class Geography:
    """A built-in demand source: a population centre users are served from."""

    name: str
    latitude: float
    longitude: float
    description: str


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(newline="") as handle:
        lines = [line for line in handle if not line.lstrip().startswith("#")]
    return list(csv.DictReader(lines))


def _zone_name(cloud: str, location: str, suffix: str) -> str:
    return f"{location}{suffix}" if cloud == "aws" else f"{location}-{suffix}"


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a 6371 km sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


# Rule of thumb from DESIGN.md section 7: ~1 ms RTT per 100 km of great-circle distance, times a
# path-inflation factor (~1.3-1.5; we take 1.4), plus a few ms of last-mile/serving overhead.
RTT_MS_PER_100_KM = 1.0
PATH_INFLATION = 1.4
RTT_FLOOR_MS = 5.0


def estimated_rtt_ms(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Round-trip estimate from coordinates; stack config may override it with measured values."""
    km = great_circle_km(lat1, lon1, lat2, lon2)
    return round(RTT_FLOOR_MS + km / 100.0 * RTT_MS_PER_100_KM * PATH_INFLATION, 1)


# Population centres for demand (coordinates of the named metro area, rounded).
GEOGRAPHIES: dict[str, Geography] = {
    g.name: g
    for g in (
        Geography("us-east", 40.71, -74.01, "New York metro"),
        Geography("us-central", 41.88, -87.63, "Chicago metro"),
        Geography("us-south", 32.78, -96.80, "Dallas metro"),
        Geography("us-west", 37.77, -122.42, "San Francisco Bay Area"),
        Geography("canada", 43.65, -79.38, "Toronto metro"),
        Geography("mexico", 19.43, -99.13, "Mexico City"),
        Geography("brazil", -23.55, -46.63, "Sao Paulo"),
        Geography("argentina", -34.60, -58.38, "Buenos Aires"),
        Geography("uk", 51.51, -0.13, "London"),
        Geography("western-europe", 48.86, 2.35, "Paris"),
        Geography("central-europe", 50.11, 8.68, "Frankfurt"),
        Geography("nordics", 59.33, 18.07, "Stockholm"),
        Geography("southern-europe", 41.90, 12.50, "Rome"),
        Geography("eastern-europe", 52.23, 21.01, "Warsaw"),
        Geography("middle-east", 25.20, 55.27, "Dubai"),
        Geography("israel", 32.09, 34.78, "Tel Aviv"),
        Geography("south-africa", -26.20, 28.05, "Johannesburg"),
        Geography("nigeria", 6.52, 3.38, "Lagos"),
        Geography("india-west", 19.08, 72.88, "Mumbai"),
        Geography("india-north", 28.61, 77.21, "Delhi"),
        Geography("japan", 35.68, 139.69, "Tokyo"),
        Geography("korea", 37.57, 126.98, "Seoul"),
        Geography("taiwan", 25.03, 121.57, "Taipei"),
        Geography("hong-kong", 22.32, 114.17, "Hong Kong"),
        Geography("singapore", 1.35, 103.82, "Singapore"),
        Geography("indonesia", -6.21, 106.85, "Jakarta"),
        Geography("australia-east", -33.87, 151.21, "Sydney"),
    )
}


@dataclass(frozen=True)
class Catalog:
    regions: dict[tuple[str, str], CloudRegion]
    instance_types: dict[tuple[str, str], InstanceType]
    offerings: dict[tuple[str, str, str], Offering]  # (cloud, instance type, location)

    def region(self, cloud: str, location: str, *, field: str = "location") -> CloudRegion:
        try:
            return self.regions[(cloud, location)]
        except KeyError:
            raise ConfigError([self.unknown_region_problem(cloud, location, field)]) from None

    def unknown_region_problem(self, cloud: str, location: str, field: str) -> str:
        valid = ", ".join(sorted(loc for c, loc in self.regions if c == cloud)) or "(none)"
        return f"{field}: {location!r} is not a GPU region of {cloud} in the catalog; valid: {valid}"

    def instance_type(self, cloud: str, name: str) -> InstanceType:
        try:
            return self.instance_types[(cloud, name)]
        except KeyError:
            valid = ", ".join(sorted(n for c, n in self.instance_types if c == cloud))
            raise ConfigError([f"unknown {cloud} instance type {name!r}; valid: {valid}"]) from None

    def offerings_in(self, cloud: str, location: str) -> tuple[Offering, ...]:
        """Instance types offered (with a known price) in a region, cheapest first."""
        found = [o for (c, _, loc), o in self.offerings.items() if c == cloud and loc == location]
        return tuple(sorted(found, key=lambda o: (o.usd_per_hour, o.instance_type.name)))

    def offering(self, cloud: str, name: str, location: str) -> Offering:
        self.instance_type(cloud, name)
        try:
            return self.offerings[(cloud, name, location)]
        except KeyError:
            valid = ", ".join(o.instance_type.name for o in self.offerings_in(cloud, location))
            raise ConfigError(
                [f"{cloud} instance type {name!r} is not offered in {location}; offered there: "
                 f"{valid or '(none known)'}"]
            ) from None

    def gpu_models(self) -> tuple[str, ...]:
        return tuple(sorted({t.gpu_model for t in self.instance_types.values()}))


@functools.cache
def load_catalog() -> Catalog:
    regions: dict[tuple[str, str], CloudRegion] = {}
    for row in _rows("regions.csv"):
        cloud, location = row["cloud"], row["location"]
        zones = tuple(_zone_name(cloud, location, s) for s in row["zones"].split())
        gpu_zones = tuple(_zone_name(cloud, location, s) for s in row["gpu_zones"].split())
        assert set(gpu_zones) <= set(zones), f"regions.csv: gpu_zones of {location} outside its zones"
        regions[(cloud, location)] = CloudRegion(
            number=int(row["number"]), cloud=cloud, location=location, city=row["city"],  # type: ignore[arg-type]
            continent=row["continent"], latitude=float(row["latitude"]),
            longitude=float(row["longitude"]), zones=zones, gpu_zones=gpu_zones,
            partition=row["partition"],  # type: ignore[arg-type]
        )
        assert row["partition"] in PARTITIONS[cloud], f"regions.csv: partition of {location} is not one of {cloud}'s"
    numbers = [r.number for r in regions.values()]
    assert len(numbers) == len(set(numbers)), "regions.csv: region numbers must be unique"
    types: dict[tuple[str, str], InstanceType] = {}
    for row in _rows("instance_types.csv"):
        types[(row["cloud"], row["instance_type"])] = InstanceType(
            cloud=row["cloud"], name=row["instance_type"], gpu_model=row["gpu_model"],  # type: ignore[arg-type]
            gpu_count=int(row["gpu_count"]), gpu_memory_gib=int(row["gpu_memory_gib"]),
            vcpus=int(row["vcpus"]), memory_gib=int(row["memory_gib"]),
        )
    offerings: dict[tuple[str, str, str], Offering] = {}
    for row in _rows("gpu_prices.csv"):
        key = (row["cloud"], row["instance_type"], row["location"])
        assert key[:2] in types, f"gpu_prices.csv: unknown instance type {key}"
        assert (key[0], key[2]) in regions, f"gpu_prices.csv: unknown region {key}"
        offerings[key] = Offering(types[key[:2]], key[2], float(row["usd_per_hour"]), row["source"])
    return Catalog(regions=regions, instance_types=types, offerings=offerings)
