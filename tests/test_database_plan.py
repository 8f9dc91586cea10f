"""The MongoDB layout planner: votes, priorities, zones, addresses and names, for any 2-20 regions."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config import MongoDbConfig, parse_config
from infra.errors import ConfigError
from infra.offline.preview import main as preview_main
from infra.planning.addressing import all_ranges
from infra.planning.database import DATA_REGION_MEMBERS, MAX_VOTING, plan_database, render_drill, traffic_band
from infra.planning.plan import build_plan, plan_for_stack_file
from tests.factories import ROOT, raw_config
from tests.previews import run_cli
from tests.topology_plans import region_mixes, regions_plan

DOMAIN = "rollout.example.com"


def traffic_for(names, draw_values):
    return dict(zip(names, draw_values, strict=False))


@st.composite
def layouts(draw, min_regions=3, max_regions=20):
    locations = draw(region_mixes(min_regions, max_regions))
    zones = draw(st.integers(2, 3))
    rp = regions_plan(locations, zones=zones)
    names = [r.name for r in rp.regions]
    rps = draw(st.lists(st.floats(0, 500, allow_nan=False), min_size=len(names), max_size=len(names)))
    tb = draw(st.one_of(st.none(), st.sampled_from(names))) if len(names) >= 3 else None
    extra = draw(st.dictionaries(st.sampled_from(names), st.integers(0, 2), max_size=3))
    cfg = MongoDbConfig(tie_breaker_region=tb, non_voting_members=extra, survive_region_loss=len(names) >= 3)
    return rp, traffic_for(names, rps), plan_database(rp.regions, traffic_for(names, rps), cfg, DOMAIN)


@settings(max_examples=60, deadline=None)
@given(layouts())
def test_any_single_region_or_zone_loss_keeps_a_voting_majority(case):
    _, _, db = case
    for region, zone in db.failures():
        result = db.lose(region, zone)
        assert result.has_majority, (region, zone, result)
        assert result.new_primary_region is not None and result.new_primary_region != (region if zone is None
                                                                                          else None)


@settings(max_examples=60, deadline=None)
@given(layouts(min_regions=2))
def test_votes_are_odd_at_most_seven_and_priority_needs_a_vote(case):
    _, _, db = case
    assert db.total_votes % 2 == 1 and db.total_votes <= MAX_VOTING
    for m in db.members:
        assert m.votes in (0, 1)
        assert m.priority == 0 or m.votes == 1
    assert sum(m.priority > 0 for m in db.members) >= 1


@settings(max_examples=60, deadline=None)
@given(layouts())
def test_the_busiest_traffic_band_gets_the_highest_priority_and_every_region_a_member(case):
    rp, traffic, db = case
    assert {r.name for r in rp.regions} == set(db.regions)
    top = max(m.priority for m in db.members)
    data = [r for r in traffic if r != db.tie_breaker_region]
    busiest = max(traffic_band(traffic[r]) for r in data)
    assert traffic_band(traffic[db.primary_region]) == busiest
    first_in_band = next(r for r in data if traffic_band(traffic[r]) == busiest)
    assert db.primary_region == first_in_band  # inside a band, the stack file's order decides
    assert {m.region for m in db.members if m.priority == top} == {db.primary_region}
    if db.tie_breaker_region:
        tb = db.in_region(db.tie_breaker_region)
        assert [m.votes for m in tb if m.votes] == [1] and all(m.priority == 0 for m in tb)


@settings(max_examples=60, deadline=None)
@given(layouts(min_regions=2))
def test_member_addresses_are_unique_inside_their_subnets_and_names_unique(case):
    rp, _, db = case
    assert len({m.address for m in db.members}) == len(db.members)
    assert len({m.host for m in db.members}) == len(db.members)
    by_name = {r.name: r for r in rp.regions}
    for m in db.members:
        region = by_name[m.region].addresses
        ip = ipaddress.ip_address(m.address)
        home = region.zones[m.zone_index].private if m.cloud == "aws" else region.primary
        net = ipaddress.ip_network(home)
        # not one of the addresses the clouds reserve (first four/two, last one/two)
        assert net.network_address + 4 <= ip < net.broadcast_address - 1, m
        owners = [name for name, r in all_ranges(rp.addresses) if ip in r]
        assert len(owners) == 1, (m, owners)  # only its own subnet: no other region's range holds it
        assert m.host == f"{m.name}.internal.{DOMAIN}"


@settings(max_examples=40, deadline=None)
@given(layouts())
def test_voting_members_of_a_region_sit_in_different_zones(case):
    _, _, db = case
    for region in db.regions:
        zones = Counter(m.zone for m in db.in_region(region) if m.votes)
        assert max(zones.values(), default=0) <= 1


def test_three_regions_give_2_2_1_with_the_busiest_two_doubled():
    rp = regions_plan([("aws", "us-east-1"), ("aws", "eu-central-1"), ("gcp", "asia-northeast1")])
    names = [r.name for r in rp.regions]
    db = plan_database(rp.regions, {names[0]: 10, names[1]: 30, names[2]: 5}, MongoDbConfig(), DOMAIN)
    votes = Counter()
    for m in db.members:
        votes[m.region] += m.votes
    assert votes == {names[1]: 2, names[0]: 2, names[2]: 1}
    assert db.primary_region == names[1]
    assert db.lose(names[1]).new_primary_region == names[0]


def test_eight_regions_leave_the_quietest_as_non_voting_members():
    locations = [("aws", "us-east-1"), ("aws", "us-west-2"), ("aws", "eu-central-1"), ("aws", "eu-west-1"),
                 ("gcp", "europe-west4"), ("gcp", "asia-northeast1"), ("gcp", "us-central1"),
                 ("aws", "ap-northeast-1")]
    rp = regions_plan(locations)
    traffic = {r.name: float(100 - i) for i, r in enumerate(rp.regions)}
    db = plan_database(rp.regions, traffic, MongoDbConfig(), DOMAIN)
    quietest = rp.regions[-1].name
    assert [(m.votes, m.priority) for m in db.in_region(quietest)] == [(0, 0)] * DATA_REGION_MEMBERS
    assert db.total_votes == 7


@pytest.mark.parametrize("count", [1, 2])
def test_fewer_than_three_regions_fail_naming_the_fix(count):
    rp = regions_plan([("aws", "us-east-1"), ("gcp", "europe-west4")][:count])
    with pytest.raises(ConfigError) as exc:
        plan_database(rp.regions, {}, MongoDbConfig(), DOMAIN)
    text = str(exc.value)
    assert "add a third region" in text and "mongodb.tieBreakerRegion" in text and "surviveRegionLoss" in text


def test_two_regions_with_the_opt_out_get_three_votes_and_the_drill_says_what_is_lost():
    rp = regions_plan([("aws", "us-east-1"), ("gcp", "europe-west4")])
    a, g = (r.name for r in rp.regions)
    db = plan_database(rp.regions, {a: 5, g: 1}, MongoDbConfig(survive_region_loss=False), DOMAIN)
    assert [m.votes for m in db.in_region(a)] == [1, 1] and [m.votes for m in db.in_region(g)] == [1, 0]
    assert not db.lose(a).has_majority and db.lose(a).new_primary_region is None
    assert db.lose(g).new_primary_region == a
    assert "no majority" in render_drill(db, a)


def test_too_many_members_for_the_address_slots_is_a_config_error():
    rp = regions_plan([("aws", "us-east-1"), ("gcp", "europe-west4"), ("aws", "eu-central-1")])
    g = rp.regions[1].name
    with pytest.raises(ConfigError, match=f"mongodb.nonVotingMembers.{g}"):
        plan_database(rp.regions, {}, MongoDbConfig(non_voting_members={g: 12}), DOMAIN)


def test_replica_set_config_uses_member_names_never_addresses():
    db = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").database
    doc = db.replica_set_config()
    assert doc["_id"] == "rs0"
    hosts = [m["host"] for m in doc["members"]]
    assert all(h.endswith(".internal.rollout.example.com:27017") for h in hosts)
    assert sorted(m["_id"] for m in doc["members"]) == list(range(len(hosts)))
    assert sum(m["votes"] for m in doc["members"]) == db.total_votes


def test_prod_layout_survives_every_region_and_zone_loss():
    db = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").database
    assert db is not None and db.survive_region_loss
    failures = db.failures()
    assert {r for r, z in failures if z is None} == {"use1", "usw2", "euc1", "euw4", "ane1"}
    for region, zone in failures:
        assert db.lose(region, zone).has_majority, (region, zone)


def test_cross_region_sources_are_the_other_regions_ranges_and_addresses_are_the_members():
    """What a member admits from outside its cluster: every member region's ranges but its own (its own
    VPC would hold strangers' pods on EKS); what it dials: every member's fixed address as a /32."""
    db = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").database
    assert db is not None
    by_region = dict(db.ranges_by_region)
    assert set(by_region) == set(db.regions)
    assert set(db.member_ranges) == {c for cidrs in by_region.values() for c in cidrs}
    for region in db.regions:
        outside = set(db.ranges_outside(region))
        assert not outside & set(by_region[region])
        assert outside | set(by_region[region]) == set(db.member_ranges)
        assert set(db.member_addresses(region)) == {f"{m.address}/32" for m in db.in_region(region)}
    assert len(db.member_addresses()) == len(db.members)


def test_dev_documents_its_opt_out():
    db = plan_for_stack_file(ROOT / "Pulumi.dev.yaml").database
    assert db is not None and not db.survive_region_loss and db.total_votes == 3
    assert "surviveRegionLoss: false" in (ROOT / "Pulumi.dev.yaml").read_text()


@pytest.mark.parametrize(("mongodb", "environment", "field"), [
    ({"tieBreakerRegion": "nowhere"}, "dev", "mongodb.tieBreakerRegion"),
    ({"nonVotingMembers": {"nowhere": 1}}, "dev", "mongodb.nonVotingMembers.nowhere"),
    ({"nonVotingMembers": {"use1": 60}}, "dev", "mongodb.nonVotingMembers"),
    ({"surviveRegionLoss": False}, "prod", "mongodb.surviveRegionLoss"),
    ({"image": "mongo:latest"}, "dev", "mongodb.image"),
    ({"storageGib": 1}, "dev", "mongodb.storageGib"),
])
def test_bad_mongodb_config_names_the_field(mongodb, environment, field):
    with pytest.raises(ConfigError) as exc:
        parse_config(raw_config(environment=environment, mongodb=mongodb))
    assert field in str(exc.value)


def test_two_region_stack_without_opt_out_fails_at_plan_time():
    with pytest.raises(ConfigError, match="add a third region"):
        build_plan(parse_config(raw_config(mongodb={})))


@pytest.mark.parametrize(("mongodb", "field"), [
    ({"tieBreakerRegion": "mars1"}, "mongodb.tieBreakerRegion: no such region 'mars1'"),
    ({}, "add a third region"),
])
def test_the_preview_cli_exits_2_naming_the_field(tmp_path, mongodb, field):

    from tests.factories import write_stack_file

    path = write_stack_file(tmp_path / "Pulumi.bad.yaml", raw_config(mongodb=mongodb))
    done = run_cli(preview_main, "--stack-file", str(path))
    assert done.returncode == 2, done.stderr
    assert field in done.stderr and "Traceback" not in done.stderr


@st.composite
def region_additions(draw):
    """A stack, and the same stack with one more catalog region inserted anywhere in its list, with
    any traffic (the new region may take the busiest band) and maybe a preferred primary region."""
    locations = draw(region_mixes(4, 13))
    added = draw(st.integers(0, len(locations) - 1))
    before = [loc for i, loc in enumerate(locations) if i != added]
    rp_after = regions_plan(locations)
    names_after = [r.name for r in rp_after.regions]
    rp_before = regions_plan(before)
    names_before = [r.name for r in rp_before.regions]
    traffic = dict(zip(names_after, draw(st.lists(st.floats(0, 500, allow_nan=False), min_size=len(names_after),
                                                  max_size=len(names_after))), strict=True))
    tb = draw(st.one_of(st.none(), st.sampled_from(names_before)))
    data = [n for n in names_before if n != tb]
    preferred = draw(st.one_of(st.none(), st.sampled_from(data)))
    extra = draw(st.dictionaries(st.sampled_from(names_before), st.integers(0, 2), max_size=2))
    cfg = MongoDbConfig(tie_breaker_region=tb, primary_region=preferred, non_voting_members=extra)
    # the running regions' traffic moves too when a region joins (it takes some of their users)
    shrink = draw(st.floats(0.3, 1.0))
    old = plan_database(rp_before.regions, {n: traffic[n] / shrink for n in names_before}, cfg, DOMAIN)
    return old, plan_database(rp_after.regions, traffic, cfg, DOMAIN)


@settings(max_examples=80, deadline=None)
@given(region_additions())
def test_adding_a_region_never_removes_renames_or_moves_a_member(case):
    """Stable identity: a member's StatefulSet, certificate, address and DNS name are its name, zone and
    address; a re-plan after adding a region keeps every one (votes and priorities may move: that is a
    reconfig, not a new member)."""
    before, after = case
    identity = {m.name: (m.region, m.zone, m.slot, m.address, m.host) for m in after.members}
    for m in before.members:
        assert identity.get(m.name) == (m.region, m.zone, m.slot, m.address, m.host), m.name
    assert after.total_votes % 2 == 1 and after.total_votes <= MAX_VOTING


@settings(max_examples=40, deadline=None)
@given(region_additions())
def test_a_preferred_primary_region_keeps_the_primary_whatever_the_traffic(case):
    before, after = case
    top = max(m.priority for m in after.members)
    leaders = {m.region for m in after.members if m.priority == top}
    assert leaders == {after.primary_region}
    if before.primary_region == after.primary_region:
        assert {m.region for m in before.members if m.priority == max(x.priority for x in before.members)} == \
            leaders


def test_a_float_difference_of_rps_does_not_move_the_primary():
    """The 56.22 vs 56.0 case: the same band, so the stack file's order decides, both ways round."""
    rp = regions_plan([("aws", "us-east-1"), ("gcp", "europe-west4"), ("aws", "us-west-2")])
    a, g, w = (r.name for r in rp.regions)
    one = plan_database(rp.regions, {a: 56.0, g: 56.22, w: 10}, MongoDbConfig(), DOMAIN)
    two = plan_database(rp.regions, {a: 56.3, g: 56.0, w: 10}, MongoDbConfig(), DOMAIN)
    assert one.primary_region == two.primary_region == a
    doubled = plan_database(rp.regions, {a: 56.0, g: 130.0, w: 10}, MongoDbConfig(), DOMAIN)
    assert doubled.primary_region == g  # a real shift (over a factor of two) still moves it
    pinned = plan_database(rp.regions, {a: 56.0, g: 130.0, w: 10}, MongoDbConfig(primary_region=a), DOMAIN)
    assert pinned.primary_region == a


