"""The residency planner: one shard per zone, voting only inside the zone; config servers over every
region; zone ranges that keep each zone's documents on its shard. Random zone layouts throughout."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config import MongoDbConfig, ResidencyConfig, parse_config
from infra.errors import ConfigError
from infra.planning.database import MAX_VOTING, plan_database
from infra.planning.plan import build_plan
from infra.planning.residency import (
    MAX_KEY,
    MIN_KEY,
    SHARD_KEY,
    drill_section,
    plan_residency,
    plan_shard,
    zone_range,
)
from tests.factories import raw_config
from tests.topology_plans import region_mixes, regions_plan

DOMAIN = "rollout.example.com"
ZONE_NAMES = ("us", "eu", "apac", "sa", "me", "af")
FEW = settings(max_examples=25, deadline=None)


@st.composite
def zone_layouts(draw, min_regions=1, max_regions=9):
    """Regions (2 or 3 availability zones each), split into 1..4 residency zones; some regions may be in
    no zone (compute only). Returns the region plan, traffic, and the residency config."""
    locations = draw(region_mixes(min_regions, max_regions))
    azs = draw(st.integers(2, 3))
    rp = regions_plan(locations, zones=azs)
    names = [r.name for r in rp.regions]
    count = draw(st.integers(1, min(4, len(names))))
    labels = draw(st.lists(st.integers(-1, count - 1), min_size=len(names), max_size=len(names)))
    labels[:count] = range(count)  # every zone gets at least one region
    zones = {ZONE_NAMES[z]: [n for n, label in zip(names, labels, strict=True) if label == z] for z in range(count)}
    rps = draw(st.lists(st.floats(0, 500, allow_nan=False), min_size=len(names), max_size=len(names)))
    residency = ResidencyConfig(zones=zones)
    return rp, dict(zip(names, rps, strict=True)), residency


def plan(case):
    rp, traffic, residency = case
    return plan_residency(rp.regions, traffic, residency, MongoDbConfig(), DOMAIN)


@FEW
@given(zone_layouts())
def test_every_shard_member_lives_in_its_zone_and_votes_are_odd_and_at_most_seven(case):
    _, _, residency = case
    p = plan(case)
    assert [s.zone for s in p.shards] == list(residency.zones)
    for shard in p.shards:
        rs = shard.replica_set
        assert {m.region for m in rs.members} <= set(residency.zones[shard.zone])
        assert rs.total_votes % 2 == 1 and rs.total_votes <= MAX_VOTING
        assert all(m.priority == 0 or m.votes == 1 for m in rs.members)
        assert set(shard.backup_regions()) <= set(residency.zones[shard.zone])
        assert set(shard.log_regions().values()) <= set(residency.zones[shard.zone])


@FEW
@given(zone_layouts())
def test_a_zone_of_three_regions_survives_any_region_loss_and_the_planner_names_the_ones_that_cannot(case):
    _, _, residency = case
    p = plan(case)
    for shard in p.shards:
        regions = residency.zones[shard.zone]
        survived = {r for r in regions if shard.lose(r).has_majority}
        if len(regions) >= 3:
            assert survived == set(regions) and shard.survives_region_loss
            assert "CANNOT" not in shard.region_loss()
        else:
            assert not shard.survives_region_loss
            assert "CANNOT" in shard.region_loss()
            # two regions: the second (one vote) may go, the first may not
            assert len(survived) == len(regions) - 1


@FEW
@given(zone_layouts())
def test_every_shard_survives_the_loss_of_one_availability_zone_where_validation_accepts_it(case):
    rp, _, residency = case
    p = plan(case)
    azs = {r.name: len(r.zones) for r in rp.regions}
    for shard in p.shards:
        regions = residency.zones[shard.zone]
        if len(regions) == 1 and azs[regions[0]] < 3:
            continue  # refused by config validation (tests/test_residency_config.py)
        for region, zone in shard.replica_set.failures():
            if zone is not None:
                assert shard.lose(region, zone).has_majority, (shard.zone, region, zone)


@FEW
@given(zone_layouts(min_regions=3))
def test_config_servers_survive_any_single_region_or_zone_loss_with_three_regions(case):
    cfg = plan(case).config_servers
    assert cfg.total_votes % 2 == 1 and cfg.total_votes <= MAX_VOTING
    for region, zone in cfg.failures():
        assert cfg.lose(region, zone).has_majority, (region, zone)


@FEW
@given(zone_layouts(min_regions=2), st.data())
def test_adding_a_region_to_a_zone_never_moves_a_member_of_another_shard(case, data):
    rp, traffic, residency = case
    spare = [r.name for r in rp.regions if not any(r.name in v for v in residency.zones.values())]
    if not spare:
        return
    added = data.draw(st.sampled_from(spare))
    grown_zone = data.draw(st.sampled_from(list(residency.zones)))
    grown = ResidencyConfig(zones={z: [*v, added] if z == grown_zone else v for z, v in residency.zones.items()})
    before = plan(case)
    after = plan((rp, traffic, grown))
    for shard in before.shards:
        if shard.zone != grown_zone:
            assert after.shard(shard.zone).replica_set.members == shard.replica_set.members
        else:  # the grown shard keeps every member (protected StatefulSets), at the same address
            kept = {(m.name, m.address) for m in after.shard(shard.zone).replica_set.members}
            assert {(m.name, m.address) for m in shard.replica_set.members} <= kept


@FEW
@given(zone_layouts(min_regions=1))
def test_no_two_members_share_an_address_with_the_replica_set_the_shards_or_the_config_servers(case):
    rp, traffic, _ = case
    p = plan(case)
    rs0 = plan_database(rp.regions, traffic, MongoDbConfig(survive_region_loss=len(rp.regions) >= 3), DOMAIN)
    members = [*rs0.members, *(m for s in p.sets() for m in s.members)]
    assert not [a for a, n in Counter(m.address for m in members).items() if n > 1]
    assert len({m.name for m in members}) == len(members)


@FEW
@given(zone_layouts(), st.lists(st.tuples(st.sampled_from((*ZONE_NAMES, "", "e", "eu0", "zz")),
                                          st.sampled_from([MIN_KEY + 1, -1, 0, 1, MAX_KEY - 1])
                                          | st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=30))
def test_zone_ranges_partition_each_zone_and_never_overlap(case, keys):
    p = plan(case)
    ranges = p.zone_ranges()
    for key in keys:
        holders = [r.zone for r in ranges if r.contains(key)]
        assert holders == ([key[0]] if key[0] in {s.zone for s in p.shards} else []), key
    ordered = sorted(ranges, key=lambda r: r.lower)
    for a, b in pairwise(ordered):
        assert a.upper <= b.lower


def test_a_zone_range_spans_every_hashed_value_of_its_zone_and_nothing_of_its_neighbours():
    eu = zone_range("eu")
    assert eu.contains(("eu", -(2**63))) and eu.contains(("eu", 2**63 - 1))
    assert not eu.contains(("e", 2**63 - 1)) and not eu.contains(("eu0", -(2**63))) and not eu.contains(("ev", 0))
    assert eu.command("app.requests") == {
        "updateZoneKeyRange": "app.requests", "zone": "eu",
        "min": {"zone": "eu", "_id": {"$minKey": 1}}, "max": {"zone": "eu", "_id": {"$maxKey": 1}}}


def prod_like(**residency):
    raw = raw_config(
        environment="prod",
        regions=[{"name": "use1", "cloud": "aws", "location": "us-east-1", "zones": 3},
                 {"name": "usw2", "cloud": "aws", "location": "us-west-2", "zones": 3},
                 {"name": "euc1", "cloud": "aws", "location": "eu-central-1", "zones": 3},
                 {"name": "euw4", "cloud": "gcp", "location": "europe-west4", "zones": 3},
                 {"name": "ane1", "cloud": "gcp", "location": "asia-northeast1", "zones": 3}],
        demand=[{"geography": "us-east", "rps": 6}, {"geography": "central-europe", "rps": 4},
                {"geography": "japan", "rps": 3}],
        mongodb={"primaryRegion": "use1"},
        residency={"zones": {"us": ["use1", "usw2"], "eu": ["euc1", "euw4"], "apac": ["ane1"]},
                   "geographies": {"us-east": "us", "central-europe": "eu", "japan": "apac"}, **residency})
    cfg = parse_config(raw)
    stack = build_plan(cfg)
    return plan_residency(stack.regions, {}, cfg.residency, cfg.mongodb, cfg.domain)


def test_prod_like_zones_plan_three_shards_config_servers_and_a_router_per_region():
    p = prod_like()
    assert [s.name for s in p.shards] == ["shard-us", "shard-eu", "shard-apac"]
    assert p.shard("us").replica_set.primary_region == "use1"  # mongodb.primaryRegion, inside the zone
    assert [m.zone for m in p.shard("apac").replica_set.members] == ["asia-northeast1-a", "asia-northeast1-b",
                                                                    "asia-northeast1-c"]
    assert p.config_servers.total_votes == 7 and set(p.config_servers.regions) == {"use1", "usw2", "euc1", "euw4",
                                                                                    "ane1"}
    assert [r.region for r in p.routers] == ["use1", "usw2", "euc1", "euw4", "ane1"]
    assert p.shard_key == SHARD_KEY == {"zone": 1, "_id": "hashed"}
    assert list(p.shard_key) == ["zone", "_id"]  # the zone is the prefix: the ranges bound it
    commands = p.setup_commands("app.requests")
    assert commands[-1] == {"shardCollection": "app.requests", "key": SHARD_KEY, "presplitHashedZones": True}


def test_the_drill_says_which_zone_stops_writing_when_a_region_goes():
    text = drill_section(prod_like(), "ane1")
    assert "shard-apac: losing region ane1" in text and "no majority" in text
    assert "zone apac: CANNOT survive the loss of ane1" in text
    assert "cfg: losing region ane1" in text
    assert "shard-eu: no member in ane1" in text
    assert drill_section(None, "ane1").startswith("Residency: this stack declares no residency zones")


def test_a_zone_naming_a_region_the_plan_does_not_have_is_refused_by_the_planner():
    p = prod_like()
    with pytest.raises(ConfigError, match=r"residency.zones.eu\[0\]: no such region 'euw1'"):
        plan_residency((), {}, ResidencyConfig(zones={"eu": ["euw1"]}), MongoDbConfig(), DOMAIN)
    assert p.lose("euc1").keys() == {"shard-eu", "cfg"}


def test_in_a_two_region_zone_the_two_votes_go_to_the_region_with_two_availability_zones():
    rp = regions_plan([("gcp", "europe-west4"), ("gcp", "europe-west1")], zones=3)
    single, multi = replace(rp.regions[0], zones=rp.regions[0].zones[:1]), rp.regions[1]
    busy = {single.name: 500.0, multi.name: 1.0}  # traffic alone would give the single-zone region two votes
    shard = plan_shard("eu", [single.name, multi.name], (single, multi), busy, MongoDbConfig(), DOMAIN)
    assert shard.replica_set.primary_region == multi.name
    assert sum(m.votes for m in shard.replica_set.in_region(multi.name)) == 2
    for region, zone in shard.replica_set.failures():
        if zone is not None:
            assert shard.lose(region, zone).has_majority, (region, zone)


def test_the_replica_set_may_not_grow_into_the_shards_address_slots():
    rp = regions_plan([("gcp", "europe-west4"), ("gcp", "europe-west1"), ("aws", "eu-central-1")], zones=3)
    names = [r.name for r in rp.regions]
    residency = ResidencyConfig(zones={"eu": names})
    fits = plan_database(rp.regions, {}, MongoDbConfig(non_voting_members={names[0]: 2}), DOMAIN)
    assert plan_residency(rp.regions, {}, residency, MongoDbConfig(), DOMAIN, fits).shards
    crowded = plan_database(rp.regions, {}, MongoDbConfig(non_voting_members={names[0]: 3}), DOMAIN)
    with pytest.raises(ConfigError, match=rf"mongodb.nonVotingMembers.{names[0]}: the replica set's members"):
        plan_residency(rp.regions, {}, residency, MongoDbConfig(), DOMAIN, crowded)
