"""The MongoDB replica set: members per region and zone, votes, priorities, fixed addresses and names.

Pure (no pulumi import). The layout rules (MongoDB: at most 7 voting members, priority > 0 only with
votes 1, https://www.mongodb.com/docs/manual/reference/replica-configuration/):
- members: every data region holds two members (in two zones), the tie-breaker one, plus the
  configured extras. The count never depends on votes or traffic, so adding a region (which moves
  votes) never removes or renames an existing member: member identity is stable across re-plans
  (a voting change is a reconfig, not a new StatefulSet);
- voting regions: the tie-breaker region (if configured) plus the data regions first in the order
  below, at most 7 in all; a region beyond that keeps its members non-voting (read-only, local reads);
- votes: every voting region starts with one voting member; the data regions in order get a second
  voting member (in another zone) until the total is 5 (three voting regions) or 7 (four or more).
  That gives 2/2/1 over three regions and never more than 2 votes in a region, so with three or more
  voting regions losing any one region, and so any one zone, leaves a majority;
- order and priorities: `mongodb.primaryRegion` (the preferred primary) first, then the other data
  regions by traffic *band* (a factor of two of normal-state rps; inside a band, the stack file's
  order), never by a raw float comparison, so a small shift of demand does not move the primary
  across an ocean; priorities len(data regions) .. 1 in that order; the tie-breaker votes with
  priority 0 (never primary); non-voting members have priority 0;
- zones: a region's members go round-robin over its zones, voting members first, so its two voting
  members are in different zones;
- addresses: `infra.planning.addressing.member_address` (a reserved /28 per zone or region); names:
  `<member>.<private zone>` where the private zone is `internal.<domain>`, served in every VPC.

Stacks where no layout can survive a region loss (fewer than three regions) raise a ConfigError that
names the fix, unless `mongodb.surviveRegionLoss: false` (dev only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.config import MAX_REPLICA_SET_MEMBERS, MongoDbConfig
from infra.errors import ConfigError
from infra.planning.addressing import MEMBER_SLOTS, member_address
from infra.planning.regions import RegionPlan

MAX_VOTING = 7
DATA_REGION_MEMBERS = 2  # members per data region, whatever its votes (stable identity)
PORT = 27017
# Wait budgets (seconds) for what `pulumi up` waits on. These are planning assumptions, not
# measurements: volume provisioning and attach, image pull and mongod start (journal recovery) for a
# member, and an initial sync rate over the private links. Tune them after the first real deploy.
VOLUME_ATTACH_SECONDS = 180
IMAGE_PULL_SECONDS = 180
# mongod start, and the startup probe's whole budget (liveness applies after it). WiredTiger recovery
# replays the journal only from the last checkpoint, taken every 60 s
# (https://www.mongodb.com/docs/manual/core/wiredtiger/#snapshots-and-checkpoints), so a restart is not
# proportional to the data size; 10 minutes also covers opening many collections' files. A larger budget
# (it was 1 h) would be a wait the engine has to cover for every member it rolls, one after another, and
# would hold a stuck member out of liveness for as long.
MONGOD_START_SECONDS = 600
STARTUP_PROBE_PERIOD_SECONDS = 30
CATCH_UP_SECONDS = 300  # a restarted member replays what it missed (readiness waits for it)
INITIAL_SYNC_MIB_PER_SECOND = 50  # cross-region initial sync of a full volume
ELECTION_SECONDS = 120  # primary found / stepped down and re-elected
MAX_LAG_SECONDS = 10  # "caught up": the member's last applied op is at most this far behind the primary
NAMESPACE = "rollout-data"
APP_LABEL = "mongodb"


@dataclass(frozen=True)
class Member:
    """One replica set member: a one-pod StatefulSet pinned to `zone`, reachable at `host`/`address`."""

    id: int  # preferred replica-set `_id` (the init script keeps the _id a host already has)
    name: str  # StatefulSet, Service and certificate name: mongodb-<region>-<index>
    region: str
    cloud: str
    zone: str
    zone_index: int
    slot: int  # address slot within the zone (AWS) or region (GCP)
    votes: int
    priority: int
    host: str  # DNS name in the private zone
    address: str  # fixed private IPv4 of its internal load balancer

    @property
    def pod(self) -> str:
        return f"{self.name}-0"

    def as_output(self) -> dict[str, Any]:
        return {"name": self.name, "region": self.region, "cloud": self.cloud, "zone": self.zone,
                "votes": self.votes, "priority": self.priority, "host": f"{self.host}:{PORT}",
                "address": self.address}


@dataclass(frozen=True)
class DrillResult:
    """What the plan promises when `lost` (a region, or a region's zone) goes away."""

    lost: str
    remaining_votes: int
    total_votes: int
    new_primary_region: str | None  # None: no majority, the set is read-only

    @property
    def has_majority(self) -> bool:
        return self.remaining_votes * 2 > self.total_votes


@dataclass(frozen=True)
class DatabasePlan:
    replica_set: str
    image: str
    members: tuple[Member, ...]
    dns_zone: str  # private zone served in every VPC, e.g. internal.rollout.example.com
    survive_region_loss: bool
    tie_breaker_region: str | None
    storage_gib: int
    backup_retention_days: int
    backup_schedule: str
    member_ranges: tuple[str, ...]  # private subnets / node and pod ranges of the member regions
    primary_region: str  # where the highest-priority members run; the init Job runs there
    memory_gib: int = 4  # per member: request = limit
    ranges_by_region: tuple[tuple[str, tuple[str, ...]], ...] = ()  # member_ranges, per member region
    region_order: tuple[str, ...] = ()  # the stack file's order of the regions (stable across re-plans)

    def ranges_outside(self, region: str) -> tuple[str, ...]:
        """The member ranges of every member region but `region`: where cross-region peers send from."""
        return tuple(dict.fromkeys(c for r, cidrs in self.ranges_by_region if r != region for c in cidrs))

    def member_addresses(self, region: str | None = None) -> tuple[str, ...]:
        """The members' fixed load balancer addresses as /32s (of `region` only, when given)."""
        return tuple(f"{m.address}/32" for m in self.members if region is None or m.region == region)

    @property
    def cache_gib(self) -> float:
        """`--wiredTigerCacheSizeGB` from the container's limit, as mongod's own default does from the
        host's RAM: 50% of (memory - 1 GiB), at least 0.25 GiB
        (https://www.mongodb.com/docs/manual/reference/configuration-options/#mongodb-setting-storage.wiredTiger.engineConfig.cacheSizeGB)."""
        return max(0.25, round((self.memory_gib - 1) * 0.5, 2))

    @property
    def bootstrap_member(self) -> Member:
        """The one member that initiates the set (over the localhost exception) on a first deploy."""
        return self.in_region(self.primary_region)[0]

    def startup_probe_failure_threshold(self) -> int:
        """The member's startup probe allows exactly MONGOD_START_SECONDS (period x threshold)."""
        return math.ceil(MONGOD_START_SECONDS / STARTUP_PROBE_PERIOD_SECONDS)

    def member_wait_seconds(self) -> int:
        """How long `pulumi up` may wait for one member StatefulSet to be ready (created, or rolled and
        caught up): volume, image, the startup probe's whole budget, catch-up, with 50% margin. It covers
        the deploy rehearsal's ready time (infra/rehearsal/waits.py: image + startup probe budget +
        volume) by construction, since every term here is at least the rehearsal's."""
        return int(1.5 * (VOLUME_ATTACH_SECONDS + IMAGE_PULL_SECONDS + MONGOD_START_SECONDS + CATCH_UP_SECONDS))

    def initial_sync_seconds(self) -> int:
        """A new member copying a full volume from the set (members added together sync in parallel)."""
        return int(self.storage_gib * 1024 / INITIAL_SYNC_MIB_PER_SECOND)

    def reconcile_wait_seconds(self) -> int:
        """The reconcile Job: find a primary, let new members sync, grant votes one reconfig at a time
        (each waits for the config to commit), step a leaving primary down; 50% margin."""
        steps = 2 * len(self.members) + 2
        return int(1.5 * (ELECTION_SECONDS * 2 + self.initial_sync_seconds() + steps * 60))

    @property
    def total_votes(self) -> int:
        return sum(m.votes for m in self.members)

    def in_region(self, region: str) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.region == region)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.region for m in self.members))

    def connection_string(self) -> str:
        """Without credentials: clients add their user and password (or x.509 certificate)."""
        hosts = ",".join(f"{m.host}:{PORT}" for m in self.members)
        return f"mongodb://{hosts}/?replicaSet={self.replica_set}&tls=true&authSource=admin"

    def replica_set_config(self) -> dict[str, Any]:
        """The document `rs.initiate` receives (the init Job reconciles toward it step by step)."""
        return {
            "_id": self.replica_set,
            "members": [{"_id": m.id, "host": f"{m.host}:{PORT}", "votes": m.votes, "priority": m.priority,
                         "tags": {"region": m.region, "zone": m.zone, "cloud": m.cloud}}
                        for m in self.members],
            "settings": {"electionTimeoutMillis": 10000},
        }

    def output(self, environment: str) -> dict[str, Any]:
        return {"replicaSet": self.replica_set, "image": self.image, "members": [m.as_output() for m in self.members],
                "votes": self.total_votes, "primaryRegion": self.primary_region,
                "surviveRegionLoss": self.survive_region_loss, "environment": environment,
                "privateZone": self.dns_zone, "connectionString": self.connection_string()}

    def lose(self, region: str, zone: str | None = None) -> DrillResult:
        """Remaining votes and the new primary's region when `region` (or only its `zone`) is lost."""
        if region not in self.regions:
            raise ValueError(f"no database member in region {region!r}; regions: {', '.join(self.regions)}")
        lost = [m for m in self.members if m.region == region and (zone is None or m.zone == zone)]
        left = [m for m in self.members if m not in lost]
        remaining = sum(m.votes for m in left)
        new_primary = None
        if remaining * 2 > self.total_votes:
            candidates = [m for m in left if m.priority > 0]
            if candidates:
                new_primary = max(candidates, key=lambda m: (m.priority, -m.id)).region
        return DrillResult(f"{region}/{zone}" if zone else region, remaining, self.total_votes, new_primary)

    def failures(self) -> list[tuple[str, str | None]]:
        """Every single failure the layout must survive: each region, and each zone of each region."""
        out: list[tuple[str, str | None]] = []
        for region in self.regions:
            out.append((region, None))
            out += [(region, z) for z in dict.fromkeys(m.zone for m in self.in_region(region))]
        return out

    def backup_regions(self) -> tuple[str, ...]:
        """Per cloud, one data region dumps the set to a bucket in that cloud: the cloud's first data region
        in the stack file's order. Never by priority or traffic: priorities follow traffic bands, and a
        backup region that moved with a price or demand edit would delete its protected bucket (the `up`
        stops: the change rehearsal's change/protected-delete). Appending a region never moves it; only
        removing that region does."""
        order = self.region_order or self.regions
        cloud_of = {m.region: m.cloud for m in self.members}
        data = [r for r in order if r in cloud_of and r != self.tie_breaker_region]
        chosen: dict[str, str] = {}
        for r in data:
            chosen.setdefault(cloud_of[r], r)
        return tuple(sorted(chosen.values()))

    def dns_records(self) -> list[tuple[str, str]]:
        """(fully qualified name, address): the same records go into the Route 53 and Cloud DNS zones."""
        return [(m.host, m.address) for m in self.members]