def test_prod_pins_its_primary_and_sizes_the_cache_from_the_limit():
    db = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").database
    assert db.primary_region == "use1"
    assert db.cache_gib == (db.memory_gib - 1) / 2


@pytest.mark.parametrize(("mongodb", "field"), [
    ({"primaryRegion": "mars1"}, "mongodb.primaryRegion"),
])
def test_a_preferred_region_that_does_not_exist_is_named(mongodb, field):
    with pytest.raises(ConfigError) as exc:
        parse_config(raw_config(mongodb=mongodb))
    assert field in str(exc.value)


@pytest.mark.parametrize(("name", "cloud", "location"), [("euw1", "aws", "eu-west-1"), ("usc1", "gcp", "us-central1")])
def test_adding_a_region_to_prod_keeps_every_member_statefulset(tmp_path, name, cloud, location):
    """The issue-20 case on the real stack: a member's StatefulSet is `<region>-mongodb-<member>`, so the
    same (region, member name, zone, address) after the edit is the same, protected, StatefulSet."""
    import yaml

    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["global-ai-rollout:regions"].append({"name": name, "cloud": cloud, "location": location,
                                                             "zones": 3})
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(document, sort_keys=False))
    before = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").database
    after = plan_for_stack_file(edited).database
    kept = {m.name: (m.region, m.zone, m.address) for m in after.members}
    assert all(kept.get(m.name) == (m.region, m.zone, m.address) for m in before.members)
    assert {m.region for m in after.members} == {*before.regions, name}
    assert after.primary_region == before.primary_region == "use1"


