"""Which regions get which private links, and the routes each side needs. Pure: no pulumi import.

Rules (docs/links.md has the reasoning and the sources):
- AWS <-> AWS: Transit Gateway inter-Region peering. Up to MESH_MAX_AWS_REGIONS AWS regions every pair
  is peered (one hop, n(n-1)/2 peerings); above that, hub and spoke through the most central AWS region
  (n-1 peerings). Peering attachments carry static routes only
  (https://docs.aws.amazon.com/vpc/latest/tgw/tgw-peering.html), so every route over a peering is
  planned here.
- GCP <-> GCP: nothing; the stack's VPC is global with GLOBAL dynamic routing, so every Cloud Router
  advertises every subnet of the network and learned routes apply in every region
  (https://cloud.google.com/vpc/docs/reference/rest/v1/networks#RoutingMode).
- AWS <-> GCP: every AWS region gets an HA VPN (4 tunnels, 2 AWS VPN connections, BGP, the 99.99%
  topology) to each of its VPNS_PER_AWS_REGION nearest GCP regions (all of them when the stack has
  fewer), terminated on that region's Cloud Router. So losing a tunnel, a VPN connection or a whole GCP
  region keeps every AWS region connected to the GCP VPC; losing every attachment of a region falls back
  over TGW peering to a neighbour's VPN through a less specific static route (see `fallback` routes).
- Hub and spoke with GCP regions: every Cloud Router also advertises the stack supernet, so a spoke
  whose hub is lost still reaches the other spokes through the GCP VPC (BGP /8 behind the static /8).
- Across AWS partitions (aws <-> aws-cn): no Transit Gateway peering (China's TGWs peer only Beijing with
  Ningxia: https://docs.amazonaws.cn/aws/latest/userguide/transit-gateway.html) and no AWS Site-to-Site
  VPN on the China side (https://docs.amazonaws.cn/en_us/aws/latest/userguide/vpc.html). Each region of
  a non-global partition gets one redundant IPsec link with BGP (`PartitionLink`: 2 VPN connections, 4
  tunnels) from the nearest global-partition AWS region's Transit Gateway to a pair of VPN appliances
  (one per zone, self-managed) in the China region's VPC. Peerings stay inside a partition.
- The walker (infra/planning/reachability.py) proves every pair of surviving regions stays connected
  after the loss of any one region.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from infra.catalog import great_circle_km, load_catalog
from infra.planning.addressing import AddressPlan, partition_tunnel_ranges
from infra.planning.regions import PlannedRegions, RegionPlan

# What crosses the private links (firewalls admit only these from peer regions' ranges): the serving
# API over HTTPS and MongoDB replica-set traffic; ICMP for path MTU discovery and diagnosis.
CROSS_REGION_TCP_PORTS = (443, 27017)
MESH_MAX_AWS_REGIONS = 6  # 15 peerings; beyond, hub and spoke keeps the count linear
TUNNELS_PER_VPN = 4
VPNS_PER_AWS_REGION = 2  # one GCP region lost must not cut an AWS region off from the rest of GCP
# Private 16-bit ASNs (RFC 6996: 64512-65534). Transit Gateways take 64512 + catalog number, Cloud
# Routers 65000 + catalog number; catalog numbers stay below 488, so the two blocks never meet.
# https://docs.aws.amazon.com/vpc/latest/tgw/tgw-transit-gateways.html (Amazon side ASN 64512-65534)
TGW_ASN_BASE = 64512
ROUTER_ASN_BASE = 65000
PRIVATE_ASN_MAX = 65534

Mode = Literal["none", "mesh", "hub"]
RoutePurpose = Literal["peer", "transit", "fallback"]


def transit_gateway_asn(region: RegionPlan) -> int:
    """Amazon side ASN of the region's Transit Gateway: unique per region in the stack."""
    return TGW_ASN_BASE + region.catalog.number


def cloud_router_asn(region: RegionPlan) -> int:
    """ASN of the region's Cloud Router (which also terminates its HA VPN BGP sessions)."""
    return ROUTER_ASN_BASE + region.catalog.number


def asn_of(region: RegionPlan) -> int:
    return transit_gateway_asn(region) if region.cloud == "aws" else cloud_router_asn(region)


