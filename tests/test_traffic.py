"""Global traffic plan and resolver simulator: the Route 53 record tree realises the sizing's routing.

Normal state: every geography's share per region is the plan's within the rounding bound (1/255).
Every single-region loss: no region gets more than capacity x failover ceiling, no geography unserved.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, event, given, settings

from infra.config import config_from_stack_file, parse_config
from infra.errors import ConfigError
from infra.offline.preview import main as preview_main
from infra.planning.geolocations import CONTINENTS, COUNTRIES, DEFAULT, US_STATES, Location, parse_location
from infra.planning.resolver import RecordTree, check_traffic, describe_loss, geography_shares, region_loads
from infra.planning.sizing import plan_sizing, solve
from infra.planning.traffic import MAX_WEIGHT, ROUNDING_BOUND, DnsRecord, plan_traffic, traffic_from_config
from tests.factories import ROOT, raw_config, write_stack_file
from tests.previews import run_cli, stack_plan
from tests.test_sizing import problems


@pytest.fixture(scope="module")
def prod():
    cfg = config_from_stack_file(ROOT / "Pulumi.prod.yaml")
    sizing = stack_plan("prod").sizing  # the pinned plan the prod preview deploys (tests/previews.py)
    return sizing, traffic_from_config(cfg, sizing)


def assert_realises(sizing, traffic) -> None:
    """The issue's acceptance: normal routing within the bound; each single loss served, none overloaded."""
    normal = geography_shares(traffic)
    for geo, per in sizing.routing.items():
        total = sum(per.values())
        for region in set(per) | set(normal[geo]):
            assert abs(normal[geo].get(region, 0.0) - per.get(region, 0.0) / total) <= ROUNDING_BOUND + 1e-12, \
                (geo, region)
    for lost in traffic.regions:
        shares = geography_shares(traffic, {lost})
        for geo, per in shares.items():
            assert lost not in per
            assert sum(per.values()) == pytest.approx(1.0, abs=1e-9), f"{geo} unserved while {lost} is lost"
        for region, load in region_loads(traffic, shares).items():
            limit = sizing_capacity(sizing, region) * traffic.ceiling + traffic.rounding_overshoot
            assert load <= limit + 1e-6, (lost, region, load)
            assert load <= sizing_capacity(sizing, region) + 1e-6  # never beyond the real capacity


def sizing_capacity(sizing, region: str) -> float:
    return next(h.capacity_rps for h in sizing.headroom if h.region == region)


def assert_route53_shaped(traffic) -> None:
    """What Route 53 accepts: one policy per name, distinct set ids, integer weights 0-255, aliases to
    names in the zone, health checks on every leaf that answers with a region, a default location."""
    RecordTree(traffic.records)  # raises on mixed policies, duplicate ids, bad weights, dangling aliases
    names = {r.name for r in traffic.records}
    endpoints = {r.name: r.region for r in traffic.records if r.kind == "endpoint"}
    for r in traffic.records:
        assert r.name == traffic.domain or r.name.endswith("." + traffic.domain)
        if r.kind == "endpoint":
            continue
        assert r.target in names
        if r.weight is not None:
            assert isinstance(r.weight, int) and 0 <= r.weight <= MAX_WEIGHT
        if r.target in endpoints:
            assert r.health_check == endpoints[r.target], f"{r.name}/{r.set_identifier} not health-checked"
        if r.kind == "geolocation":
            loc = r.location
            assert loc == DEFAULT or loc.continent in CONTINENTS or loc.country in COUNTRIES
            assert loc.subdivision is None or (loc.country == "US" and loc.subdivision in US_STATES)
    # A default record exactly when the rest of the world is counted (refused: no answer on purpose).
    assert any(r.location == DEFAULT for r in traffic.records) == (not traffic.refused)


def test_prod_records_realise_the_plan_within_the_rounding_bound_and_survive_every_single_loss(prod):
    sizing, traffic = prod
    assert_route53_shaped(traffic)
    assert_realises(sizing, traffic)
    assert check_traffic(traffic) == []
    assert traffic.rounding_overshoot == 0.0  # strictly within capacity x ceiling
    assert traffic.adapted == ()  # prod's failover tables keep healthy regions' traffic: realised exactly


