"""The `residency` section: each refusal names its field, and the nearest valid input passes."""

from __future__ import annotations

import pytest

from infra.config import parse_config
from infra.errors import ConfigError
from tests.factories import raw_config

REGIONS = [{"name": "use1", "cloud": "aws", "location": "us-east-1", "zones": 3},
           {"name": "usw2", "cloud": "aws", "location": "us-west-2", "zones": 3},
           {"name": "euc1", "cloud": "aws", "location": "eu-central-1", "zones": 3},
           {"name": "euw4", "cloud": "gcp", "location": "europe-west4", "zones": 3},
           {"name": "ane1", "cloud": "gcp", "location": "asia-northeast1", "zones": 3}]
DEMAND = [{"geography": "us-east", "rps": 6}, {"geography": "central-europe", "rps": 4},
          {"geography": "japan", "rps": 3}]
ZONES = {"us": ["use1", "usw2"], "eu": ["euc1", "euw4"], "apac": ["ane1"]}
GEOGRAPHIES = {"us-east": "us", "central-europe": "eu", "japan": "apac"}


def config(residency=None, regions=None, demand=None):
    changes = {"regions": regions or REGIONS, "demand": demand or DEMAND}
    if residency is not None:
        changes["residency"] = residency
    return parse_config(raw_config(**changes))


def refused(residency, regions=None, demand=None) -> str:
    with pytest.raises(ConfigError) as error:
        config(residency, regions, demand)
    return str(error.value)


def test_absent_means_one_replica_set_and_a_full_section_parses():
    assert config().residency is None
    cfg = config({"zones": ZONES, "geographies": GEOGRAPHIES})
    assert cfg.residency.zones == ZONES and cfg.residency.geographies == GEOGRAPHIES


def test_a_zone_naming_an_unknown_region_is_refused():
    text = refused({"zones": {**ZONES, "eu": ["euc1", "euw1"]}, "geographies": GEOGRAPHIES})
    assert "residency: zones.eu[1]: no such region 'euw1'" in text


def test_a_region_in_two_zones_is_refused_and_in_one_zone_passes():
    text = refused({"zones": {**ZONES, "apac": ["ane1", "euw4"]}, "geographies": GEOGRAPHIES})
    assert "zones.apac[1]: region 'euw4' is also in zone 'eu'" in text
    text = refused({"zones": {**ZONES, "us": ["use1", "usw2", "use1"]}, "geographies": GEOGRAPHIES})
    assert "zones.us[2]: region 'use1' is earlier in this zone" in text
    assert config({"zones": {**ZONES, "apac": ["ane1"]}, "geographies": GEOGRAPHIES}).residency is not None


def test_every_demand_geography_needs_a_zone():
    geos = {k: v for k, v in GEOGRAPHIES.items() if k != "japan"}
    text = refused({"zones": ZONES, "geographies": geos})
    assert "geographies: demand[2] geography 'japan' is in no zone" in text


def test_a_geography_names_a_declared_zone_and_a_demand_entry():
    text = refused({"zones": ZONES, "geographies": {**GEOGRAPHIES, "japan": "jp"}})
    assert "geographies.japan: no such zone 'jp'" in text
    text = refused({"zones": ZONES, "geographies": {**GEOGRAPHIES, "korea": "apac"}})
    assert "geographies.korea: no demand entry has this geography" in text


def test_a_one_region_zone_needs_three_availability_zones():
    two_azs = [dict(r, zones=2) if r["name"] == "ane1" else r for r in REGIONS]
    text = refused({"zones": ZONES, "geographies": GEOGRAPHIES}, regions=two_azs)
    assert "zones.apac: one region with 2 availability zone(s) cannot keep a majority" in text
    assert config({"zones": ZONES, "geographies": GEOGRAPHIES}).residency is not None  # 3 zones: passes


def test_a_two_region_zone_needs_one_region_with_two_availability_zones():
    one_az = [dict(r, zones=1) if r["cloud"] == "gcp" else r for r in REGIONS]
    one_az.append({"name": "euw1", "cloud": "gcp", "location": "europe-west1", "zones": 1})
    zones = {"us": ["use1", "usw2"], "eu": ["euw4", "euw1"], "apac": ["ane1", "euc1"]}
    text = refused({"zones": zones, "geographies": GEOGRAPHIES}, regions=one_az)
    assert "zones.eu: two single-zone regions cannot keep a majority" in text
    assert "zones.apac" not in text  # euc1 has three zones: it takes the two votes
    zones["eu"].append("usw2")  # three regions: always enough
    zones["us"].remove("usw2")
    assert config({"zones": zones, "geographies": GEOGRAPHIES}, regions=one_az).residency is not None


def test_unknown_keys_and_bad_zone_names_are_refused():
    assert "residency.zone: unknown field" in refused({"zone": ZONES, "zones": ZONES, "geographies": GEOGRAPHIES})
    text = refused({"zones": {**ZONES, "EU": ["euw4"]}, "geographies": GEOGRAPHIES})
    assert "residency.zones.EU" in text
    assert "residency.zones.us: List should have at least 1 item" in refused(
        {"zones": {**ZONES, "us": []}, "geographies": GEOGRAPHIES})


def test_a_broken_regions_section_is_reported_without_judging_the_zones_against_it():
    broken = [dict(REGIONS[0], zones="three"), *REGIONS[1:]]
    text = refused({"zones": ZONES, "geographies": GEOGRAPHIES}, regions=broken)
    assert "regions[0].zones" in text and "residency" not in text