@dataclass(frozen=True)
class TgwPeering:
    """One Transit Gateway peering attachment: requested by `requester`, accepted by `accepter`."""

    id: str
    requester: str
    accepter: str

    def other(self, region: str) -> str:
        return self.accepter if region == self.requester else self.requester


@dataclass(frozen=True)
class Tunnel:
    """One of the four IPsec tunnels of an HA VPN, with the BGP session it carries.

    AWS gives the first host of the /30 to its side and the second to the customer gateway
    (https://docs.aws.amazon.com/vpn/latest/s2svpn/VPNTunnels.html, "inside tunnel IPv4 CIDR").
    Google's HA VPN to AWS guide maps GCP interface 0 to AWS connection 1 and interface 1 to
    connection 2 (https://cloud.google.com/network-connectivity/docs/vpn/how-to/creating-ha-vpn).
    """

    id: str
    index: int  # 0..3, also the ExternalVpnGateway interface id
    gcp_interface: int  # HA VPN gateway interface 0 or 1
    aws_connection: int  # AWS VpnConnection 0 or 1 (one per customer gateway)
    aws_tunnel: int  # 1 or 2: tunnel1_* / tunnel2_* arguments of that connection
    inside_cidr: str
    aws_inside_ip: str
    gcp_inside_ip: str
    aws_asn: int
    gcp_asn: int


@dataclass(frozen=True)
class VpnLink:
    """An AWS region's HA VPN attachment to a GCP region."""

    id: str
    aws_region: str
    gcp_region: str
    aws_asn: int
    gcp_asn: int
    tunnels: tuple[Tunnel, ...]

    def connection(self, index: int) -> tuple[Tunnel, ...]:
        return tuple(t for t in self.tunnels if t.aws_connection == index)


@dataclass(frozen=True)
class PartitionTunnel:
    """One IPsec tunnel of a cross-partition link: AWS VPN connection `connection` (0/1, one per appliance)
    tunnel `aws_tunnel` (1/2) on the global side; the appliance takes the second host of the /30."""

    id: str
    index: int
    connection: int  # = the appliance index (one customer gateway per appliance)
    aws_tunnel: int
    inside_cidr: str
    aws_inside_ip: str
    appliance_inside_ip: str


@dataclass(frozen=True)
class PartitionLink:
    """Global-partition AWS region `global_region` (its TGW, AWS Site-to-Site VPN) <-> a region of another
    partition (`remote_region`, e.g. aws-cn), whose end is a pair of self-managed VPN appliances."""

    id: str
    global_region: str
    remote_region: str
    remote_partition: str
    global_asn: int  # the TGW's
    appliance_asn: int  # the appliances' (both), private and unique in the stack
    tunnels: tuple[PartitionTunnel, ...]

    def connection(self, index: int) -> tuple[PartitionTunnel, ...]:
        return tuple(t for t in self.tunnels if t.connection == index)


@dataclass(frozen=True)
class TgwRoute:
    """A static route in `region`'s Transit Gateway route table, out through a peering attachment."""

    region: str
    destination: str
    peering: str
    next_region: str
    purpose: RoutePurpose  # peer: the neighbour's VPC; transit: via the hub; fallback: when BGP is gone


@dataclass(frozen=True)
class VpcRoute:
    """A route in every private route table of `region`'s VPC: to its own Transit Gateway, or (regions
    outside the global partition, for the other partitions' ranges) to its first VPN appliance."""

    region: str
    destination: str
    target: Literal["tgw", "appliance"] = "tgw"