def test_prod_failover_sends_the_lost_share_where_the_plan_does(prod):
    sizing, traffic = prod
    for lost, table in sizing.failover.items():
        shares = geography_shares(traffic, {lost})
        for geo, per in table.items():
            total = sum(per.values())
            for region, rps in per.items():
                # kept traffic and the lost share each rounded once: within two rounding steps
                assert shares[geo].get(region, 0.0) == pytest.approx(rps / total, abs=2 * ROUNDING_BOUND)


def test_plain_weighted_records_would_not_follow_the_failover_table(prod):
    """Why the failover layer exists: renormalising us-east over its remaining region would put all
    of it on usw2, beyond usw2's failover capacity; the plan spreads it over four regions."""
    sizing, traffic = prod
    plain = sizing.routing["us-east"]
    remaining = {r: v for r, v in plain.items() if r != "use1"}
    assert list(remaining) == ["usw2"]
    overloaded = sizing.routing["us-west"]["usw2"] + sum(plain.values())
    assert overloaded > sizing_capacity(sizing, "usw2") * traffic.ceiling
    assert set(geography_shares(traffic, {"use1"})["us-east"]) == {"usw2", "euc1", "euw4", "ane1"}


def test_every_location_of_a_geography_resolves_to_its_own_tree(prod):
    _, traffic = prod
    tree = RecordTree(traffic.records)
    for geo, locations in traffic.locations.items():
        for loc in locations:
            matches = [r for r in tree.by_name[traffic.domain] if r.location == loc]
            if geo == "rest-of-world":  # no record of its own: the default record
                assert matches == []
                assert tree.resolve(traffic.domain, loc, frozenset())[0] == pytest.approx(
                    geography_shares(traffic)["rest-of-world"])
            else:
                assert [m.target for m in matches] == [traffic.tree_name(geo)]
    (default,) = [r for r in tree.by_name[traffic.domain] if r.location == DEFAULT]
    assert default.target == traffic.tree_name("rest-of-world") == traffic.tree_name(traffic.default_geography)


def test_prod_counts_every_user_outside_its_geographies_in_the_rest_of_the_world(prod):
    """France, Italy, India, Australia, China, US states of no listed geography: no geography's demand
    counted them, so none of its records answers them; the default record sends them to the planned
    rest-of-world tree, whose demand the sizing counted."""
    sizing, traffic = prod
    rest = set(traffic.locations["rest-of-world"])
    for code in ("FR", "IT", "IN", "AU", "CN", "RU", "TR", "BR", "NG", "US-TX"):
        assert parse_location(code) in rest, code
        assert all(parse_location(code) not in locs for geo, locs in traffic.locations.items()
                   if geo != "rest-of-world")
    assert traffic.demand["rest-of-world"] == pytest.approx(sum(sizing.routing["rest-of-world"].values())) == 20
    assert traffic.refused == ()


def test_with_neither_count_nor_refusal_the_plan_names_the_uncovered_countries():
    raw = raw_config()
    del raw["restOfWorld"]
    cfg = parse_config(raw)
    with pytest.raises(ConfigError) as caught:
        traffic_from_config(cfg, plan_sizing(cfg))
    (problem,) = caught.value.problems
    assert problem.startswith("restOfWorld:") and "CN" in problem and "FR" in problem and "US-TX" in problem


def test_a_refusal_gives_the_uncovered_countries_no_answer_and_names_them():
    cfg = parse_config(raw_config())  # the factory stack refuses the rest of the world
    traffic = traffic_from_config(cfg, plan_sizing(cfg))
    assert "CN" in traffic.refused and "US-TX" in traffic.refused and "US-NY" not in traffic.refused
    assert not [r for r in traffic.records if r.location == DEFAULT]
    shares, ok = RecordTree(traffic.records).resolve(traffic.domain, parse_location("CN"), frozenset())
    assert (shares, ok) == ({}, False)


@pytest.mark.parametrize("rest, field", [({"rps": 3}, "restOfWorld"), ({"rps": 3, "refuse": True}, "restOfWorld"),
                                         ({}, "restOfWorld")])
def test_a_rest_of_world_without_a_point_or_with_two_modes_is_named(rest, field):
    with pytest.raises(ConfigError) as caught:
        parse_config(raw_config(restOfWorld=rest))
    assert all(p.startswith(field) for p in caught.value.problems)


