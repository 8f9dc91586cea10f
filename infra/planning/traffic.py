"""Global traffic plan: the Route 53 record tree that sends each geography where the sizing plan does.

Pure (no pulumi import). From the sizing's routing table (normal state) and failover tables (one per
lost region), build one record tree in the service's public zone:

    <domain>                         geolocation: one record per location (+ default `*`)
      -> <geo>.route.<domain>        weighted: one member per region serving <geo>, weight ~ its rps
        -> <r>.<geo>.route.<domain>  failover: PRIMARY = region r (health-checked),
                                               SECONDARY = where r's share goes while r is lost
          -> backup.<r>.<geo>.route.<domain>  weighted over the other regions (health-checked)
    <r>.<domain>                     the region's own endpoint (alias to the ALB / A to the GCP LB)

Why the failover layer: Route 53 drops an unhealthy weighted member and renormalises the rest, which
spreads the lost region's share proportionally over the geography's other regions. The plan's
failover table moves it elsewhere (to regions with room). Here only the lost member changes: its
PRIMARY fails, its SECONDARY sends exactly its share where the plan's failover table adds traffic.
That realises the plan's table whenever the table keeps the traffic of healthy regions where it was
(the sizing's routing LP does, unless a chain of moves is needed); otherwise the lost share is placed
by the plan's table for that geography within the remaining room, and `adapted` says so.

Weights are integers up to 255 (Route 53's limit). Largest-remainder rounding with N units per set,
N = floor(255 / largest share) >= 255: every region's share of a geography is within 1/N <= 1/255
of the target (ROUNDING_BOUND). Failover sets are rounded unit by unit into regions that still have
room under `capacity x failover ceiling`, so rounding never overloads a region.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from infra.config import REST_OF_WORLD, RolloutConfig
from infra.errors import ConfigError
from infra.planning.geolocations import BUILT_IN, COUNTRIES, DEFAULT, US_STATES, Location, parse_location
from infra.planning.regions import regional_hostname
from infra.planning.sizing.plan import Routing, SizingPlan

MAX_WEIGHT = 255  # Route 53 weighted records: 0-255
ROUNDING_BOUND = 1 / MAX_WEIGHT  # max |realised share - planned share| per (geography, region), normal state
_EPS = 1e-9
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class DnsRecord:
    """One Route 53 record (type A) of the tree. Every record except an endpoint is an alias to
    `target`, another name in the zone, with evaluate_target_health on."""

    name: str
    kind: str  # "endpoint" | "geolocation" | "weighted" | "failover"
    set_identifier: str | None = None
    target: str | None = None  # alias target: a record name in the same zone
    region: str | None = None  # endpoint records: whose public endpoint this name is
    health_check: str | None = None  # the region whose HTTPS health check guards this record
    weight: int | None = None
    failover: str | None = None  # "PRIMARY" | "SECONDARY"
    location: Location | None = None


@dataclass(frozen=True)
class TrafficPlan:
    domain: str
    regions: tuple[str, ...]
    records: tuple[DnsRecord, ...]
    locations: Mapping[str, tuple[Location, ...]]  # geography -> every location routed to its tree
    demand: Mapping[str, float]  # geography -> rps
    capacity: Mapping[str, float]  # region -> rps at full utilisation
    ceiling: float  # failover utilisation ceiling
    normal_weights: Mapping[str, Mapping[str, int]]  # geography -> region -> weight
    failover_weights: Mapping[str, Mapping[str, Mapping[str, int]]]  # lost -> geography -> region -> weight
    default_geography: str  # the tree the default location (`*`) uses
    adapted: tuple[str, ...] = field(default=())  # where the plan's failover table was not expressible
    rounding_overshoot: float = 0.0  # rps a region may exceed capacity x ceiling by (0 unless the plan is exact-tight)
    zone_name: str = ""  # the public hosted zone holding the records (the domain, or a parent)
    existing_zone_id: str | None = None  # use this zone instead of creating one
    zone_delegated: bool = False  # the zone resolves publicly (existing zone, or a new one delegated by hand)
    health_path: str = "/health"
    health_interval: int = 30
    health_failure_threshold: int = 3
    endpoint_ttl: int = 60
    drained: frozenset[str] = frozenset()  # regions taking no user traffic (rollout pins, docs/rollout.md)
    # Countries in no configured geography: counted in `rest-of-world` (the default record's tree) or,
    # with restOfWorld.refuse, given no answer and named here.
    refused: tuple[str, ...] = ()
    # lost region -> region -> rps the sizing's failover table puts there (what the resolver must show).
    planned_failover_load: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def tree_name(self, geography: str) -> str:
        return f"{geography}.route.{self.domain}"

    def failover_capacity(self, region: str) -> float:
        return self.capacity[region] * self.ceiling

    def failover_limit(self, region: str) -> float:
        """What the records may put on a region in any single-loss state (capacity x ceiling, plus
        the rounding overshoot when the plan leaves no room for whole weights)."""
        return self.failover_capacity(region) + self.rounding_overshoot


def _largest_remainder(targets: Mapping[str, float]) -> dict[str, int]:
    """Integer weights (<= 255) whose shares are within 1/N of the targets' shares; zeros dropped."""
    total = sum(v for v in targets.values() if v > 0)
    shares = {r: v / total for r, v in targets.items() if v > 0}
    units = math.floor(MAX_WEIGHT / max(shares.values()) + _EPS)
    floors = {r: math.floor(s * units + _EPS) for r, s in shares.items()}
    left = units - sum(floors.values())
    for r in sorted(shares, key=lambda r: (-(shares[r] * units - floors[r]), r))[:left]:
        floors[r] += 1
    return {r: w for r, w in sorted(floors.items()) if w > 0}