@dataclass(frozen=True)
class Topology:
    mode: Mode
    hub: str | None
    peerings: tuple[TgwPeering, ...]
    vpns: tuple[VpnLink, ...]
    tgw_routes: tuple[TgwRoute, ...]
    vpc_routes: tuple[VpcRoute, ...]
    aws_regions: tuple[str, ...]
    asns: dict[str, int]  # region -> ASN of its TGW (AWS) or Cloud Router (GCP)
    ranges: dict[str, tuple[str, ...]]  # region -> ranges it puts on the wire
    gcp_learns: dict[str, tuple[str, ...]]  # vpn id -> prefixes the AWS side advertises over BGP
    aws_learns: dict[str, tuple[str, ...]]  # vpn id -> prefixes the Cloud Router advertises over BGP
    partition_links: tuple[PartitionLink, ...] = ()
    partitions: dict[str, str] = field(default_factory=dict)  # AWS region name -> its partition

    def partition_links_of(self, region: str) -> tuple[PartitionLink, ...]:
        return tuple(x for x in self.partition_links if region in (x.global_region, x.remote_region))

    def vpn_of(self, aws_region: str) -> VpnLink | None:
        """The region's first (nearest) VPN."""
        return next((v for v in self.vpns if v.aws_region == aws_region), None)

    def vpns_of(self, region: str) -> tuple[VpnLink, ...]:
        """Every VPN with an end in `region` (AWS or GCP)."""
        return tuple(v for v in self.vpns if region in (v.aws_region, v.gcp_region))

    def links_of(self, region: str) -> frozenset[str]:
        """Ids of every link that dies with `region`: its peerings and the tunnels of its VPNs."""
        peerings = {p.id for p in self.peerings if region in (p.requester, p.accepter)}
        cross = {t.id for x in self.partition_links_of(region) for t in x.tunnels}
        return frozenset(peerings | cross | {t.id for v in self.vpns_of(region) for t in v.tunnels})

    def routes_of(self, region: str) -> tuple[TgwRoute, ...]:
        return tuple(r for r in self.tgw_routes if r.region == region)

    def peer_ranges(self, region: str) -> tuple[str, ...]:
        """Every other region's ranges, collapsed: what firewalls admit from the private links."""
        return collapse(c for name, rs in self.ranges.items() if name != region for c in rs)


def collapse(cidrs: Iterable[str]) -> tuple[str, ...]:
    nets = [ipaddress.ip_network(c) for c in cidrs]
    return tuple(str(n) for n in ipaddress.collapse_addresses(nets))  # type: ignore[arg-type]


def aggregate(cidrs: Iterable[str], supernet: str) -> tuple[str, ...]:
    """Cover `cidrs` with few prefixes: the stack supernet where it holds them, else the range itself."""
    net = ipaddress.ip_network(supernet)
    covered = {supernet if ipaddress.ip_network(c).subnet_of(net) else c for c in cidrs}  # type: ignore[arg-type]
    return collapse(covered)


def _distance(a: RegionPlan, b: RegionPlan) -> float:
    return great_circle_km(a.catalog.latitude, a.catalog.longitude, b.catalog.latitude, b.catalog.longitude)


def _nearest(region: RegionPlan, candidates: Sequence[RegionPlan]) -> RegionPlan:
    """Closest by great-circle distance; ties go to the lower (permanent) catalog number."""
    return min(candidates, key=lambda c: (_distance(region, c), c.catalog.number))


def choose_hub(aws: Sequence[RegionPlan]) -> RegionPlan:
    """The most central AWS region: smallest total distance to the others (ties: lower catalog number)."""
    return min(aws, key=lambda r: (sum(_distance(r, o) for o in aws), r.catalog.number))


def _peerings(aws: Sequence[RegionPlan], mode: Mode, hub: RegionPlan | None) -> tuple[TgwPeering, ...]:
    ordered = sorted(aws, key=lambda r: r.catalog.number)
    if mode == "mesh":
        pairs = [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:]]
    elif mode == "hub" and hub is not None:
        pairs = [(hub, r) for r in ordered if r.name != hub.name]
    else:
        pairs = []
    return tuple(TgwPeering(id=f"peer-{a.name}-{b.name}", requester=a.name, accepter=b.name) for a, b in pairs)


def _tunnels(link_id: str, inside: Sequence[str], aws_asn: int, gcp_asn: int) -> tuple[Tunnel, ...]:
    out = []
    for i, cidr in enumerate(inside):
        hosts = list(ipaddress.ip_network(cidr).hosts())
        out.append(Tunnel(id=f"{link_id}/t{i}", index=i, gcp_interface=i // 2, aws_connection=i // 2,
                          aws_tunnel=i % 2 + 1, inside_cidr=cidr, aws_inside_ip=str(hosts[0]),
                          gcp_inside_ip=str(hosts[1]), aws_asn=aws_asn, gcp_asn=gcp_asn))
    return tuple(out)


