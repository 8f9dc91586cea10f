"""CIDR logic on networks, not strings: `0.0.0.0/1` + `128.0.0.0/1` is the whole internet, and
`0.0.0.0/0` written as `0.0.0.0/00` or with host bits is still the world."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from .core import is_unknown

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
WORLD = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
# RFC 1918, RFC 6598 shared space, IPv6 ULA: ranges that never route on the internet.
PRIVATE = tuple(ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                  "100.64.0.0/10", "fc00::/7"))
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
METADATA = (ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("169.254.170.2/32"),
            ipaddress.ip_network("fd00:ec2::254/128"))


def network(value: Any) -> Network | None:
    """A CIDR (or bare address) -> network; None for unknown, empty or unparsable values."""
    if value is None or is_unknown(value) or not isinstance(value, str) or not value.strip():
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def networks(values: Iterable[Any]) -> list[Network]:
    return [n for n in (network(v) for v in values) if n is not None]


def covered_fraction(nets: Iterable[Network], version: int) -> float:
    """Share of the IPv4 or IPv6 address space the networks cover together (overlaps counted once)."""
    mine = [n for n in nets if n.version == version]
    if not mine:
        return 0.0
    merged = list(ipaddress.collapse_addresses(mine))  # type: ignore[type-var]
    total = 2 ** (32 if version == 4 else 128)
    return sum(n.num_addresses for n in merged) / total


def covers_world(values: Iterable[Any]) -> bool:
    """True when the ranges together admit every IPv4 or every IPv6 address."""
    nets = networks(values)
    return covered_fraction(nets, 4) >= 1.0 or covered_fraction(nets, 6) >= 1.0


def is_public(net: Network) -> bool:
    """A range that includes internet-routable addresses (not private, link-local or loopback)."""
    if any(net.version == p.version and net.subnet_of(p) for p in (*PRIVATE, *LINK_LOCAL)):  # type: ignore[arg-type]
        return False
    return not net.is_loopback


def public_ranges(values: Iterable[Any]) -> list[str]:
    return [str(n) for n in networks(values) if is_public(n)]


def widest_prefix(values: Iterable[Any], version: int = 4) -> int | None:
    lengths = [n.prefixlen for n in networks(values) if n.version == version]
    return min(lengths) if lengths else None


def reaches_metadata(values: Iterable[Any], excepts: Iterable[Any] = ()) -> bool:
    """True when the ranges include an instance-metadata address that the `except` list does not cut out."""
    cut = networks(excepts)
    for net in networks(values):
        for meta in METADATA:
            inside = meta.version == net.version and meta.subnet_of(net)  # type: ignore[arg-type]
            if inside and not any(meta.version == c.version and meta.subnet_of(c) for c in cut):  # type: ignore[arg-type]
                return True
    return False
