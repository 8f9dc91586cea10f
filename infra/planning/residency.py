"""User data residency: a zone-sharded MongoDB cluster, one shard per residency zone.

Pure (no pulumi import); the program deploys it beside the `mongodb` replica set, which keeps the
global data (components/database/sharded.py, docs/residency.md). The layout
rules, on top of infra/planning/database.py's (whose helpers decide votes and order):
- shards: one replica set `shard-<zone>` per residency zone; every member (voting or not) runs in
  one of the zone's regions, so the zone's documents never leave them. Votes and priorities come from
  `member_votes` / `data_region_order` over the zone's regions only: 3 votes in a one-region zone
  (one member per availability zone), 2/1 over two regions, 2/2/1 over three, 7 over four or more.
  Members per region: 2, and 3 in the zone's first-listed region (a one-region zone's three voters),
  whatever the votes, so a zone's growth (regions appended)
  re-votes but never removes a member of its own shard nor renames one of another shard;
- region loss: a zone of three or more regions survives the loss of any one; a two-region zone
  survives the loss of its second region only (its first holds 2 of 3 votes, and without a third
  site no layout can do better: a vote outside the zone would put a member, and data, there); a
  one-region zone cannot survive the loss of its region and survives the loss of one of its zones.
  `ShardPlan.region_loss` says so per shard, computed from `lose`, not assumed;
- config servers: one replica set `cfg` over the whole stack with the same vote rules as the
  database plan (2 members per voting region), so with three or more regions any one region may go.
  They hold the cluster's metadata (chunk ranges, zone ranges), no user document;
- routers: `mongos` in every region (stateless, two replicas over two zones); applications connect
  to their own region's router;
- shard key `{zone: 1, _id: "hashed"}` (compound hashed, MongoDB 4.4+,
  https://www.mongodb.com/docs/manual/core/hashed-sharding/#compound-hashed-indexes) and one zone
  range per zone, [{zone: z, _id: MinKey}, {zone: z, _id: MaxKey}) (lower bound inclusive, upper
  exclusive: https://www.mongodb.com/docs/manual/reference/method/sh.updateZoneKeyRange/), so the
  balancer keeps each zone's chunks on its shard and spreads them by hash within it
  (https://www.mongodb.com/docs/manual/core/zone-sharding/);
- backups: each shard dumps to a bucket in its own highest-priority region per cloud present in the
  zone (`DatabasePlan.backup_regions`); logs stay in each member's own region;
- addresses: each member has a fixed address in its region's member block (addressing.py). The
  replica set of the `mongodb` section keeps slots 0-3; shard members count up from slot 4, config
  servers down from the last slot, so neither moves when the other grows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from infra.config import MongoDbConfig, ResidencyConfig
from infra.errors import ConfigError
from infra.planning.addressing import MEMBER_SLOTS, member_address
from infra.planning.database import (
    DATA_REGION_MEMBERS,
    DatabasePlan,
    DrillResult,
    Member,
    data_region_order,
    member_ranges,
    member_votes,
    render_drill,
)
from infra.planning.regions import RegionPlan

ZONE_FIELD = "zone"  # the document field holding the user's residency zone (the shard key's prefix)
SHARD_KEY: dict[str, Any] = {ZONE_FIELD: 1, "_id": "hashed"}
CONFIG_SET = "cfg"
RESERVED_SLOTS = 4  # member-block slots 0-3 stay the `mongodb` replica set's
ONE_REGION_MEMBERS = 3  # a one-region zone: three voting members, one per availability zone
CONFIG_MEMBERS = 2  # per voting region of the config server replica set (3 in a one-region stack)
MONGOS_REPLICAS = 2  # per region, in two zones
# Orderable stand-ins for BSON MinKey / MaxKey around the hashed field's NumberLong (64-bit) values.
MIN_KEY = -(2**63) - 1
MAX_KEY = 2**63


def _bound(value: int) -> Any:
    """Canonical Extended JSON for a bound (https://www.mongodb.com/docs/manual/reference/mongodb-extended-json/)."""
    if value == MIN_KEY:
        return {"$minKey": 1}
    if value == MAX_KEY:
        return {"$maxKey": 1}
    return {"$numberLong": str(value)}


@dataclass(frozen=True)
class ZoneRange:
    """[lower, upper) over the shard key (zone, hashed _id): every document of `zone`, nothing else."""

    zone: str
    lower: tuple[str, int]
    upper: tuple[str, int]

    def contains(self, key: tuple[str, int]) -> bool:
        """MongoDB compares compound keys field by field; the zone strings are ASCII, so Python's
        string order is the simple collation's byte order."""
        return self.lower <= key < self.upper

    def command(self, namespace: str) -> dict[str, Any]:
        """The `updateZoneKeyRange` admin command (what `sh.updateZoneKeyRange` sends)."""
        return {"updateZoneKeyRange": namespace,
                "min": {ZONE_FIELD: self.lower[0], "_id": _bound(self.lower[1])},
                "max": {ZONE_FIELD: self.upper[0], "_id": _bound(self.upper[1])},
                "zone": self.zone}


def zone_range(zone: str) -> ZoneRange:
    return ZoneRange(zone, (zone, MIN_KEY), (zone, MAX_KEY))


@dataclass(frozen=True)
class ShardPlan:
    """One residency zone's shard: a replica set whose members all live in the zone's regions."""

    zone: str
    regions: tuple[str, ...]  # the zone's regions, as configured
    replica_set: DatabasePlan

    @property
    def name(self) -> str:
        return self.replica_set.replica_set

    def lose(self, region: str, zone: str | None = None) -> DrillResult:
        return self.replica_set.lose(region, zone)

    @property
    def survives_region_loss(self) -> bool:
        return all(self.lose(r).has_majority for r in self.replica_set.regions)

    def region_loss(self) -> str:
        """In plain words: which region losses the shard survives, and what it survives instead."""
        rs = self.replica_set
        fatal = [r for r in rs.regions if not self.lose(r).has_majority]
        if not fatal:
            return f"zone {self.zone}: survives the loss of any one of {', '.join(rs.regions)}"
        survived = [r for r in rs.regions if r not in fatal]
        azs = sorted({m.zone for m in rs.members if m.votes})
        if not survived:
            return (f"zone {self.zone}: CANNOT survive the loss of {', '.join(fatal)} (its only region): the zone's "
                    f"writes stop until it returns; it survives the loss of any one of its availability zones "
                    f"({', '.join(azs)}), one voting member in each. Add regions to the zone to survive a region loss")
        return (f"zone {self.zone}: survives the loss of {', '.join(survived)}; CANNOT survive the loss of "
                f"{', '.join(fatal)} (it holds the voting majority): the zone's writes stop until it returns. "
                f"A third region in the zone makes any one region expendable")

    def backup_regions(self) -> tuple[str, ...]:
        return self.replica_set.backup_regions()

    def log_regions(self) -> dict[str, str]:
        """Member -> the region its logs are written and kept in (its own)."""
        return {m.name: m.region for m in self.replica_set.members}


@dataclass(frozen=True)
class RouterPlan:
    """`mongos` in one region: stateless, reads the config servers, routes to the shards."""

    region: str
    replicas: int
    zones: tuple[str, ...]


@dataclass(frozen=True)
class ResidencyPlan:
    shards: tuple[ShardPlan, ...]
    config_servers: DatabasePlan
    routers: tuple[RouterPlan, ...]
    geographies: Mapping[str, str]  # demand geography -> residency zone

    @property
    def shard_key(self) -> dict[str, Any]:
        return dict(SHARD_KEY)

    def zone_ranges(self) -> tuple[ZoneRange, ...]:
        return tuple(zone_range(s.zone) for s in self.shards)

    def shard(self, zone: str) -> ShardPlan:
        return next(s for s in self.shards if s.zone == zone)

    def zone_of(self, key: tuple[str, int]) -> str | None:
        """Which zone's range holds a shard key value (None: no range, the balancer would place it anywhere)."""
        hits = [r.zone for r in self.zone_ranges() if r.contains(key)]
        return hits[0] if hits else None

    def setup_commands(self, namespace: str) -> list[dict[str, Any]]:
        """Admin commands, in order, that tie each shard to its zone and shard `namespace`: zones and ranges
        first, so `presplitHashedZones` creates each zone's initial chunks on its shard
        (https://www.mongodb.com/docs/manual/reference/command/shardCollection/)."""
        commands: list[dict[str, Any]] = [{"addShardToZone": s.name, "zone": s.zone} for s in self.shards]
        commands += [r.command(namespace) for r in self.zone_ranges()]
        commands.append({"shardCollection": namespace, "key": self.shard_key, "presplitHashedZones": True})
        return commands

    def sets(self) -> tuple[DatabasePlan, ...]:
        return (*(s.replica_set for s in self.shards), self.config_servers)

    def lose(self, region: str) -> dict[str, DrillResult]:
        """Per replica set with a member in `region`: votes left and the new primary's region."""
        return {rs.replica_set: rs.lose(region) for rs in self.sets() if region in rs.regions}

    def output(self) -> dict[str, Any]:
        """The stack output `residency`; the policy pack reads `zones` (policies/rules/residency.py)."""
        return {
            "zones": {s.zone: list(s.regions) for s in self.shards},
            "geographies": dict(self.geographies),
            "shardKey": self.shard_key,
            "shards": [{"name": s.name, "zone": s.zone, "members": [m.as_output() for m in s.replica_set.members],
                        "backupRegions": list(s.backup_regions()), "survivesRegionLoss": s.survives_region_loss}
                       for s in self.shards],
            "configServers": [m.as_output() for m in self.config_servers.members],
            "routers": [{"region": r.region, "replicas": r.replicas} for r in self.routers],
        }


def drill_section(plan: ResidencyPlan | None, region: str) -> str:
    """What losing `region` does to every shard and to the config servers (`--lose REGION`)."""
    if plan is None:
        return "Residency: this stack declares no residency zones (no `residency` section)"
    lines = []
    for rs in plan.sets():
        if region in rs.regions:
            lines.append(render_drill(rs, region))
        else:
            lines.append(f"MongoDB replica set {rs.replica_set}: no member in {region}; keeps all "
                         f"{rs.total_votes} votes")
    lines += [s.region_loss() for s in plan.shards]
    lines.append(f"mongos in {region} stops with the region; its clients fail over with the region's traffic")
    return "\n".join(lines)


def _members(set_name: str, order: Sequence[str], votes: Mapping[str, int], counts: Mapping[str, int],
             by_name: Mapping[str, RegionPlan], domain: str, from_top: bool) -> tuple[Member, ...]:
    """Members per region, voting ones first, round-robin over the region's zones (as plan_database
    places them); names `mongodb-<set>-<region>-<i>`; slots from RESERVED_SLOTS up, or from the top."""
    data_voting = [r for r in order if votes.get(r, 0)]
    priority = {r: len(data_voting) - i for i, r in enumerate(data_voting)}
    members: list[Member] = []
    for rname in order:
        region = by_name[rname]
        zones = region.zones or ("",)
        for i in range(counts[rname]):
            zone_index = i % len(zones)
            step = i // len(zones) if region.cloud == "aws" else i
            slot = MEMBER_SLOTS - 1 - step if from_top else RESERVED_SLOTS + step
            voting = i < votes.get(rname, 0)
            name = f"mongodb-{set_name}-{rname}-{i}"
            members.append(Member(
                id=len(members), name=name, region=rname, cloud=region.cloud, zone=zones[zone_index],
                zone_index=zone_index, slot=slot, votes=1 if voting else 0,
                priority=priority.get(rname, 0) if voting else 0, host=f"{name}.internal.{domain}",
                address=member_address(region.addresses, zone_index, slot)))
    return tuple(members)


def _replica_set(name: str, members: tuple[Member, ...], regions: Sequence[RegionPlan], order: Sequence[str],
                 db: MongoDbConfig, domain: str, survive: bool) -> DatabasePlan:
    used = {m.region for m in members}
    ranges = tuple(dict.fromkeys(c for r in regions if r.name in used for c in member_ranges(r)))
    by_region = tuple((r.name, member_ranges(r)) for r in regions if r.name in used)
    return DatabasePlan(
        replica_set=name, image=db.image, members=members, dns_zone=f"internal.{domain}",
        survive_region_loss=survive, tie_breaker_region=None, storage_gib=db.storage_gib,
        backup_retention_days=db.backup_retention_days, backup_schedule=db.backup_schedule,
        member_ranges=ranges, primary_region=order[0], memory_gib=db.memory_gib, ranges_by_region=by_region,
        region_order=tuple(r.name for r in regions if r.name in used))


def plan_shard(zone: str, zone_regions: Sequence[str], regions: Sequence[RegionPlan], traffic: Mapping[str, float],
               db: MongoDbConfig, domain: str) -> ShardPlan:
    """One zone's shard. In a two-region zone the region holding two votes must have two availability
    zones to put them in, so a region with fewer goes second (config validation refuses a zone where
    neither has)."""
    by_name = {r.name: r for r in regions}
    names = list(dict.fromkeys(zone_regions))
    preferred = db.primary_region if db.primary_region in names else None
    order = data_region_order(names, traffic, preferred)
    if len(order) == 2:
        order.sort(key=lambda r: len(by_name[r].zones) < 2)
    votes = member_votes(order, None)
    # The zone's first region (as listed) keeps three members, so a one-region zone that gains a region
    # keeps every member (they are protected: a removal would stop `pulumi up`, the change rehearsal's
    # change/protected-delete); its third becomes non-voting.
    counts = {r: max(votes.get(r, 0), DATA_REGION_MEMBERS) for r in order}
    counts[names[0]] = max(counts[names[0]], ONE_REGION_MEMBERS)
    members = _members(f"shard-{zone}", order, votes, counts, by_name, domain, from_top=False)
    shard = ShardPlan(zone, tuple(names), _replica_set(f"shard-{zone}", members, regions, order, db, domain, False))
    return replace(shard, replica_set=replace(shard.replica_set, survive_region_loss=shard.survives_region_loss))


def plan_config_servers(regions: Sequence[RegionPlan], traffic: Mapping[str, float], db: MongoDbConfig,
                        domain: str) -> DatabasePlan:
    """The config server replica set: the database plan's vote rules over every region, members only in
    the (at most 7) voting regions; no arbiters (config servers allow none:
    https://www.mongodb.com/docs/manual/core/sharded-cluster-config-servers/)."""
    by_name = {r.name: r for r in regions}
    names = [r.name for r in regions]
    preferred = db.primary_region if db.primary_region in names else None
    order = data_region_order(names, traffic, preferred)
    votes = member_votes(order, None)
    voting_regions = [r for r in order if r in votes]
    base = ONE_REGION_MEMBERS if len(voting_regions) == 1 else CONFIG_MEMBERS
    counts = {r: max(votes[r], base) for r in voting_regions}
    members = _members(CONFIG_SET, voting_regions, votes, counts, by_name, domain, from_top=True)
    return _replica_set(CONFIG_SET, members, regions, voting_regions, db, domain, len(voting_regions) >= 3)


def plan_residency(regions: Sequence[RegionPlan], traffic: Mapping[str, float], residency: ResidencyConfig,
                   db: MongoDbConfig, domain: str, replica_set: DatabasePlan | None = None) -> ResidencyPlan:
    """Shards, config servers and routers for the stack's residency zones; one ConfigError naming the field.
    `replica_set`: the `mongodb` section's plan, which must stay within its reserved address slots."""
    names = {r.name for r in regions}
    problems = [f"residency.zones.{zone}[{i}]: no such region {name!r}"
                for zone, members in residency.zones.items() for i, name in enumerate(members) if name not in names]
    crowded = sorted({m.region for m in (replica_set.members if replica_set else ()) if m.slot >= RESERVED_SLOTS})
    problems += [f"mongodb.nonVotingMembers.{r}: the replica set's members in {r} need address slots from "
                 f"{RESERVED_SLOTS} up, which the residency shards take; keep at most {RESERVED_SLOTS} per zone "
                 f"(AWS) or region (GCP)" for r in crowded]
    if problems:
        raise ConfigError(problems, title="invalid residency layout")
    shards = tuple(plan_shard(zone, members, regions, traffic, db, domain)
                   for zone, members in residency.zones.items())
    routers = tuple(RouterPlan(r.name, MONGOS_REPLICAS, tuple(r.zones[:MONGOS_REPLICAS])) for r in regions)
    return ResidencyPlan(shards=shards, config_servers=plan_config_servers(regions, traffic, db, domain),
                         routers=routers, geographies=dict(residency.geographies))
