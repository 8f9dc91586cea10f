"""A packet walker over the route tables a `Topology` implies, with links failed at will. Pure.

Nodes are each AWS region's VPC and Transit Gateway, and the stack's one GCP VPC. Each node holds
routes (prefix -> next node) that stay usable while any of their carriers is up: tunnels for BGP
routes learned over an HA VPN, the peering attachment for static TGW routes, nothing for local
and propagated routes. Forwarding is longest prefix match; among equal prefixes a TGW prefers static
over propagated routes (https://docs.aws.amazon.com/vpc/latest/tgw/how-transit-gateways-work.html,
"Route evaluation order"), and whatever ties remain are ECMP: the walk demands that *every* tied
next hop delivers, so hashing flows onto any path is safe.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from infra.planning.topology import Topology

GCP = "gcp"


@dataclass(frozen=True)
class Route:
    prefix: IPv4Network
    next_node: str | None  # None: delivered here
    carriers: frozenset[str]  # link ids; usable while any is up (empty: always)
    preference: int  # lower wins among equal prefixes (0 local, 1 static, 2 propagated / BGP)


def vpc(region: str) -> str:
    return f"vpc:{region}"


def tgw(region: str) -> str:
    return f"tgw:{region}"


def _net(cidr: str) -> IPv4Network:
    return ipaddress.ip_network(cidr)  # type: ignore[return-value]


def route_tables(topology: Topology) -> dict[str, list[Route]]:
    aws_regions = topology.aws_regions
    tables: dict[str, list[Route]] = {GCP: []}
    for region in aws_regions:
        own = topology.ranges[region]
        tables[vpc(region)] = [Route(_net(c), None, frozenset(), 0) for c in own]
        tables[vpc(region)] += [Route(_net(r.destination), tgw(region), frozenset(), 1)
                                for r in topology.vpc_routes if r.region == region and r.target == "tgw"]
        tables[tgw(region)] = [Route(_net(c), vpc(region), frozenset(), 2) for c in own]
        tables[tgw(region)] += [Route(_net(r.destination), tgw(r.next_region), frozenset({r.peering}), 1)
                                for r in topology.tgw_routes if r.region == region]
    for name, ranges in topology.ranges.items():
        if name not in aws_regions:
            tables[GCP] += [Route(_net(c), None, frozenset(), 0) for c in ranges]
    for v in topology.vpns:
        # Each AWS VPN connection is its own TGW attachment; its BGP routes live while one of its 2 tunnels does.
        for conn in (0, 1):
            carriers = frozenset(t.id for t in v.connection(conn))
            tables[tgw(v.aws_region)] += [Route(_net(c), GCP, carriers, 2) for c in topology.aws_learns[v.id]]
        # The Cloud Router learns from each tunnel's BGP session separately.
        for t in v.tunnels:
            tables[GCP] += [Route(_net(c), tgw(v.aws_region), frozenset({t.id}), 2)
                            for c in topology.gcp_learns[v.id]]
    for x in topology.partition_links:
        # Global side: each AWS VPN connection (one per appliance) is a TGW attachment whose BGP routes live
        # while one of its 2 tunnels does; it learns the remote VPC's ranges.
        for conn in (0, 1):
            carriers = frozenset(t.id for t in x.connection(conn))
            tables[tgw(x.global_region)] += [Route(_net(c), vpc(x.remote_region), carriers, 2)
                                             for c in topology.ranges[x.remote_region]]
        # Remote side: the VPC's routes to every other partition's ranges point at the appliances, which
        # forward into whichever tunnel is up (the route moves to the standby appliance on failure:
        # docs/partitions.md); the global TGW then routes by its own table.
        carriers = frozenset(t.id for t in x.tunnels)
        tables[vpc(x.remote_region)] += [Route(_net(r.destination), tgw(x.global_region), carriers, 1)
                                         for r in topology.vpc_routes
                                         if r.region == x.remote_region and r.target == "appliance"]
    return tables


Table = dict[str, dict[tuple[int, int], list[Route]]]  # node -> (prefix length, network as int) -> routes


def index(tables: dict[str, list[Route]]) -> Table:
    """Routes keyed by prefix, so a lookup is at most 33 dict probes instead of a scan."""
    out: Table = {}
    for node, routes in tables.items():
        by_prefix: dict[tuple[int, int], list[Route]] = {}
        for r in routes:
            by_prefix.setdefault((r.prefix.prefixlen, int(r.prefix.network_address)), []).append(r)
        out[node] = by_prefix
    return out


def _next_hops(routes: dict[tuple[int, int], list[Route]], dst: IPv4Address, failed: frozenset[str]) -> list[Route]:
    """Longest live prefix, then the most preferred kind; what is left is the ECMP set."""
    address = int(dst)
    for length in range(32, -1, -1):
        key = (length, address & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF))
        live = [r for r in routes.get(key, ()) if not r.carriers or r.carriers - failed]
        if live:
            top = min(r.preference for r in live)
            return [r for r in live if r.preference == top]
    return []


def delivers(tables: dict[str, list[Route]] | Table, node: str, dst: IPv4Address, failed: Collection[str] = (),
             ) -> bool:
    """True if a packet at `node` for `dst` arrives, on every ECMP branch, without loops or blackholes."""
    indexed = index(tables) if any(isinstance(v, list) for v in tables.values()) else tables  # type: ignore[arg-type]
    return _Walk(indexed, dst, frozenset(failed)).delivers(node)  # type: ignore[arg-type]


class _Walk:
    """Depth-first walk for one destination; a node's verdict depends only on the node, so it is cached,
    and meeting a node still on the stack is a forwarding loop."""

    def __init__(self, tables: Table, dst: IPv4Address, failed: frozenset[str]):
        self.tables, self.dst, self.failed = tables, dst, failed
        self.verdict: dict[str, bool] = {}
        self.on_stack: set[str] = set()

    def delivers(self, node: str) -> bool:
        if node in self.verdict:
            return self.verdict[node]
        if node in self.on_stack:
            return False
        self.on_stack.add(node)
        hops = _next_hops(self.tables[node], self.dst, self.failed)
        ok = bool(hops) and all(h.next_node is None or self.delivers(h.next_node) for h in hops)
        self.on_stack.discard(node)
        self.verdict[node] = ok
        return ok


def entry_node(topology: Topology, region: str) -> str:
    return vpc(region) if region in topology.aws_regions else GCP


def unreachable(topology: Topology, failed: Collection[str] = (), tables: Table | None = None,
                lost: Collection[str] = ()) -> Iterator[tuple[str, str, str]]:
    """(source, destination region, destination range) triples a packet cannot cross; empty = all good.

    `lost`: regions gone entirely. Every link with an end there fails with them (peerings, the tunnels of
    their VPNs), and they are neither source nor destination; an AWS region's VPC and TGW are then
    unreachable because every route into them rides one of those links.
    Each range is probed at its first and last address, so a route covering half a range shows up.
    """
    tables = tables or index(route_tables(topology))
    failed_set = frozenset(failed).union(*(topology.links_of(r) for r in lost))
    alive = [r for r in topology.ranges if r not in set(lost)]
    for dst in alive:
        for cidr in topology.ranges[dst]:
            net = _net(cidr)
            walks = [_Walk(tables, probe, failed_set) for probe in (net.network_address, net.broadcast_address)]
            for src in alive:
                if src != dst and not all(w.delivers(entry_node(topology, src)) for w in walks):
                    yield (src, dst, cidr)


def reachability(topology: Topology, failed: Collection[str] = (), lost: Collection[str] = ()
                 ) -> dict[tuple[str, str], bool]:
    """(source, destination) -> every range of the destination reachable from the source, among the
    regions that are not `lost`."""
    bad = {(s, d) for s, d, _ in unreachable(topology, failed, lost=lost)}
    alive = [r for r in topology.ranges if r not in set(lost)]
    return {(s, d): (s, d) not in bad for s in alive for d in alive if s != d}


def region_loss_failures(topology: Topology) -> dict[str, list[tuple[str, str, str]]]:
    """Lost region -> what the survivors can no longer reach (empty lists: the stack survives any one loss)."""
    tables = index(route_tables(topology))
    return {region: list(unreachable(topology, tables=tables, lost=(region,))) for region in topology.ranges}


def describe_loss(topology: Topology, region: str) -> list[str]:
    """`--lose REGION`: the private links that go down with the region, and whether every surviving pair
    of regions still reaches each other over what remains (the walker above)."""
    dead = sorted(topology.links_of(region))
    peerings = [p.id for p in topology.peerings if region in (p.requester, p.accepter)]
    vpns = [v.id for v in topology.vpns_of(region)]
    cross = [x.id for x in topology.partition_links_of(region)]
    lines = [f"Private links: losing region {region}",
             f"  down: {len(peerings)} TGW peering(s) {', '.join(peerings) or '-'}; {len(vpns)} HA VPN(s) "
             f"{', '.join(vpns) or '-'}; {len(cross)} cross-partition link(s) {', '.join(cross) or '-'} "
             f"({len(dead)} peerings and tunnels in all)"]
    for x in topology.partition_links:
        if region not in (x.global_region, x.remote_region):
            lines.append(f"  up: {x.id} ({x.global_region} <-> {x.remote_region}, 4 tunnels, BGP)")
    failures = list(unreachable(topology, lost=(region,)))
    if failures:
        lines += [f"  UNREACHABLE: {src} -> {dst} {prefix}" for src, dst, prefix in failures]
    else:
        survivors = sorted(r for r in topology.ranges if r != region)
        lines.append(f"  every surviving pair reaches each other ({', '.join(survivors)})")
    return lines