def _vpns(aws: Sequence[RegionPlan], gcp: Sequence[RegionPlan], addresses: AddressPlan) -> tuple[VpnLink, ...]:
    if not gcp:
        return ()
    out = []
    for a in sorted(aws, key=lambda r: r.catalog.number):
        for g in nearest_gcp_regions(a, gcp):
            link_id = f"vpn-{a.name}-{g.name}"
            tunnels = _tunnels(link_id, addresses.tunnel_ranges(a.name, g.name), transit_gateway_asn(a),
                               cloud_router_asn(g))
            out.append(VpnLink(id=link_id, aws_region=a.name, gcp_region=g.name, aws_asn=transit_gateway_asn(a),
                               gcp_asn=cloud_router_asn(g), tunnels=tunnels))
    return tuple(out)


def nearest_gcp_regions(region: RegionPlan, gcp: Sequence[RegionPlan]) -> list[RegionPlan]:
    """The GCP regions an AWS region's VPNs end on: the nearest VPNS_PER_AWS_REGION (nearest first)."""
    return sorted(gcp, key=lambda c: (_distance(region, c), c.catalog.number))[:VPNS_PER_AWS_REGION]


def _tgw_routes(aws: Sequence[RegionPlan], gcp: Sequence[RegionPlan], peerings: Sequence[TgwPeering],
                mode: Mode, hub: RegionPlan | None, supernet: str) -> tuple[TgwRoute, ...]:
    """Static routes over peerings.

    mesh: each TGW routes every other AWS VPC to the direct peering.
    hub: the hub routes each spoke's VPC to that spoke; a spoke routes everything else (the supernet,
         plus any AWS VPC outside it) to the hub - transit through the hub's route table, as in AWS's
         peered-TGW example (https://docs.aws.amazon.com/vpc/latest/tgw/transit-gateway-peering-scenario.html).
    fallback (only when GCP regions exist): a TGW without a less specific route yet sends the GCP
         blocks' aggregate to its nearest AWS neighbour. BGP-learned GCP subnets are more specific, so
         the fallback carries traffic only while the region's own VPN is entirely down.
    """
    by_pair = {frozenset((p.requester, p.accepter)): p for p in peerings}
    routes: list[TgwRoute] = []

    def add(region: str, destination: str, via: str, purpose: RoutePurpose) -> None:
        routes.append(TgwRoute(region, destination, by_pair[frozenset((region, via))].id, via, purpose))

    for r in aws:
        others = [o for o in aws if o.name != r.name]
        if mode == "mesh":
            for o in others:
                add(r.name, o.addresses.network, o.name, "peer")
        elif mode == "hub" and hub is not None:
            if r.name == hub.name:
                for o in others:
                    add(r.name, o.addresses.network, o.name, "peer")
            else:
                for dest in aggregate([o.addresses.network for o in others], supernet):
                    add(r.name, dest, hub.name, "peer" if dest == hub.addresses.network else "transit")
        if gcp and others:
            via = _fallback_neighbour(r, others, mode, hub)
            have = {x.destination for x in routes if x.region == r.name}
            for dest in aggregate([g.addresses.block for g in gcp], supernet):
                if dest not in have:
                    add(r.name, dest, via, "fallback")
    return tuple(routes)


def _fallback_neighbour(region: RegionPlan, others: Sequence[RegionPlan], mode: Mode, hub: RegionPlan | None) -> str:
    """A spoke falls back to its hub; the hub and mesh members to their nearest peered neighbour."""
    if mode == "hub" and hub is not None and region.name != hub.name:
        return hub.name
    return _nearest(region, others).name


def _vpc_routes(aws: Sequence[RegionPlan], all_regions: Sequence[RegionPlan], supernet: str) -> tuple[VpcRoute, ...]:
    """Every other region's ranges (aggregated) go from the VPC to its Transit Gateway; the VPC's local
    route stays more specific (https://docs.aws.amazon.com/vpc/latest/userguide/route-table-options.html).
    A region outside the global partition sends only its own partition's ranges to its TGW (which cannot
    leave the partition) and everything else to its VPN appliance."""
    out = []
    for r in aws:
        others = [o for o in all_regions if o.name != r.name]
        if r.catalog.partition == GLOBAL_PARTITION:
            out += [VpcRoute(r.name, d) for d in aggregate([c for o in others for c in o.addresses.ranges()], supernet)]
            continue
        same = [c for o in others if o.cloud == "aws" and o.catalog.partition == r.catalog.partition
                for c in o.addresses.ranges()]
        rest = [c for o in others if not (o.cloud == "aws" and o.catalog.partition == r.catalog.partition)
                for c in o.addresses.ranges()]
        out += [VpcRoute(r.name, d) for d in collapse(same)]
        out += [VpcRoute(r.name, d, "appliance") for d in collapse(rest)]
    return tuple(out)


