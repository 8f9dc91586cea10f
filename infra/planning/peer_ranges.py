"""Peer ranges that fit an AWS security group's rule quota at any number of regions.

Pure (no pulumi import). AWS counts every CIDR of every rule against the per-group quota of 60
inbound and 60 outbound rules (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html
#vpc-limits-security-groups). The peer group has one rule per cross-region TCP port plus ICMP, each
listing every peer range, so it can hold 60 // 3 = 20 ranges. Past ~15 mixed regions the exact
peer ranges are more than that, so they are covered by fewer, larger prefixes:

  1. the exact ranges, collapsed, when they fit;
  2. else greedily merge the two neighbouring prefixes whose smallest common prefix adds the fewest
     addresses, never covering a range of the region itself (the smallest covering set this finds);
  3. else (cannot happen with the address plan's slots) the supernet minus the region's own ranges.

The extra addresses a merge admits are unused space of the private supernet: nothing routes them
over the links (only the regions' ranges have TGW/VPN routes), so the group admits no real source it
did not admit before.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network

from infra.planning.topology import CROSS_REGION_TCP_PORTS, Topology

AWS_SG_RULES_QUOTA = 60  # per direction, default quota (adjustable; the program stays within the default)
RULES_PER_RANGE = len(CROSS_REGION_TCP_PORTS) + 1  # one rule per TCP port, one for ICMP
MAX_SG_RANGES = AWS_SG_RULES_QUOTA // RULES_PER_RANGE


def _common(a: IPv4Network, b: IPv4Network) -> IPv4Network:
    """The smallest prefix holding both."""
    prefix = min(a.prefixlen, b.prefixlen)
    x, y = int(a.network_address), int(b.network_address)
    while prefix > 0 and (x >> (32 - prefix)) != (y >> (32 - prefix)):
        prefix -= 1
    return a.supernet(new_prefix=prefix) if prefix < a.prefixlen else a


def _collapsed(nets: Iterable[IPv4Network]) -> list[IPv4Network]:
    return sorted(ipaddress.collapse_addresses(nets))  # type: ignore[arg-type]


def cover(ranges: Iterable[str], own: Sequence[str], limit: int, supernet: str) -> tuple[str, ...]:
    """At most `limit` prefixes covering every range in `ranges`, none overlapping `own` (see above)."""
    nets = _collapsed(ipaddress.ip_network(c) for c in ranges)  # type: ignore[misc]
    mine = [ipaddress.ip_network(c) for c in own]
    while len(nets) > limit:
        best: tuple[int, IPv4Network] | None = None
        for a, b in itertools.pairwise(nets):
            merged = _common(a, b)
            if any(merged.overlaps(m) for m in mine):
                continue
            added = merged.num_addresses - sum(n.num_addresses for n in nets if n.subnet_of(merged))
            if best is None or added < best[0]:
                best = (added, merged)
        if best is None:
            break
        nets = _collapsed([*nets, best[1]])
    if len(nets) > limit:  # fall back to "everything in the supernet but me", plus peers outside it
        net = ipaddress.ip_network(supernet)
        rest = [net]
        for m in mine:
            rest = [piece for r in rest for piece in (r.address_exclude(m) if m.subnet_of(r) else [r])]
        nets = _collapsed([*rest, *(n for n in nets if not n.subnet_of(net))])
    return tuple(str(n) for n in nets)


def security_group_ranges(topology: Topology, region: str, supernet: str) -> tuple[str, ...]:
    """What an AWS region's peer security group admits: every peer range, within MAX_SG_RANGES prefixes."""
    return cover(topology.peer_ranges(region), topology.ranges[region], MAX_SG_RANGES, supernet)
