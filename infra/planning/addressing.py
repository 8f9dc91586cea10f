"""The address plan: non-overlapping IPv4 ranges for every region, zone subnet, GKE secondary
range and VPN tunnel. Pure and deterministic.

Rules (documented in README "Address plan"):
- Each region gets a block: the `cidr` given in config, or slot N of the supernet, where N is the
  region's permanent catalog number (`infra/data/regions.csv`). So adding or removing a region never
  renumbers another one; a region whose slot falls outside the supernet must be given a `cidr`.
- Within a block of prefix p, the network (AWS VPC / GCP primary side) is the first subnet of prefix
  q = max(p + 1, 16) (AWS VPCs are at most /16). The second half of the block holds GKE pods.
  The network is cut in eight /(q+3): pieces 0-5 are the private subnets of zones 0-5 (AWS), piece 6
  is cut into /(q+6) public subnets and piece 7 into /(q+6) intra subnets, one per zone.
  On GCP piece 0 is the nodes' primary range and piece 1 the services range.
- VPN tunnels (AWS <-> GCP) take /30 inside ranges from 169.254.64.0/18, which avoids every /30 AWS
  reserves (169.254.0.0/30 ... 169.254.5.0/30, 169.254.169.252/30). Each (AWS region, GCP region)
  pair owns the /28 at grid cell (AWS ordinal, GCP ordinal), i.e. four /30s, one per HA VPN tunnel.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network

from infra.errors import ConfigError

MAX_ZONES = 6
TUNNEL_POOL = ipaddress.ip_network("169.254.64.0/18")
TUNNELS_PER_PAIR = 4
GRID_SIDE = 32  # ordinals per cloud that the tunnel grid holds: 32 x 32 cells of /28 = the /18
# https://docs.aws.amazon.com/vpn/latest/s2svpn/VPNTunnels.html - "the following CIDR blocks are
# reserved and cannot be used" for tunnel inside IPv4 ranges.
AWS_RESERVED_INSIDE = tuple(
    ipaddress.ip_network(c)
    for c in ("169.254.0.0/30", "169.254.1.0/30", "169.254.2.0/30", "169.254.3.0/30",
              "169.254.4.0/30", "169.254.5.0/30", "169.254.169.252/30")
)


@dataclass(frozen=True)
class AddressRequest:
    """What the plan needs to know about one region."""

    name: str
    cloud: str
    number: int  # permanent catalog number -> default slot
    cloud_ordinal: int  # rank among the catalog's regions of the same cloud -> tunnel grid
    zones: tuple[str, ...]
    cidr: str | None = None


@dataclass(frozen=True)
class ZoneSubnets:
    zone: str
    private: str
    public: str
    intra: str


@dataclass(frozen=True)
class RegionAddresses:
    name: str
    cloud: str
    block: str
    network: str  # AWS VPC CIDR; on GCP the span holding primary and services ranges
    zones: tuple[ZoneSubnets, ...]  # AWS only (empty on GCP)
    primary: str | None  # GCP subnetwork primary range (nodes, internal load balancers)
    pods: str | None  # GCP secondary range for pods
    services: str | None  # GCP secondary range for services
    cloud_ordinal: int

    def ranges(self) -> tuple[str, ...]:
        """Every range this region puts on the wire, for overlap checks and firewall rules."""
        if self.cloud == "aws":
            return (self.network,)
        return tuple(r for r in (self.primary, self.services, self.pods) if r)


@dataclass(frozen=True)
class AddressPlan:
    supernet: str
    regions: dict[str, RegionAddresses]

    def region(self, name: str) -> RegionAddresses:
        return self.regions[name]

    def tunnel_ranges(self, aws_region: str, gcp_region: str) -> tuple[str, ...]:
        """The four /30 inside ranges of the HA VPN between an AWS and a GCP region."""
        a, g = self.regions[aws_region], self.regions[gcp_region]
        if (a.cloud, g.cloud) != ("aws", "gcp"):
            raise ValueError(f"tunnels join an AWS and a GCP region, got {a.cloud} and {g.cloud}")
        return tunnel_ranges_for(a.cloud_ordinal, g.cloud_ordinal)


def tunnel_ranges_for(aws_ordinal: int, gcp_ordinal: int) -> tuple[str, ...]:
    cell = aws_ordinal * GRID_SIDE + gcp_ordinal
    block = list(TUNNEL_POOL.subnets(new_prefix=28))[cell]
    return tuple(str(n) for n in block.subnets(new_prefix=30))


# Cross-partition links (aws <-> aws-cn, infra/planning/topology.py `PartitionLink`) take their /30s from
# their own /18, clear of every range AWS reserves in 169.254.0.0/16 (listed above), on the same grid:
# (global region's ordinal, remote region's ordinal) -> one /28 = four /30s. Ordinals: rank by catalog
# number among the catalog's regions of the same partition (append-only, so stable).
PARTITION_TUNNEL_POOL = ipaddress.ip_network("169.254.192.0/18")
PARTITION_GRID_SIDE = 32


def partition_tunnel_ranges(global_ordinal: int, remote_ordinal: int) -> tuple[str, ...]:
    """The four /30 inside ranges of the link between two AWS regions of different partitions."""
    if not (0 <= global_ordinal < PARTITION_GRID_SIDE and 0 <= remote_ordinal < PARTITION_GRID_SIDE):
        raise ValueError(f"the partition tunnel grid holds {PARTITION_GRID_SIDE} regions per partition")
    block = list(PARTITION_TUNNEL_POOL.subnets(new_prefix=28))[global_ordinal * PARTITION_GRID_SIDE + remote_ordinal]
    return tuple(str(n) for n in block.subnets(new_prefix=30))


def _layout(req: AddressRequest, block: IPv4Network) -> RegionAddresses:
    q = max(block.prefixlen + 1, 16)
    network = next(block.subnets(new_prefix=q))
    pieces = list(network.subnets(new_prefix=q + 3))
    if req.cloud == "aws":
        public = list(pieces[6].subnets(new_prefix=q + 6))
        intra = list(pieces[7].subnets(new_prefix=q + 6))
        zones = tuple(
            ZoneSubnets(zone=z, private=str(pieces[i]), public=str(public[i]), intra=str(intra[i]))
            for i, z in enumerate(req.zones)
        )
        return RegionAddresses(req.name, req.cloud, str(block), str(network), zones, None, None, None,
                               req.cloud_ordinal)
    pods = list(block.subnets(new_prefix=block.prefixlen + 1))[1]
    return RegionAddresses(req.name, req.cloud, str(block), str(network), (), str(pieces[0]),
                           str(pods), str(pieces[1]), req.cloud_ordinal)


def plan_addresses(requests: Sequence[AddressRequest], supernet: str = "10.0.0.0/8",
                   region_prefix: int = 15) -> AddressPlan:
    """Give every region its block and subnets; raise ConfigError naming every conflict."""
    net = ipaddress.ip_network(supernet)
    slots = 2 ** (region_prefix - net.prefixlen) if region_prefix >= net.prefixlen else 0
    problems: list[str] = []
    blocks: dict[str, IPv4Network] = {}
    for req in requests:
        if len(req.zones) > MAX_ZONES:
            problems.append(f"region {req.name}: at most {MAX_ZONES} zones, got {len(req.zones)}")
        if req.cidr:
            blocks[req.name] = ipaddress.ip_network(req.cidr)
        elif req.number < slots:
            blocks[req.name] = _nth_subnet(net, region_prefix, req.number)
        else:
            problems.append(
                f"region {req.name}: its default slot #{req.number} lies outside supernet {supernet} "
                f"({slots} slots of /{region_prefix}); give it a cidr or use a larger supernet"
            )
        if req.cloud_ordinal >= GRID_SIDE:
            problems.append(f"region {req.name}: the tunnel grid holds {GRID_SIDE} regions per cloud")
    problems += [_overlap_message(a, blocks[a], b, blocks[b]) for a, b in _overlaps(blocks)]
    if problems:
        raise ConfigError(problems, title="invalid address plan")
    regions = {req.name: _layout(req, blocks[req.name]) for req in requests}
    return AddressPlan(supernet=supernet, regions=regions)


def _nth_subnet(net: IPv4Network, prefix: int, n: int) -> IPv4Network:
    return ipaddress.ip_network((int(net.network_address) + n * 2 ** (32 - prefix), prefix))


def _overlaps(blocks: dict[str, IPv4Network]) -> list[tuple[str, str]]:
    """Pairs of regions whose blocks overlap; sorted by address so the scan is n log n."""
    ordered = sorted(blocks.items(), key=lambda kv: (int(kv[1].network_address), kv[1].prefixlen))
    found: list[tuple[str, str]] = []
    open_blocks: list[tuple[str, IPv4Network]] = []
    for name, block in ordered:
        open_blocks = [(n, b) for n, b in open_blocks if int(b.broadcast_address) >= int(block.network_address)]
        found += [(n, name) for n, _ in open_blocks]
        open_blocks.append((name, block))
    return found


def _overlap_message(a: str, block_a: IPv4Network, b: str, block_b: IPv4Network) -> str:
    return (f"regions {a!r} ({block_a}) and {b!r} ({block_b}) have overlapping address blocks; "
            f"give one of them a different cidr")


def all_ranges(plan: AddressPlan) -> list[tuple[str, IPv4Network]]:
    """Every range in the plan with its owner, for overlap proofs in tests and policies."""
    out: list[tuple[str, IPv4Network]] = []
    for r in plan.regions.values():
        for z in r.zones:
            out += [(f"{r.name}/{z.zone}/{kind}", ipaddress.ip_network(c))
                    for kind, c in (("private", z.private), ("public", z.public), ("intra", z.intra))]
        for kind in ("primary", "services", "pods"):
            value = getattr(r, kind)
            if value:
                out.append((f"{r.name}/{kind}", ipaddress.ip_network(value)))
    return out


# --- Database member addresses ---------------------------------------------------------------------
# Each region reserves one /28 for the private addresses of its database members' internal load
# balancers, so a member's address is known at plan time and never changes:
# - AWS: the last /28 of each zone's private subnet. The program declares it as an explicit subnet
#   CIDR reservation (aws.ec2.SubnetCidrReservation, reservationType "explicit"), so AWS never hands
#   those addresses to nodes, pods (VPC CNI) or other ENIs; only an explicit assignment (the NLB's
#   `private-ipv4-addresses`) can use them. A zone holds at most MEMBER_SLOTS members.
# - GCP: the last /28 of the region's primary range (nodes and internal load balancers); every used
#   address is a reserved `gcp.compute.Address`, so GCP never gives it to a node.
# Slots start at offset 4 and stop before the /28's last address: AWS reserves the first four and
# the last address of a subnet, GCP the first two and the last two of a primary range, and the last
# /28 of a range contains its last addresses.
MEMBER_BLOCK_PREFIX = 28
MEMBER_SLOT_OFFSET = 4
MEMBER_SLOTS = 10


def member_block(region: RegionAddresses, zone_index: int) -> str:
    """The /28 holding database member addresses in one zone (AWS) or in the region (GCP)."""
    if region.cloud == "aws":
        if not 0 <= zone_index < len(region.zones):
            raise ValueError(f"region {region.name}: no zone #{zone_index}")
        parent = ipaddress.ip_network(region.zones[zone_index].private)
    else:
        parent = ipaddress.ip_network(region.primary or "")
    return str(_last_subnet(parent, MEMBER_BLOCK_PREFIX))


def member_address(region: RegionAddresses, zone_index: int, slot: int) -> str:
    """The fixed private address of member `slot` in zone `zone_index` (AWS) or in the region (GCP,
    where `slot` counts over the whole region and `zone_index` is ignored)."""
    if not 0 <= slot < MEMBER_SLOTS:
        raise ValueError(f"region {region.name}: member slot {slot} outside 0..{MEMBER_SLOTS - 1}")
    block = ipaddress.ip_network(member_block(region, zone_index if region.cloud == "aws" else 0))
    return str(block.network_address + MEMBER_SLOT_OFFSET + slot)


def _last_subnet(parent: IPv4Network, prefix: int) -> IPv4Network:
    return ipaddress.ip_network((int(parent.broadcast_address) - 2 ** (32 - prefix) + 1, prefix))