GLOBAL_PARTITION = "aws"


def appliance_asn(region: RegionPlan) -> int:
    """ASN of a non-global-partition region's VPN appliances: the Cloud Router block (no GCP region is in
    such a partition, so the number is free)."""
    return ROUTER_ASN_BASE + region.catalog.number


def partition_ordinal(region: RegionPlan) -> int:
    """Rank of the region among the catalog's regions of its partition (numbers are append-only)."""
    same = sorted(c.number for c in load_catalog().regions.values() if c.partition == region.catalog.partition)
    return same.index(region.catalog.number)


def _remote_routes(main: Sequence[RegionPlan], remote: Sequence[RegionPlan], links: Sequence[PartitionLink],
                   peerings: Sequence[TgwPeering], mode: Mode, hub: RegionPlan | None,
                   existing: Sequence[TgwRoute]) -> tuple[TgwRoute, ...]:
    """Static routes in the global partition's TGWs towards the linked regions of other partitions: over
    the peering to the nearest global region a link of theirs ends on (mesh; in hub mode only the hub
    needs them, its spokes' aggregate already points at it). Where a link ends, BGP teaches the route."""
    by_pair = {frozenset((p.requester, p.accepter)): p for p in peerings}
    have = {(x.region, x.destination) for x in existing}
    by_name = {m.name: m for m in main}
    routes: list[TgwRoute] = []
    for r in main:
        if mode == "hub" and hub is not None and r.name != hub.name:
            continue
        for far in remote:
            ends = [x.global_region for x in links if x.remote_region == far.name]
            if not ends or r.name in ends:
                continue
            via = min(ends, key=lambda e: (_distance(r, by_name[e]), by_name[e].catalog.number))
            pair = by_pair.get(frozenset((r.name, via)))
            if pair is None:
                continue
            for dest in far.addresses.ranges():
                if (r.name, dest) not in have:
                    routes.append(TgwRoute(r.name, dest, pair.id, via, "peer"))
    return tuple(routes)


LINKS_PER_REMOTE_REGION = 2  # losing one global region must not cut a China region off from the rest


def _partition_links(global_aws: Sequence[RegionPlan], remote: Sequence[RegionPlan]) -> tuple[PartitionLink, ...]:
    """Each remote-partition region links to its LINKS_PER_REMOTE_REGION nearest global-partition AWS
    regions (all of them when there are fewer)."""
    out = []
    for r in sorted(remote, key=lambda x: x.catalog.number):
        for g in sorted(global_aws, key=lambda c: (_distance(r, c), c.catalog.number))[:LINKS_PER_REMOTE_REGION]:
          link_id = f"xp-{g.name}-{r.name}"
          tunnels = []
          for i, cidr in enumerate(partition_tunnel_ranges(partition_ordinal(g), partition_ordinal(r))):
              hosts = list(ipaddress.ip_network(cidr).hosts())
              tunnels.append(PartitionTunnel(id=f"{link_id}/t{i}", index=i, connection=i // 2, aws_tunnel=i % 2 + 1,
                                             inside_cidr=cidr, aws_inside_ip=str(hosts[0]),
                                             appliance_inside_ip=str(hosts[1])))
          out.append(PartitionLink(id=link_id, global_region=g.name, remote_region=r.name,
                                   remote_partition=r.catalog.partition, global_asn=transit_gateway_asn(g),
                                   appliance_asn=appliance_asn(r), tunnels=tuple(tunnels)))
    return tuple(out)


def check_asns(regions: Sequence[RegionPlan]) -> None:
    """Every TGW and Cloud Router ASN is a private 16-bit ASN, unique in the stack."""
    asns = [asn_of(r) for r in regions]
    bad = [r.name for r, a in zip(regions, asns, strict=True) if not TGW_ASN_BASE <= a <= PRIVATE_ASN_MAX]
    if bad or len(set(asns)) != len(asns):
        got = {r.name: a for r, a in zip(regions, asns, strict=True)}
        raise ValueError(f"BGP ASNs must be private (64512-65534) and unique; got {got}")