def test_the_headroom_the_resolver_shows_is_the_planned_one(prod):
    """For every single loss, the load the records put on each region equals the sizing's failover
    table within the rounding bound, so the headroom `--lose` prints is the plan's."""
    _, traffic = prod
    slack = 2 * sum(traffic.demand.values()) * ROUNDING_BOUND
    for lost in traffic.regions:
        loads = region_loads(traffic, geography_shares(traffic, {lost}))
        for region, planned in traffic.planned_failover_load[lost].items():
            assert loads[region] == pytest.approx(planned, abs=slack), (lost, region)
    text = "\n".join(describe_loss(traffic, "use1"))
    assert "planned headroom" in text


def test_describe_loss_lists_every_geography_and_region(prod):
    _, traffic = prod
    text = "\n".join(describe_loss(traffic, "use1"))
    for geo in traffic.demand:
        assert geo in text
    assert "UNSERVED" not in text and "usw2" in text


# --- the resolver's Route 53 semantics, on hand-made trees ---

def _endpoint(r: str) -> DnsRecord:
    return DnsRecord(name=f"{r}.x.com", kind="endpoint", region=r)


def test_weighted_drops_unhealthy_members_and_renormalises():
    recs = [_endpoint("a"), _endpoint("b"), _endpoint("c"),
            *(DnsRecord(name="w.x.com", kind="weighted", set_identifier=r, target=f"{r}.x.com", health_check=r,
                        weight=w) for r, w in (("a", 50), ("b", 30), ("c", 20)))]
    tree = RecordTree(recs)
    assert tree.resolve("w.x.com", DEFAULT, frozenset())[0] == pytest.approx({"a": 0.5, "b": 0.3, "c": 0.2})
    assert tree.resolve("w.x.com", DEFAULT, frozenset({"a"}))[0] == pytest.approx({"b": 0.6, "c": 0.4})
    _, ok = tree.resolve("w.x.com", DEFAULT, frozenset({"a", "b", "c"}))
    assert not ok


def test_failover_uses_secondary_only_while_primary_is_unhealthy():
    recs = [_endpoint("a"), _endpoint("b"),
            DnsRecord(name="f.x.com", kind="failover", set_identifier="p", target="a.x.com", health_check="a",
                      failover="PRIMARY"),
            DnsRecord(name="f.x.com", kind="failover", set_identifier="s", target="b.x.com", health_check="b",
                      failover="SECONDARY")]
    tree = RecordTree(recs)
    assert tree.resolve("f.x.com", DEFAULT, frozenset())[0] == {"a": 1.0}
    assert tree.resolve("f.x.com", DEFAULT, frozenset({"a"}))[0] == {"b": 1.0}
    assert tree.resolve("f.x.com", DEFAULT, frozenset({"a", "b"}))[1] is False


def test_geolocation_prefers_the_most_specific_healthy_location():
    recs = [_endpoint("a"), _endpoint("b"), _endpoint("c"),
            DnsRecord(name="x.com", kind="geolocation", set_identifier="ny", target="a.x.com", health_check="a",
                      location=Location(country="US", subdivision="NY")),
            DnsRecord(name="x.com", kind="geolocation", set_identifier="us", target="b.x.com", health_check="b",
                      location=Location(country="US")),
            DnsRecord(name="x.com", kind="geolocation", set_identifier="d", target="c.x.com", health_check="c",
                      location=DEFAULT)]
    tree = RecordTree(recs)
    ny, ca, de = Location(country="US", subdivision="NY"), Location(country="US", subdivision="CA"), \
        Location(country="DE")
    assert tree.resolve("x.com", ny, frozenset())[0] == {"a": 1.0}
    assert tree.resolve("x.com", ca, frozenset())[0] == {"b": 1.0}
    assert tree.resolve("x.com", de, frozenset())[0] == {"c": 1.0}
    assert tree.resolve("x.com", ny, frozenset({"a"}))[0] == {"b": 1.0}