def _fit_units(targets: Mapping[str, float], displaced: float, room: dict[str, float],
               allowed: set[str]) -> dict[str, int] | None:
    """Round `targets` (shares of `displaced` rps) to integer weights unit by unit, each unit going to
    the region furthest below its target that still has room; `room` is consumed. None if stuck."""
    total = sum(targets.values())
    shares = {r: v / total for r, v in targets.items() if v > 0}
    first = math.floor(MAX_WEIGHT / max(shares.values()) + _EPS)
    # Fewer units when the finest split is stuck (a region at 255 while others lack room).
    for units in range(first, max(first - 64, 0), -1):
        unit_rps, left = displaced / units, dict(room)
        weights = dict.fromkeys(sorted(allowed), 0)
        for _ in range(units):
            fits = [r for r in weights if weights[r] < MAX_WEIGHT and left[r] - unit_rps >= -_EPS]
            if not fits:
                break
            best = max(fits, key=lambda r: (shares.get(r, 0.0) * units - weights[r], left[r], r))
            weights[best] += 1
            left[best] -= unit_rps
        else:
            room.update(left)
            return {r: w for r, w in weights.items() if w > 0}
    return None


def _locations(demand: Mapping[str, float], overrides: Mapping[str, list[str]], rest: str | None,
               ) -> tuple[dict[str, list[Location]], list[str], list[str]]:
    """(geography -> its locations, problems, uncovered countries). A location belongs to the geography
    that lists it (built-in codes or `traffic.geolocations`); nothing is folded into a geography whose
    demand did not count it. Everything else is the rest of the world: counted in `rest-of-world` (the
    default record), refused (no record), or, with neither configured, a problem naming the countries."""
    problems: list[str] = []
    for geo in overrides:
        if geo == REST_OF_WORLD:
            problems.append(f"traffic.geolocations.{geo}: the rest of the world is every location no geography "
                            "lists (the default record); list those locations under a geography instead")
        elif geo not in demand:
            problems.append(f"traffic.geolocations.{geo}: no demand entry has this geography")
    claimed: dict[Location, str] = {}
    out: dict[str, list[Location]] = {geo: [] for geo in demand}
    for geo in demand:
        if not _LABEL.match(geo):
            problems.append(f"traffic.geolocations.{geo}: geography {geo!r} is not usable as a DNS label "
                            "(lowercase letters, digits, dashes)")
        codes = overrides.get(geo, BUILT_IN.get(geo))
        if geo == REST_OF_WORLD:
            continue  # its locations are what is left (below)
        if not codes:
            problems.append(f"traffic.geolocations.{geo}: Route 53 cannot route geography {geo!r}: it is not "
                            "built in; list its locations (countries like DE, US states like US-NY, "
                            "continent:EU)")
            continue
        for i, code in enumerate(codes):
            try:
                loc = parse_location(code)
            except ValueError as exc:
                problems.append(f"traffic.geolocations.{geo}[{i}]: {exc}")
                continue
            if loc in claimed and claimed[loc] != geo:
                problems.append(f"traffic.geolocations.{geo}: {code} is also a location of {claimed[loc]!r}; "
                                "Route 53 geolocation sends one location to one record (merge the two "
                                "geographies or give one of them other locations)")
                continue
            claimed[loc] = geo
            out[geo].append(loc)
    countries = {loc.country for loc in claimed if loc.country and not loc.subdivision}
    continents = sorted(loc.continent for loc in claimed if loc.continent)
    uncovered = sorted(COUNTRIES - countries)
    # US states of no geography, when no geography has the whole country.
    states = [] if "US" in countries else [
        Location(country="US", subdivision=st) for st in sorted(US_STATES)
        if Location(country="US", subdivision=st) not in claimed]
    if rest == "counted":
        out[REST_OF_WORLD] = [*(Location(country=c) for c in uncovered), *states]
    elif rest is None and (uncovered or states):
        outside = f" outside {', '.join('continent:' + c for c in continents)}" if continents else ""
        problems.append(
            f"restOfWorld: {len(uncovered)} countries{outside} are in no geography (and would fall to the "
            f"default record uncounted): {', '.join(uncovered)}"
            + (f"; and US states {', '.join(s.code for s in states)}" if states else "")
            + ". Count them (restOfWorld: {rps, latitude, longitude}) or refuse them (restOfWorld: {refuse: true})")
    refused = [*uncovered, *(s.code for s in states)] if rest == "refused" else []
    return out, problems, refused


