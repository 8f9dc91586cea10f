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
- The walker (infra/planning/reachability.py) proves every pair of surviving regions stays connected
  after the loss of any one region.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from infra.catalog import great_circle_km
from infra.planning.addressing import AddressPlan
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
class TgwRoute:
    """A static route in `region`'s Transit Gateway route table, out through a peering attachment."""

    region: str
    destination: str
    peering: str
    next_region: str
    purpose: RoutePurpose  # peer: the neighbour's VPC; transit: via the hub; fallback: when BGP is gone


@dataclass(frozen=True)
class VpcRoute:
    """A route in every private route table of `region`'s VPC, to its own Transit Gateway."""

    region: str
    destination: str


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

    def vpn_of(self, aws_region: str) -> VpnLink | None:
        """The region's first (nearest) VPN."""
        return next((v for v in self.vpns if v.aws_region == aws_region), None)

    def vpns_of(self, region: str) -> tuple[VpnLink, ...]:
        """Every VPN with an end in `region` (AWS or GCP)."""
        return tuple(v for v in self.vpns if region in (v.aws_region, v.gcp_region))

    def links_of(self, region: str) -> frozenset[str]:
        """Ids of every link that dies with `region`: its peerings and the tunnels of its VPNs."""
        peerings = {p.id for p in self.peerings if region in (p.requester, p.accepter)}
        return frozenset(peerings | {t.id for v in self.vpns_of(region) for t in v.tunnels})

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
    route stays more specific (https://docs.aws.amazon.com/vpc/latest/userguide/route-table-options.html)."""
    out = []
    for r in aws:
        others = [c for o in all_regions if o.name != r.name for c in o.addresses.ranges()]
        out += [VpcRoute(r.name, d) for d in aggregate(others, supernet)]
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
    mode: Mode = "none" if len(aws) < 2 else "mesh" if len(aws) <= MESH_MAX_AWS_REGIONS else "hub"
    hub = choose_hub(aws) if mode == "hub" else None
    peerings = _peerings(aws, mode, hub)
    vpns = _vpns(aws, gcp, addresses)
    tgw_routes = _tgw_routes(aws, gcp, peerings, mode, hub, supernet)
    ranges = {r.name: r.addresses.ranges() for r in regions}
    gcp_ranges = tuple(c for g in gcp for c in g.addresses.ranges())
    # A TGW advertises over BGP the routes of the route table its VPN attachment is associated with: its
    # VPC (propagated) and its static routes (AWS's peered-TGW example: "The VPC CIDRs are added to the
    # customer gateway BGP table"). The Cloud Router advertises ALL_SUBNETS, which in GLOBAL routing mode
    # is every subnet range of the network (components/network/gcp_network.py).
    gcp_learns = {v.id: (ranges[v.aws_region]
                         + tuple(x.destination for x in tgw_routes if x.region == v.aws_region)) for v in vpns}
    # Hub mode: the Cloud Routers also advertise the supernet (router_advertised_ranges), so a spoke keeps
    # a way to the other spokes when the hub is lost; equal to the spoke's static /8, so static wins while
    # the hub is up.
    extra = (supernet,) if mode == "hub" and gcp else ()
    aws_learns = {v.id: gcp_ranges + extra for v in vpns}
    return Topology(mode=mode, hub=hub.name if hub else None, peerings=peerings, vpns=vpns,
                    tgw_routes=tgw_routes, vpc_routes=_vpc_routes(aws, regions, supernet),
                    aws_regions=tuple(r.name for r in aws), asns={r.name: asn_of(r) for r in regions}, ranges=ranges,
                    gcp_learns=gcp_learns, aws_learns=aws_learns)


def router_advertised_ranges(topology: Topology, supernet: str) -> tuple[str, ...]:
    """Custom ranges every Cloud Router advertises over BGP besides ALL_SUBNETS (see `aws_learns`)."""
    return (supernet,) if topology.mode == "hub" and topology.vpns else ()