@pytest.mark.parametrize("bad, message", [
    ([DnsRecord(name="x.com", kind="weighted", set_identifier="a", target="a.x.com", weight=256)], "0-255"),
    ([DnsRecord(name="x.com", kind="weighted", set_identifier="a", target="a.x.com", weight=1),
      DnsRecord(name="x.com", kind="failover", set_identifier="b", target="a.x.com", failover="PRIMARY")],
     "mixes routing policies"),
    ([DnsRecord(name="x.com", kind="weighted", set_identifier="a", target="a.x.com", weight=1),
      DnsRecord(name="x.com", kind="weighted", set_identifier="a", target="a.x.com", weight=2)], "set identifiers"),
    ([DnsRecord(name="x.com", kind="weighted", set_identifier="a", target="nowhere.x.com", weight=1)],
     "not in the zone"),
    ([DnsRecord(name="x.com", kind="failover", set_identifier="a", target="a.x.com", failover="PRIMARY"),
      DnsRecord(name="x.com", kind="failover", set_identifier="b", target="a.x.com", failover="PRIMARY")],
     "one PRIMARY"),
    ([DnsRecord(name="x.com", kind="geolocation", set_identifier="a", target="a.x.com", location=DEFAULT),
      DnsRecord(name="x.com", kind="geolocation", set_identifier="b", target="a.x.com", location=DEFAULT)],
     "its own location"),
])
def test_the_resolver_refuses_what_route53_would_refuse(bad, message):
    with pytest.raises(ValueError, match=message):
        RecordTree([_endpoint("a"), *bad])


# --- property tests: random plans ---

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.filter_too_much])
@given(problems(max_regions=5, max_geos=5))
def test_random_plans_are_realised_within_the_bound_and_survive_every_single_loss(problem):
    assume(problem.survive_region_loss)
    sizing = solve(problem)
    countries = sorted(COUNTRIES)
    overrides = {g.name: [countries[i]] for i, g in enumerate(problem.geos)}
    coordinates = {g.name: (0.0, float(i)) for i, g in enumerate(problem.geos)}
    try:
        traffic = plan_traffic(sizing, domain="svc.example.com", ceiling=problem.util_failover,
                               coordinates=coordinates, overrides=overrides, rest_of_world="refused")
    except ConfigError as err:
        # Refused only when some loss needs a chain move (traffic of a healthy region moved to make
        # room), which a failover record per (geography, region) cannot express.
        lost = [r for r in sizing.failover if f"losing region {r}," in str(err)]
        assert lost and all(_needs_chain_move(sizing, r) for r in lost), str(err)
        event("refused: chain move")
        return
    event("realised" + (" with rounding overshoot" if traffic.rounding_overshoot else ""))
    assert_route53_shaped(traffic)
    assert_realises(sizing, traffic)
    assert traffic.rounding_overshoot <= sum(traffic.demand.values()) / MAX_WEIGHT


def _needs_chain_move(sizing, lost: str) -> bool:
    return any(after.get(r, 0.0) < sizing.routing[geo].get(r, 0.0) - 1e-6
               for geo, after in sizing.failover[lost].items() for r in sizing.routing[geo] if r != lost)


# --- bad input ---

def _config(**traffic_and_demand):
    return parse_config(raw_config(**traffic_and_demand))


def test_a_geography_dns_cannot_express_is_named():
    cfg = _config(demand=[{"geography": "mars-colony", "rps": 3, "latitude": 40.0, "longitude": -70.0}])
    with pytest.raises(ConfigError, match=r"traffic\.geolocations\.mars-colony: Route 53 cannot route"):
        traffic_from_config(cfg, plan_sizing(cfg))


def test_the_same_country_for_two_geographies_is_named():
    cfg = _config(demand=[{"geography": "india-west", "rps": 2}, {"geography": "india-north", "rps": 2}],
                  latency={"normalMs": 300, "failoverMs": 400})
    with pytest.raises(ConfigError, match=r"traffic\.geolocations\.india-north: IN is also a location of"):
        traffic_from_config(cfg, plan_sizing(cfg))


def test_a_location_route53_does_not_know_is_named():
    cfg = _config(traffic={"geolocations": {"us-east": ["US-NY", "CA-ON", "continent:XX"]}})
    with pytest.raises(ConfigError) as err:
        traffic_from_config(cfg, plan_sizing(cfg))
    assert "traffic.geolocations.us-east[1]" in str(err.value) and "traffic.geolocations.us-east[2]" in str(err.value)