def geolocation_problems(cfg: RolloutConfig) -> list[str]:
    """What `plan_traffic` refuses in the geolocations, from the config alone (checked with the config, so
    every command reports it at once with the other problems)."""
    rest = cfg.rest_of_world
    return _locations({d.geography: 1.0 for d in cfg.planned_demand}, cfg.traffic.geolocations,
                      None if rest is None else "refused" if rest.refuse else "counted")[1]


def traffic_from_config(cfg: RolloutConfig, sizing: SizingPlan, drained: frozenset[str] = frozenset()) -> TrafficPlan:
    """The stack's traffic plan (config + sizing); ConfigError naming the field."""
    t, rest = cfg.traffic, cfg.rest_of_world
    plan = plan_traffic(sizing, domain=cfg.domain, ceiling=cfg.utilization.failover_ceiling,
                        coordinates={d.geography: d.coordinates for d in cfg.planned_demand},
                        overrides=t.geolocations, drained=drained,
                        rest_of_world=None if rest is None else "refused" if rest.refuse else "counted")
    return replace(plan, zone_name=t.zone_name or cfg.domain, existing_zone_id=t.zone_id,
                   zone_delegated=t.zone_delegated or t.zone_id is not None,
                   health_path=t.health_check.path, health_interval=t.health_check.request_interval,
                   health_failure_threshold=t.health_check.failure_threshold, endpoint_ttl=t.endpoint_ttl)


def plan_traffic(sizing: SizingPlan, *, domain: str, ceiling: float,
                 coordinates: Mapping[str, tuple[float, float]],
                 overrides: Mapping[str, list[str]] | None = None,
                 drained: frozenset[str] = frozenset(), rest_of_world: str | None = None) -> TrafficPlan:
    """The record tree for `sizing`; ConfigError (field named) when DNS cannot express it.

    `rest_of_world`: "counted" (the sizing has the geography `rest-of-world`: the default record sends
    every unlisted location there), "refused" (no default record) or None (a problem if any country is
    in no geography)."""
    routing: Routing = sizing.routing
    demand = {geo: sum(per.values()) for geo, per in routing.items()}
    capacity = {h.region: h.capacity_rps for h in sizing.headroom}
    regions = tuple(capacity)
    if rest_of_world == "counted" and REST_OF_WORLD not in demand:
        raise ConfigError([f"restOfWorld: counted, but the sizing plan has no {REST_OF_WORLD!r} demand"])
    locations, problems, refused = _locations(demand, overrides or {}, rest_of_world)
    if problems:
        raise ConfigError(problems)

    normal_w = {geo: _largest_remainder(per) for geo, per in routing.items()}
    kept_base = {r: 0.0 for r in regions}  # realised normal load per region
    for geo, weights in normal_w.items():
        n = sum(weights.values())
        for r, w in weights.items():
            kept_base[r] += demand[geo] * w / n

    failover_w: dict[str, dict[str, dict[str, int]]] = {}
    adapted: list[str] = []
    slack = sum(demand.values()) / MAX_WEIGHT  # the most whole-weight rounding may add to one region
    overshoot = 0.0
    problems = []
    for lost in regions:
        room = {r: capacity[r] * ceiling - kept_base[r] for r in regions}
        room[lost] = 0.0
        table = sizing.failover.get(lost, routing)
        per_geo: dict[str, dict[str, int]] = {}
        moving = [(geo, demand[geo] * w[lost] / sum(w.values())) for geo, w in normal_w.items() if lost in w]
        for geo, displaced in sorted(moving, key=lambda m: (-m[1], m[0])):
            after, before = table.get(geo, {}), routing[geo]
            moved = {r: after.get(r, 0.0) - before.get(r, 0.0) for r in after if r != lost}
            if any(v < -1e-6 for v in moved.values()) or sum(max(v, 0) for v in moved.values()) <= _EPS:
                adapted.append(f"losing {lost}: {geo} keeps its other regions; its {lost} share follows the "
                               "failover table's proportions")
                moved = {r: v for r, v in after.items() if r != lost}
            allowed = {r for t in (routing, *sizing.failover.values()) for r in t.get(geo, {})} - {lost}
            targets = {r: v for r, v in moved.items() if v > _EPS} or dict.fromkeys(allowed, 1.0)
            weights = _fit_units(targets, displaced, room, allowed) if targets else None
            if weights is None and targets:
                # No slack left for whole weights (the plan fills every room exactly): allow the
                # rounding slack above the ceiling, and say so.
                loose = {r: v + slack for r, v in room.items()}
                weights = _fit_units(targets, displaced, loose, allowed)
                if weights is not None:
                    room.update({r: v - slack for r, v in loose.items()})
                    adapted.append(f"losing {lost}: {geo}'s share needs rounding slack above the failover "
                                   "ceiling (the plan leaves no room for whole weights)")
            if weights is None:
                problems.append(f"utilization.failoverCeiling: losing region {lost}, {geo}'s {displaced:.2f} rps "
                                "cannot be placed in whole DNS weights (0-255) without exceeding some region's "
                                "failover capacity; add capacity or raise the ceiling")
                continue
            per_geo[geo] = weights
        failover_w[lost] = per_geo
        overshoot = max(overshoot, -min(room.values()))  # what rounding put above capacity x ceiling
    if problems:
        raise ConfigError(problems)

    # The default record follows the plan: the rest of the world's tree, or none when they are refused.
    default_geo = REST_OF_WORLD if rest_of_world == "counted" else ""
    records = _records(domain, regions, locations, normal_w, failover_w, default_geo, drained)
    planned = {lost: {r: sum(table.get(geo, routing[geo]).get(r, 0.0) for geo in routing) for r in regions
                      if r != lost}
               for lost in regions for table in (sizing.failover.get(lost, routing),)}
    return TrafficPlan(domain=domain, regions=regions, records=records,
                       locations={g: tuple(sorted(v, key=lambda x: x.code)) for g, v in locations.items()},
                       demand=demand,
                       capacity=capacity, ceiling=ceiling, normal_weights=normal_w, failover_weights=failover_w,
                       default_geography=default_geo, adapted=tuple(adapted), zone_name=domain,
                       rounding_overshoot=overshoot if overshoot > _EPS else 0.0, drained=drained,
                       refused=tuple(refused), planned_failover_load=planned)