def traffic_by_region(headroom: Sequence[Any]) -> dict[str, float]:
    """Normal-state rps per region from the sizing plan's headroom rows."""
    return {h.region: float(h.normal_rps) for h in headroom}


def _no_survival_problem(count: int) -> str:
    return (f"mongodb: with {count} region(s) no replica set layout keeps a voting majority when one region "
            f"is lost; add a third region to `regions` (it may hold just a tie-breaker member: set "
            f"mongodb.tieBreakerRegion to it) or set mongodb.surviveRegionLoss: false (dev stacks only)")


def member_ranges(region: RegionPlan) -> tuple[str, ...]:
    """Where a member, its load balancer or a client in the region can send from: AWS private subnets
    (nodes, VPC CNI pods, internal NLBs); GKE primary range (nodes, internal LBs) and pod range. Not the
    public or intra subnets, not the service ranges."""
    a = region.addresses
    if region.cloud == "aws":
        return tuple(z.private for z in a.zones)
    return tuple(c for c in (a.primary, a.pods) if c)


def traffic_band(rps: float) -> int:
    """Coarse traffic rank: regions within a factor of two of each other share a band."""
    return math.floor(math.log2(1.0 + max(rps, 0.0)))


def data_region_order(data_regions: Sequence[str], traffic: Mapping[str, float],
                      preferred: str | None) -> list[str]:
    """Preferred region first, then by traffic band (busiest band first), then the stack file's order.
    A band, not the float: 56.22 vs 56.0 rps is a tie, decided by the stack file, not by noise."""
    rest = sorted((r for r in data_regions if r != preferred),
                  key=lambda r: (-traffic_band(traffic.get(r, 0.0)), data_regions.index(r)))
    return [preferred, *rest] if preferred in data_regions else rest