def test_overrides_replace_the_built_in_locations():
    cfg = _config(traffic={"geolocations": {"us-east": ["US-NY", "continent:NA"]}})
    traffic = traffic_from_config(cfg, plan_sizing(cfg))
    assert Location(continent="NA") in traffic.locations["us-east"]
    assert Location(country="US", subdivision="NY") in traffic.locations["us-east"]


@pytest.mark.parametrize("traffic, field", [
    ({"zoneId": "Z0123456789ABC"}, "traffic.zoneName"),
    ({"zoneId": "Z0123456789ABC", "zoneName": "other.org"}, "traffic.zoneName"),
    ({"healthCheck": {"requestInterval": 20}}, "traffic.healthCheck.requestInterval"),
    ({"healthCheck": {"failureThreshold": 11}}, "traffic.healthCheck.failureThreshold"),
])
def test_bad_traffic_config_is_named(traffic, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        _config(traffic=traffic)


def test_an_existing_parent_zone_holds_the_domain():
    cfg = _config(traffic={"zoneId": "Z0123456789ABC", "zoneName": "rollout.example.com"})
    traffic = traffic_from_config(cfg, plan_sizing(cfg))
    assert traffic.zone_name == "rollout.example.com" and traffic.existing_zone_id == "Z0123456789ABC"


def test_the_preview_exits_2_naming_a_domain_with_no_zone(tmp_path):
    raw = raw_config(traffic={"zoneId": "Z0123456789ABC", "zoneName": "elsewhere.org"})
    path = write_stack_file(tmp_path / "Pulumi.bad.yaml", raw)
    done = run_cli(preview_main, "--stack-file", str(path))
    assert done.returncode == 2
    assert "traffic.zoneName" in done.stderr and "Traceback" not in done.stderr + done.stdout


def test_the_preview_exits_2_naming_a_geography_dns_cannot_express(tmp_path):
    raw = raw_config(demand=[{"geography": "mars-colony", "rps": 3, "latitude": 40.0, "longitude": -70.0}])
    path = write_stack_file(tmp_path / "Pulumi.bad.yaml", raw)
    done = run_cli(preview_main, "--stack-file", str(path))
    assert done.returncode == 2, done.stderr
    assert "traffic.geolocations.mars-colony" in done.stderr and "Traceback" not in done.stderr + done.stdout


def test_preview_lose_shows_where_each_geography_goes_and_names_a_bad_region():
    done = run_cli(preview_main, "--stack", "prod", "--lose", "use1")
    assert done.returncode == 0, done.stderr
    assert "us-east" in done.stdout and "usw2" in done.stdout and "failover capacity" in done.stdout
    bad = run_cli(preview_main, "--stack", "prod", "--lose", "nowhere")
    assert bad.returncode == 2 and "--lose" in bad.stderr


def test_a_drained_region_gets_no_users_and_its_share_follows_the_failover_table(prod):
    """Rollout contract (docs/rollout.md): a region pinned with `traffic: false` takes no user traffic;
    its geographies go where the plan's failover table for that region sends them."""
    from dataclasses import replace

    sizing, traffic = prod
    cfg = config_from_stack_file(ROOT / "Pulumi.prod.yaml")
    drained = traffic_from_config(cfg, sizing, frozenset({"use1"}))
    assert check_traffic(drained) == []
    all_healthy = geography_shares(drained)
    as_if_lost = geography_shares(traffic, {"use1"})
    for geo in traffic.demand:
        assert "use1" not in all_healthy[geo]
        assert all_healthy[geo] == pytest.approx(as_if_lost[geo], abs=1e-12)
    assert_route53_shaped(drained)
    weights = {r.weight for r in drained.records if r.kind == "weighted" and r.target == "use1.rollout.example.com"}
    assert weights == {0}
    assert replace(drained, drained=frozenset()).records != traffic.records  # the tree itself changed


def test_the_program_drains_a_region_pinned_without_traffic(tmp_path):
    from infra.planning.plan import build_plan

    raw = raw_config(rollout={"pins": {"euw4": {"model": "m", "image": "vllm/vllm-openai:v0.6.3",
                                                 "traffic": False}}},
                     demand=[{"geography": "us-east", "rps": 4}, {"geography": "central-europe", "rps": 3}])
    plan = build_plan(parse_config(raw))
    assert plan.traffic.drained == frozenset({"euw4"})
    shares = geography_shares(plan.traffic)
    assert all(set(per) == {"use1"} for per in shares.values())
