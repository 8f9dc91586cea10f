"""A resolver simulator: where each geography's traffic lands, given a record tree and the regions
whose health checks fail.

Pure (no pulumi import). It evaluates records the way Route 53 does:
- geolocation: the most specific record matching the user's location (US state, country, continent,
  then the default `*`); if that record is unhealthy, the next larger location's record
  (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-geo.html: the smallest
  region wins; an unhealthy record falls back to the default);
- weighted: the healthy members in proportion to their weights (members with weight 0 only when no
  member with weight > 0 is healthy); if none is healthy the set is unhealthy;
- failover: PRIMARY while it is healthy, else SECONDARY while it is healthy, else unhealthy;
- a record is healthy when its health check (if any) passes and, for an alias with
  evaluate_target_health, its target name has a healthy answer;
- an endpoint record answers with its region; it is healthy while the region is.
Traffic answered with an unhealthy region counts as unserved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from infra.planning.geolocations import Location
from infra.planning.traffic import DnsRecord, TrafficPlan

Shares = dict[str, float]  # region -> share of a geography's traffic (sums to <= 1)


class RecordTree:
    """Records grouped by name, checked for what Route 53 would refuse."""

    def __init__(self, records: Iterable[DnsRecord]):
        self.by_name: dict[str, list[DnsRecord]] = defaultdict(list)
        for rec in records:
            self.by_name[rec.name].append(rec)
        for name, recs in self.by_name.items():
            kinds = {r.kind for r in recs}
            if len(kinds) != 1:
                raise ValueError(f"{name}: mixes routing policies {sorted(kinds)}")
            ids = [r.set_identifier for r in recs]
            if len(recs) > 1 and (None in ids or len(set(ids)) != len(ids)):
                raise ValueError(f"{name}: records need distinct set identifiers")
            roles = [r.failover for r in recs if r.kind == "failover"]
            if len(roles) != len(set(roles)) or not set(roles) <= {"PRIMARY", "SECONDARY"}:
                raise ValueError(f"{name}: failover records need one PRIMARY and at most one SECONDARY")
            places = [r.location for r in recs if r.kind == "geolocation"]
            if len(places) != len(set(places)) or None in places:
                raise ValueError(f"{name}: each geolocation record needs its own location")
            for r in recs:
                if r.weight is not None and not (isinstance(r.weight, int) and 0 <= r.weight <= 255):
                    raise ValueError(f"{name}/{r.set_identifier}: weight {r.weight!r} is not an integer 0-255")
        for name, recs in self.by_name.items():
            for r in recs:
                if r.kind != "endpoint" and r.target not in self.by_name:
                    raise ValueError(f"{name}/{r.set_identifier}: alias target {r.target!r} is not in the zone")

    def resolve(self, name: str, where: Location, down: frozenset[str], depth: int = 0) -> tuple[Shares, bool]:
        """(shares, healthy) of the answer for `name` asked from `where` while `down` are unhealthy."""
        if depth > 16:
            raise ValueError(f"{name}: alias chain too deep (a loop?)")
        recs = self.by_name.get(name)
        if not recs:
            return {}, False
        kind = recs[0].kind
        if kind == "endpoint":
            region = recs[0].region
            return {region: 1.0}, region not in down
        if kind == "geolocation":
            answer: tuple[Shares, bool] = ({}, False)
            for rec in _geo_candidates(recs, where):
                shares, ok = self._follow(rec, where, down, depth)
                if ok:
                    return shares, True
                if not answer[0]:
                    answer = (shares, False)
            return answer
        if kind == "failover":
            ordered = sorted(recs, key=lambda r: r.failover != "PRIMARY")
            answers = [self._follow(r, where, down, depth) for r in ordered]
            for shares, ok in answers:
                if ok:
                    return shares, True
            return answers[0][0], False
        if kind == "weighted":
            answers = [(r.weight or 0, *self._follow(r, where, down, depth)) for r in recs]
            healthy = [(w, s) for w, s, ok in answers if ok]
            pool = [(w, s) for w, s in healthy if w > 0] or [(1, s) for w, s in healthy]
            ok = bool(pool)
            if not pool:  # Route 53 answers as if all were healthy; the traffic lands on dead regions
                pool = [(w, s) for w, s, _ in answers if w > 0] or [(1, s) for _, s, _ in answers]
            total = sum(w for w, _ in pool)
            out: Shares = defaultdict(float)
            for w, shares in pool:
                for region, share in shares.items():
                    out[region] += share * w / total
            return dict(out), ok
        raise ValueError(f"{name}: unknown record kind {kind!r}")

    def _follow(self, rec: DnsRecord, where: Location, down: frozenset[str], depth: int) -> tuple[Shares, bool]:
        checked = rec.health_check is None or rec.health_check not in down
        shares, ok = self.resolve(rec.target, where, down, depth + 1)
        return shares, checked and ok


def _geo_candidates(recs: list[DnsRecord], where: Location) -> list[DnsRecord]:
    """Matching geolocation records, most specific first."""
    def rank(rec: DnsRecord) -> int | None:
        loc = rec.location
        if loc is None:
            return None
        if loc.country == "*":
            return 3
        if loc.continent:
            return 2 if loc.continent == where.continent else None
        if loc.country != where.country:
            return None
        if loc.subdivision:
            return 0 if loc.subdivision == where.subdivision else None
        return 1
    ranked = [(rank(r), r) for r in recs]
    return [r for k, r in sorted((x for x in ranked if x[0] is not None), key=lambda x: x[0])]


def geography_shares(plan: TrafficPlan, down: Iterable[str] = (), records: Iterable[DnsRecord] | None = None,
                     ) -> dict[str, Shares]:
    """Per geography, the share of its traffic each healthy region receives (averaged over its
    locations); what is missing from 1 is unserved."""
    tree = RecordTree(plan.records if records is None else records)
    dead = frozenset(down)
    out: dict[str, Shares] = {}
    for geo, locations in plan.locations.items():
        total: Shares = defaultdict(float)
        for loc in locations:
            shares, _ = tree.resolve(plan.domain, loc, dead)
            for region, share in shares.items():
                if region not in dead:
                    total[region] += share / len(locations)
        out[geo] = dict(total)
    return out


def region_loads(plan: TrafficPlan, shares: Mapping[str, Shares]) -> dict[str, float]:
    loads = dict.fromkeys(plan.regions, 0.0)
    for geo, per in shares.items():
        for region, share in per.items():
            loads[region] += plan.demand[geo] * share
    return loads


def check_traffic(plan: TrafficPlan, records: Iterable[DnsRecord] | None = None) -> list[str]:
    """Problems with the tree: normal state off the plan's routing by more than the rounding bound, or
    for some single lost region a region over its failover capacity or a geography not fully served."""

    records = tuple(plan.records if records is None else records)
    problems: list[str] = []
    if plan.drained:
        return _check_drained(plan, records)
    normal = geography_shares(plan, (), records)
    for geo, weights in plan.normal_weights.items():
        total = sum(weights.values())
        for region in set(weights) | set(normal[geo]):
            got, want = normal[geo].get(region, 0.0), weights.get(region, 0) / total
            if abs(got - want) > 1e-9:
                problems.append(f"normal: {geo} -> {region} {got:.4f}, weights say {want:.4f}")
    for lost in plan.regions:
        shares = geography_shares(plan, (lost,), records)
        for geo, per in shares.items():
            served = sum(per.values())
            if served < 1 - 1e-9:
                problems.append(f"losing {lost}: {geo} only {served:.4f} served")
        for region, load in region_loads(plan, shares).items():
            if load > plan.failover_limit(region) + 1e-6:
                problems.append(f"losing {lost}: {region} gets {load:.3f} rps, failover capacity "
                                f"{plan.failover_capacity(region):.3f}")
    return problems


def _check_drained(plan: TrafficPlan, records: tuple[DnsRecord, ...]) -> list[str]:
    """With drained regions (a rollout in progress) every region being healthy must look like the
    drained regions lost: every geography served by the other regions, none over its limit. One
    drained region is what the N-1 plan covers; further losses on top are not guaranteed."""
    problems: list[str] = []
    shares = geography_shares(plan, (), records)
    for geo, per in shares.items():
        if set(per) & plan.drained:
            problems.append(f"drained {sorted(plan.drained)}: {geo} still reaches {sorted(set(per) & plan.drained)}")
        if sum(per.values()) < 1 - 1e-9:
            problems.append(f"drained {sorted(plan.drained)}: {geo} only {sum(per.values()):.4f} served")
    if len(plan.drained) == 1:
        for region, load in region_loads(plan, shares).items():
            if load > plan.failover_limit(region) + 1e-6:
                problems.append(f"drained {sorted(plan.drained)}: {region} gets {load:.3f} rps")
    return problems


def describe_loss(plan: TrafficPlan, lost: str) -> list[str]:
    """Lines for `preview --lose REGION`: where each geography's traffic goes, and each region's load."""
    shares = geography_shares(plan, (lost,))
    lines = [f"global traffic while {lost} is lost (resolver simulation of the Route 53 records):"]
    for geo, per in shares.items():
        parts = ", ".join(f"{r} {s * 100:.1f}%" for r, s in sorted(per.items(), key=lambda x: -x[1]))
        unserved = 1 - sum(per.values())
        tail = f", UNSERVED {unserved * 100:.1f}%" if unserved > 1e-9 else ""
        lines.append(f"  {geo:<16} {plan.demand[geo]:8.2f} rps -> {parts}{tail}")
    planned = plan.planned_failover_load.get(lost, {})
    for region, load in region_loads(plan, shares).items():
        if region == lost:
            continue
        cap = plan.failover_capacity(region)
        util = load / plan.capacity[region] * 100 if plan.capacity[region] else 0.0
        line = f"  {region:<16} {load:8.2f} rps of {cap:.2f} failover capacity ({util:.1f}% utilisation)"
        if region in planned:  # the sizing's failover table: what the records were built to realise
            line += f", headroom {cap - load:.2f} rps (planned headroom {cap - planned[region]:.2f})"
        lines.append(line)
    if plan.refused:
        lines.append(f"  refused on purpose (restOfWorld.refuse, no answer): {', '.join(plan.refused)}")
    return lines