@st.composite
def traffic_shifts(draw):
    """A stack (maybe with a preferred primary) planned under two unrelated traffic vectors, and with one
    more region appended to its list (how the stack file grows)."""
    locations = draw(region_mixes(4, 12))
    rp_all = regions_plan(locations)
    rp = regions_plan(locations[:-1])
    names = [r.name for r in rp.regions]
    rps = st.lists(st.floats(0, 500, allow_nan=False), min_size=len(locations), max_size=len(locations))
    first, second = traffic_for([r.name for r in rp_all.regions], draw(rps)), \
        traffic_for([r.name for r in rp_all.regions], draw(rps))
    preferred = draw(st.one_of(st.none(), st.sampled_from(names)))
    cfg = MongoDbConfig(primary_region=preferred)
    return (plan_database(rp.regions, first, cfg, DOMAIN), plan_database(rp.regions, second, cfg, DOMAIN),
            plan_database(rp_all.regions, second, cfg, DOMAIN))


@settings(max_examples=60, deadline=None)
@given(traffic_shifts())
def test_backup_regions_stay_put_when_traffic_moves_or_a_region_is_appended(case):
    """A backup region that moved would delete its protected bucket (the `up` stops): demand and price
    edits move priorities, never the backups; nor does a region appended to the stack file (which only
    adds a backup region when it brings a cloud the set had no member in: one backup per cloud)."""
    before, shifted, grown = case
    assert shifted.backup_regions() == before.backup_regions()
    cloud_of = {m.region: m.cloud for m in grown.members}
    assert set(before.backup_regions()) <= set(grown.backup_regions())
    added = set(grown.backup_regions()) - set(before.backup_regions())
    assert all(cloud_of[r] not in {m.cloud for m in before.members} for r in added)
    for plan in (before, grown):
        clouds = {m.cloud for m in plan.members}
        assert len(plan.backup_regions()) == len(clouds)
        assert {cloud_of[r] for r in plan.backup_regions()} == clouds