def member_votes(order: Sequence[str], tie_breaker: str | None) -> dict[str, int]:
    """Votes per voting region. `order`: the data regions by traffic, most first (tie-breaker excluded)."""
    data = list(order[: MAX_VOTING - (1 if tie_breaker else 0)])
    votes = {r: 1 for r in data}
    if tie_breaker:
        votes[tie_breaker] = 1
    k = len(votes)
    target = 3 if k <= 2 else (5 if k == 3 else MAX_VOTING)
    extra = target - k
    i = 0
    while extra > 0 and data:
        votes[data[i % len(data)]] += 1
        extra -= 1
        i += 1
    return votes


def plan_database(regions: Sequence[RegionPlan], traffic: Mapping[str, float], cfg: MongoDbConfig,
                  domain: str) -> DatabasePlan:
    """Decide the replica set; raise one ConfigError naming the field and the fix."""
    names = [r.name for r in regions]
    tb = cfg.tie_breaker_region
    problems: list[str] = []
    if tb is not None and tb not in names:
        problems.append(f"mongodb.tieBreakerRegion: no such region {tb!r}; regions: {', '.join(names)}")
    data_regions = [r for r in names if r != tb]
    if cfg.survive_region_loss and len(names) < 3:
        problems.append(_no_survival_problem(len(names)))
    elif tb is not None and len(data_regions) < 2:
        problems.append("mongodb.tieBreakerRegion: a tie-breaker needs two other regions to hold the data")
    unknown = sorted(set(cfg.non_voting_members) - set(names))
    problems += [f"mongodb.nonVotingMembers.{r}: no such region; regions: {', '.join(names)}" for r in unknown]
    if problems:
        raise ConfigError(problems, title="invalid database layout")

    preferred = cfg.primary_region
    if preferred is not None and preferred not in names:
        raise ConfigError([f"mongodb.primaryRegion: no such region {preferred!r}; regions: {', '.join(names)}"],
                          title="invalid database layout")
    if preferred is not None and preferred == tb:
        raise ConfigError(["mongodb.primaryRegion: the tie-breaker region never holds the primary; "
                           "name a data region"], title="invalid database layout")
    order = data_region_order(data_regions, traffic, preferred)
    votes = member_votes(order, tb)
    data_voting = [r for r in order if r in votes]
    priority = {r: len(data_voting) - i for i, r in enumerate(data_voting)}
    if tb:
        priority[tb] = 0

    by_name = {r.name: r for r in regions}
    members: list[Member] = []
    for rname in [*order, *([tb] if tb else [])]:
        region = by_name[rname]
        voting = votes.get(rname, 0)
        base = 1 if rname == tb else DATA_REGION_MEMBERS
        count = max(voting, base) + cfg.non_voting_members.get(rname, 0)
        zones = region.zones or ("",)
        capacity = MEMBER_SLOTS * (len(zones) if region.cloud == "aws" else 1)
        if count > capacity:
            problems.append(f"mongodb.nonVotingMembers.{rname}: {count} members; region {rname} has address "
                            f"slots for {capacity}")
            continue
        for i in range(count):
            zone_index = i % len(zones)
            slot = i // len(zones) if region.cloud == "aws" else i
            is_voting = i < voting
            name = f"mongodb-{rname}-{i}"
            members.append(Member(
                id=len(members), name=name, region=rname, cloud=region.cloud, zone=zones[zone_index],
                zone_index=zone_index, slot=slot, votes=1 if is_voting else 0,
                priority=priority.get(rname, 0) if is_voting else 0,
                host=f"{name}.internal.{domain}",
                address=member_address(region.addresses, zone_index, slot)))
    if len(members) > MAX_REPLICA_SET_MEMBERS:
        problems.append(f"mongodb.nonVotingMembers: {len(members)} members in total; MongoDB allows at most "
                        f"{MAX_REPLICA_SET_MEMBERS} per replica set")
    if problems:
        raise ConfigError(problems, title="invalid database layout")
    by_region = tuple((r.name, member_ranges(r)) for r in regions if any(m.region == r.name for m in members))
    ranges = tuple(dict.fromkeys(c for _, cidrs in by_region for c in cidrs))
    return DatabasePlan(
        replica_set=cfg.replica_set_name, image=cfg.image, members=tuple(members), dns_zone=f"internal.{domain}",
        survive_region_loss=cfg.survive_region_loss, tie_breaker_region=tb, storage_gib=cfg.storage_gib,
        backup_retention_days=cfg.backup_retention_days, backup_schedule=cfg.backup_schedule,
        member_ranges=ranges, primary_region=order[0], memory_gib=cfg.memory_gib, ranges_by_region=by_region,
        region_order=tuple(names))


def render_drill(plan: DatabasePlan, region: str) -> str:
    """The failure drill as text: what losing `region` (and each of its zones alone) leaves."""
    lines = [f"MongoDB replica set {plan.replica_set}: losing region {region}"]
    for zone in (None, *dict.fromkeys(m.zone for m in plan.in_region(region))):
        result = plan.lose(region, zone)
        if result.new_primary_region is None:
            verdict = "no majority: no primary, writes stop until the region returns"
        elif result.new_primary_region == plan.primary_region and region != plan.primary_region:
            verdict = f"the primary stays in {result.new_primary_region}"
        else:
            verdict = f"new primary in {result.new_primary_region}"
        what = f"zone {zone} only" if zone else "whole region"
        lines.append(f"  {what}: {result.remaining_votes} of {result.total_votes} votes remain; {verdict}")
    return "\n".join(lines)


def drill_section(plan: DatabasePlan | None, region: str) -> str:
    """The database's part of `python -m infra.preview --lose REGION`."""
    if plan is None:
        return "MongoDB: this stack declares no replica set (no `mongodb` section)"
    if region not in plan.regions:
        return f"MongoDB: no member in {region}; the set keeps all {plan.total_votes} votes"
    return render_drill(plan, region)
