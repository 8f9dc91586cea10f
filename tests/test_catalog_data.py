"""Checks on the catalog data files (infra/data/*.csv): the GPU price table is complete for what the
source offers, consistent with the instance types and regions, and keeps the design notes' reference
prices. Sources and method: docs/sources.md.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from infra.catalog import DATA_DIR, load_catalog

PRICES_CSV = DATA_DIR / "gpu_prices.csv"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "sources.md"


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.lstrip().startswith("#")))


PRICE_ROWS = _csv_rows("gpu_prices.csv")
# Rows beyond the SkyPilot catalog (the aws-cn partition, g4dn, us-west-1): instances.vantage.sh data as
# stored in tsaol/aws-gpu (docs/sources.md "China and us-west-1 prices").
OTHER_SOURCE = "vantage via tsaol/aws-gpu "

# Prices from the team's design notes (they match skypilot-catalog v8 up to rounding to the cent).
REFERENCE_PRICES = {
    ("aws", "g5.xlarge", "us-east-1"): 1.006,
    ("aws", "g5.xlarge", "eu-west-1"): 1.123,
    ("aws", "g5.xlarge", "eu-central-1"): 1.258,
    ("aws", "g5.xlarge", "ap-northeast-1"): 1.459,
    ("aws", "g6.xlarge", "us-east-1"): 0.8048,
    ("aws", "g6.xlarge", "eu-central-1"): 1.0064,
    ("aws", "g6.xlarge", "ap-northeast-1"): 1.1672,
    ("aws", "p4d.24xlarge", "us-east-1"): 21.96,
    ("aws", "p4d.24xlarge", "eu-west-1"): 23.72,
    ("aws", "p4d.24xlarge", "ap-northeast-1"): 30.10,
    ("aws", "p5.48xlarge", "us-east-1"): 55.04,
    ("aws", "p5.48xlarge", "ap-northeast-1"): 68.80,
    ("gcp", "a2-highgpu-1g", "us-central1"): 3.673,
}

# Catalogued regions with no offering in gpu_prices.csv, and why (documented in docs/sources.md).
# The source (skypilot-catalog v8) lists none of our instance types there, except australia-southeast1,
# where its a3-highgpu-8g H100 price is one of the implausibly low ones we leave out.
REGIONS_WITHOUT_OFFERINGS = {
    ("aws", "sa-east-1"),
    ("aws", "eu-south-1"),
    ("aws", "ap-northeast-3"),
    ("aws", "ap-southeast-1"),
    ("aws", "il-central-1"),
    ("aws", "af-south-1"),
    ("gcp", "us-west2"),
    ("gcp", "us-south1"),
    ("gcp", "southamerica-east1"),
    ("gcp", "europe-central2"),
    ("gcp", "europe-west8"),
    ("gcp", "asia-east2"),
    ("gcp", "asia-southeast2"),
    ("gcp", "australia-southeast1"),
}

# The small single-GPU types: every region where the source offers them (skypilot-catalog v8; the China
# regions from the vantage data, docs/sources.md).
SMALL_TYPE_REGIONS = {
    ("aws", "g5.xlarge"): {
        "us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-central-1",
        "eu-north-1", "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-2", "me-central-1",
        "ap-east-1", "cn-north-1", "cn-northwest-1",
    },
    ("aws", "g6.xlarge"): {
        "us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-west-2", "eu-west-3", "eu-central-1",
        "eu-north-1", "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-2", "me-central-1",
    },
    ("gcp", "g2-standard-4"): {
        "us-central1", "us-east1", "us-east4", "us-west1", "us-west4", "northamerica-northeast1",
        "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "asia-east1",
        "asia-northeast1", "asia-northeast3", "asia-south1", "asia-southeast1",
    },
    ("gcp", "a2-highgpu-1g"): {"us-central1", "us-east1", "us-west1", "us-west3", "us-west4", "me-west1"},
}


def _key(row: dict[str, str]) -> tuple[str, str, str]:
    return row["cloud"], row["instance_type"], row["location"]


def test_header_and_columns() -> None:
    assert PRICE_ROWS, "gpu_prices.csv has no rows"
    assert list(PRICE_ROWS[0]) == ["cloud", "instance_type", "location", "usd_per_hour", "source"]


def test_catalog_loads_every_row() -> None:
    catalog = load_catalog()
    assert len(catalog.offerings) == len(PRICE_ROWS)


def test_no_duplicate_offerings() -> None:
    # load_catalog() keeps the last of duplicate rows silently; the file must not have any.
    dupes = [k for k, n in Counter(_key(r) for r in PRICE_ROWS).items() if n > 1]
    assert not dupes


def test_instance_types_and_regions_are_catalogued() -> None:
    catalog = load_catalog()
    for row in PRICE_ROWS:
        cloud, name, location = _key(row)
        assert (cloud, name) in catalog.instance_types, f"unknown instance type {cloud}/{name}"
        assert (cloud, location) in catalog.regions, f"unknown region {cloud}/{location}"


@pytest.mark.parametrize("row", PRICE_ROWS, ids=lambda r: "/".join(_key(r)))
def test_price_positive_and_sourced(row: dict[str, str]) -> None:
    assert float(row["usd_per_hour"]) > 0
    assert row["source"].strip()
    assert row["source"].startswith(("skypilot-catalog v8 ", OTHER_SOURCE))


def test_gcp_price_is_vm_plus_gpu() -> None:
    # GCP rows record their two catalog parts; the price must be their sum.
    for row in PRICE_ROWS:
        if row["cloud"] != "gcp":
            continue
        m = re.fullmatch(r"skypilot-catalog v8 gcp/vms\.csv \(VM ([\d.]+) \+ GPU ([\d.]+)\)", row["source"])
        assert m, row["source"]
        assert float(row["usd_per_hour"]) == pytest.approx(float(m[1]) + float(m[2]), abs=1e-5)


def test_aws_rows_name_the_aws_file() -> None:
    for row in PRICE_ROWS:
        if row["cloud"] == "aws" and not row["source"].startswith(OTHER_SOURCE):
            assert row["source"] == "skypilot-catalog v8 aws/vms.csv"


def test_china_prices_are_converted_from_the_cny_in_their_source() -> None:
    # amazonaws.cn bills in CNY; the file keeps the CNY number and converts at the stated planning rate.
    regions = load_catalog().regions
    china = [r for r in PRICE_ROWS if regions[(r["cloud"], r["location"])].partition == "aws-cn"]
    assert {r["location"] for r in china} == {"cn-north-1", "cn-northwest-1"}
    for row in china:
        m = re.search(r"\(CNY ([\d.]+) at ([\d.]+)\)$", row["source"])
        assert m, row["source"]
        assert float(row["usd_per_hour"]) == pytest.approx(float(m[1]) / float(m[2]), abs=1e-4)


@pytest.mark.parametrize("key,price", sorted(REFERENCE_PRICES.items()), ids=lambda v: str(v))
def test_reference_prices_present(key: tuple[str, str, str], price: float) -> None:
    offering = load_catalog().offerings.get(key)
    assert offering is not None, f"reference offering {key} missing"
    assert offering.usd_per_hour == pytest.approx(price, abs=0.005)


def test_every_region_has_an_offering_except_documented_ones() -> None:
    catalog = load_catalog()
    without = {key for key in catalog.regions if not catalog.offerings_in(*key)}
    assert without == REGIONS_WITHOUT_OFFERINGS
    # Honest about the gap: most regions are covered, and the gap is written down for readers.
    assert len(without) < len(catalog.regions) / 3
    text = DOCS.read_text()
    for _, location in REGIONS_WITHOUT_OFFERINGS:
        assert location in text, f"{location} has no offering but docs/sources.md does not mention it"


@pytest.mark.parametrize("key", sorted(SMALL_TYPE_REGIONS), ids=lambda k: "/".join(k))
def test_small_types_cover_all_source_regions(key: tuple[str, str]) -> None:
    cloud, name = key
    have = {loc for (c, n, loc) in load_catalog().offerings if (c, n) == (cloud, name)}
    assert have == SMALL_TYPE_REGIONS[key]


def test_every_instance_type_is_offered_somewhere() -> None:
    catalog = load_catalog()
    offered = {(c, n) for (c, n, _) in catalog.offerings}
    assert offered == set(catalog.instance_types)


@pytest.mark.parametrize(
    "family",
    [
        ("aws", ["g5.xlarge", "g5.2xlarge", "g5.12xlarge", "g5.48xlarge"]),
        ("aws", ["g6.xlarge", "g6.2xlarge", "g6.12xlarge"]),
        ("gcp", ["g2-standard-4", "g2-standard-8", "g2-standard-24"]),
        ("gcp", ["a2-highgpu-1g", "a2-highgpu-8g"]),
    ],
    ids=lambda f: f[1][0].split(".")[0].split("-")[0],
)
def test_bigger_sizes_cost_more_in_the_same_region(family: tuple[str, list[str]]) -> None:
    cloud, sizes = family
    offerings = load_catalog().offerings
    locations = {loc for (c, n, loc) in offerings if c == cloud and n == sizes[0]}
    for loc in locations:
        prices = [offerings[(cloud, s, loc)].usd_per_hour for s in sizes if (cloud, s, loc) in offerings]
        assert prices == sorted(prices) and len(set(prices)) == len(prices), (loc, prices)


def test_price_per_gpu_is_plausible() -> None:
    # Catches gross errors (a GCP row without its GPU part, a wrong unit, a typo by a factor of ten):
    # per-GPU hourly prices must lie in a broad band for each GPU model.
    band = {"T4": (0.3, 1.5), "A10G": (0.5, 4.0), "L4": (0.4, 3.0), "A100-40GB": (2.0, 6.0), "A100-80GB": (3.0, 8.0),
            "H100-80GB": (5.0, 15.0)}
    for offering in load_catalog().offerings.values():
        t = offering.instance_type
        low, high = band[t.gpu_model]
        per_gpu = offering.usd_per_hour / t.gpu_count
        assert low <= per_gpu <= high, (t.cloud, t.name, offering.location, per_gpu)


def test_regions_have_zones_and_unique_numbers() -> None:
    catalog = load_catalog()
    numbers = [r.number for r in catalog.regions.values()]
    assert len(numbers) == len(set(numbers))
    for region in catalog.regions.values():
        assert region.zones, f"{region.location} has no zones"
        assert len(set(region.zones)) == len(region.zones)
        assert -90 <= region.latitude <= 90 and -180 <= region.longitude <= 180


def test_gcp_gpu_zones_are_the_zones_where_the_source_lists_our_gpu_types() -> None:
    gpu_zones = {
        "us-central1": "a b c f", "us-east1": "b c d", "us-east4": "a b c", "us-east5": "a b", "us-west1": "a b c",
        "us-west3": "b", "us-west4": "a b c", "northamerica-northeast1": "b c", "europe-west1": "b c",
        "europe-west2": "a b", "europe-west3": "a b c", "europe-west4": "a b c", "europe-west6": "b c",
        "europe-west9": "c", "europe-north1": "c", "asia-east1": "a b c", "asia-northeast1": "a b c",
        "asia-northeast3": "a b", "asia-south1": "a b c", "asia-southeast1": "a b c", "me-west1": "a c",
        "australia-southeast1": "c",
    }
    catalog = load_catalog()
    for location, letters in gpu_zones.items():
        expected = tuple(f"{location}-{z}" for z in letters.split())
        assert catalog.regions[("gcp", location)].gpu_zones == expected, location


def test_sources_doc_lists_the_catalog_files() -> None:
    text = DOCS.read_text()
    for needle in ("skypilot-org/skypilot-catalog", "catalogs/v8/aws/vms.csv", "catalogs/v8/gcp/vms.csv",
                   "00148f2af3672e2229b4f7bf8157d5a3f36e3c35", "006059e0f18acb1341e22a27751e9f80df6ba92f"):
        assert needle in text