def _records(domain: str, regions: tuple[str, ...], locations: Mapping[str, list[Location]],
             normal_w: Mapping[str, Mapping[str, int]], failover_w: Mapping[str, Mapping[str, Mapping[str, int]]],
             default_geo: str, drained: frozenset[str] = frozenset()) -> tuple[DnsRecord, ...]:
    """The tree. A drained region (rollout pin `traffic: false`) takes no user traffic: each of its
    weighted members points straight at its backup set (the plan's failover table for that region),
    and it keeps weight 0 in the other regions' backup sets (used only if nothing else is healthy)."""
    out = [DnsRecord(name=regional_hostname(r, domain), kind="endpoint", region=r) for r in regions]
    tree = {geo: f"{geo}.route.{domain}" for geo in normal_w}
    for geo, locs in locations.items():
        if geo == REST_OF_WORLD:
            continue  # reached through the default record
        for loc in sorted(locs, key=lambda x: x.code):
            out.append(DnsRecord(name=domain, kind="geolocation", set_identifier=f"geo-{loc.label}",
                                 target=tree[geo], location=loc))
    if default_geo:
        out.append(DnsRecord(name=domain, kind="geolocation", set_identifier="geo-default",
                             target=tree[default_geo], location=DEFAULT))
    for geo, weights in normal_w.items():
        for r, w in weights.items():
            pair = f"{r}.{tree[geo]}"
            backup = f"backup.{pair}"
            out.append(DnsRecord(name=tree[geo], kind="weighted", set_identifier=f"{geo}-{r}",
                                 target=backup if r in drained else pair, weight=w))
            if r not in drained:
                out.append(DnsRecord(name=pair, kind="failover", set_identifier=f"{geo}-{r}-primary",
                                     target=regional_hostname(r, domain), health_check=r, failover="PRIMARY"))
                out.append(DnsRecord(name=pair, kind="failover", set_identifier=f"{geo}-{r}-secondary",
                                     target=backup, failover="SECONDARY"))
            for r2, w2 in failover_w[r][geo].items():
                out.append(DnsRecord(name=backup, kind="weighted", set_identifier=f"{geo}-{r}-via-{r2}",
                                     target=regional_hostname(r2, domain), health_check=r2,
                                     weight=0 if r2 in drained else w2))
    return tuple(out)