def plan_topology(plan: PlannedRegions) -> Topology:
    """Decide the links and routes for the plan's regions."""
    return topology_of(plan.regions, plan.addresses)


def topology_of(regions: Sequence[RegionPlan], addresses: AddressPlan) -> Topology:
    """The same, from the parts `infra.planning.plan.build_plan` has in hand before the RolloutPlan exists."""
    regions = tuple(regions)
    check_asns(regions)
    aws = [r for r in regions if r.cloud == "aws"]
    gcp = [r for r in regions if r.cloud == "gcp"]
    supernet = addresses.supernet
    # Peerings and static routes stay inside a partition; the global partition's regions also get the
    # HA VPNs to GCP (the others have no AWS Site-to-Site VPN to terminate them on).
    groups: dict[str, list[RegionPlan]] = {}
    for r in aws:
        groups.setdefault(r.catalog.partition, []).append(r)
    main = groups.get(GLOBAL_PARTITION, [])
    remote = [r for name, rs in groups.items() if name != GLOBAL_PARTITION for r in rs]
    mode: Mode = "none" if len(main) < 2 else "mesh" if len(main) <= MESH_MAX_AWS_REGIONS else "hub"
    hub = choose_hub(main) if mode == "hub" else None
    peerings = _peerings(main, mode, hub)
    tgw_routes = _tgw_routes(main, gcp, peerings, mode, hub, supernet)
    for name, group in sorted(groups.items()):
        if name == GLOBAL_PARTITION:
            continue
        group_mode: Mode = "none" if len(group) < 2 else "mesh"
        group_peerings = _peerings(group, group_mode, None)
        peerings += group_peerings
        tgw_routes += _tgw_routes(group, [], group_peerings, group_mode, None, supernet)
    vpns = _vpns(main, gcp, addresses)
    partition_links = _partition_links(main, remote)
    tgw_routes += _remote_routes(main, remote, partition_links, peerings, mode, hub, tgw_routes)
    ranges = {r.name: r.addresses.ranges() for r in regions}
    gcp_ranges = tuple(c for g in gcp for c in g.addresses.ranges())
    # A TGW advertises over BGP the routes of the route table its VPN attachment is associated with: its
    # VPC (propagated) and its static routes (AWS's peered-TGW example: "The VPC CIDRs are added to the
    # customer gateway BGP table"). The Cloud Router advertises ALL_SUBNETS, which in GLOBAL routing mode
    # is every subnet range of the network (components/network/gcp_network.py).
    # A TGW also re-advertises what its other VPN attachments taught it: the linked China regions' ranges.
    gcp_learns = {v.id: (ranges[v.aws_region]
                         + tuple(x.destination for x in tgw_routes if x.region == v.aws_region)
                         + tuple(c for x in partition_links if x.global_region == v.aws_region
                                 for c in ranges[x.remote_region])) for v in vpns}
    # Hub mode: the Cloud Routers also advertise the supernet (router_advertised_ranges), so a spoke keeps
    # a way to the other spokes when the hub is lost; equal to the spoke's static /8, so static wins while
    # the hub is up.
    extra = (supernet,) if mode == "hub" and gcp else ()
    aws_learns = {v.id: gcp_ranges + extra for v in vpns}
    return Topology(mode=mode, hub=hub.name if hub else None, peerings=peerings, vpns=vpns,
                    tgw_routes=tgw_routes, vpc_routes=_vpc_routes(aws, regions, supernet),
                    aws_regions=tuple(r.name for r in aws), asns={r.name: asn_of(r) for r in regions}, ranges=ranges,
                    gcp_learns=gcp_learns, aws_learns=aws_learns, partition_links=partition_links,
                    partitions={r.name: r.catalog.partition for r in aws})


def router_advertised_ranges(topology: Topology, supernet: str) -> tuple[str, ...]:
    """Custom ranges every Cloud Router advertises over BGP besides ALL_SUBNETS (see `aws_learns`)."""
    return (supernet,) if topology.mode == "hub" and topology.vpns else ()
