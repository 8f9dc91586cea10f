"""Private links between regions: Transit Gateway peering and routes (AWS<->AWS) and HA VPN to
site-to-site VPN (AWS<->GCP). IKEv2 with strong ciphers only, BGP on link-local /30s, private ASNs."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from .core import ADVISORY, HIGH, LOW, MANDATORY, MEDIUM, Param, Resource, get, is_unknown, rule

VPN_CONNECTION = "aws:ec2/vpnConnection:VpnConnection"
CUSTOMER_GATEWAY = "aws:ec2/customerGateway:CustomerGateway"
VPN_TUNNEL = "gcp:compute/vPNTunnel:VPNTunnel"
EXTERNAL_VPN_GATEWAY = "gcp:compute/externalVpnGateway:ExternalVpnGateway"
HA_VPN_GATEWAY = "gcp:compute/haVpnGateway:HaVpnGateway"
ROUTER = "gcp:compute/router:Router"
ROUTER_PEER = "gcp:compute/routerPeer:RouterPeer"
TRANSIT_GATEWAY = "aws:ec2transitgateway/transitGateway:TransitGateway"
TGW_PEERING = "aws:ec2transitgateway/peeringAttachment:PeeringAttachment"
TGW_ROUTE = "aws:ec2transitgateway/route:Route"

# AWS accepts these names (VpnConnection tunnel*Phase*; docs.aws.amazon.com/vpn/latest/s2svpn/VPNTunnels.html).
STRONG = {
    "encryption": Param("array", ["AES256", "AES256-GCM-16"], "allowed phase 1/2 encryption algorithms"),
    "integrity": Param("array", ["SHA2-256", "SHA2-384", "SHA2-512"], "allowed phase 1/2 integrity algorithms"),
    "dhGroups": Param("array", [15, 16, 19, 20, 21], "allowed phase 1/2 Diffie-Hellman groups"),
}


def _tunnel_problems(p: Any, n: int, config) -> Iterator[str]:
    prefix = f"tunnel{n}"
    versions = p.get(f"{prefix}IkeVersions")
    if versions is None:
        yield f"{prefix}IkeVersions not set: AWS then accepts IKEv1 too; set ['ikev2']"
    elif not is_unknown(versions) and set(versions) != {"ikev2"}:
        yield f"{prefix}IkeVersions is {list(versions)}; only 'ikev2' is allowed"
    for phase in (1, 2):
        for kind, key, allowed in (("encryption", f"{prefix}Phase{phase}EncryptionAlgorithms", config["encryption"]),
                                   ("integrity", f"{prefix}Phase{phase}IntegrityAlgorithms", config["integrity"]),
                                   ("dhGroups", f"{prefix}Phase{phase}DhGroupNumbers", config["dhGroups"])):
            values = p.get(key)
            if values is None:
                yield f"{key} not set: AWS then also offers weak {kind} choices"
            elif not is_unknown(values):
                weak = [v for v in values if not is_unknown(v) and v not in allowed]
                if weak:
                    yield f"{key} allows {weak}; allowed: {list(allowed)}"


@rule("aws-vpn-ikev2-strong-crypto",
      "AWS site-to-site VPN tunnels use IKEv2 only, with AES-256, SHA-2 and strong DH groups in both phases.",
      enforcement=MANDATORY, severity=HIGH, types=(VPN_CONNECTION,), params=STRONG)
def aws_vpn_crypto(r: Resource, config) -> Iterator[str]:
    for n in (1, 2):
        yield from _tunnel_problems(r.props, n, config)


@rule("gcp-vpn-ikev2", "GCP VPN tunnels use IKEv2 (ikeVersion 2, the default when unset).",
      enforcement=MANDATORY, severity=HIGH, types=(VPN_TUNNEL,))
def gcp_vpn_ikev2(r: Resource, config) -> Iterator[str]:
    version = r.props.get("ikeVersion", 2)
    if not is_unknown(version) and int(version) != 2:
        yield f"ikeVersion is {version:g}; use 2"


@rule("vpn-psk-strength",
      "VPN pre-shared keys, when known at preview, are long enough (see also secret-material-generated).",
      enforcement=MANDATORY, severity=HIGH, types=(VPN_TUNNEL, VPN_CONNECTION),
      params={"minLength": Param("integer", 32, "shortest acceptable pre-shared key")})
def vpn_psk_strength(r: Resource, config) -> Iterator[str]:
    fields = ("sharedSecret",) if r.type == VPN_TUNNEL else ("tunnel1PresharedKey", "tunnel2PresharedKey")
    for name in fields:
        value = r.props.get(name)
        if isinstance(value, str) and not is_unknown(value) and len(value) < config["minLength"]:
            yield f"{name} has {len(value)} characters; at least {config['minLength']}"


@rule("aws-vpn-bgp-routing", "AWS VPN connections exchange routes by BGP (staticRoutesOnly false) for failover.",
      enforcement=ADVISORY, severity=LOW, types=(VPN_CONNECTION,))
def aws_vpn_bgp(r: Resource, config) -> Iterator[str]:
    if r.props.get("staticRoutesOnly") is True:
        yield "staticRoutesOnly is true: tunnels will not fail over by themselves"


@rule("aws-vpn-tunnel-logging",
      "AWS VPN tunnel activity is logged to CloudWatch (IKE negotiation failures, tunnel flaps, probing).",
      enforcement=MANDATORY, severity=MEDIUM, types=(VPN_CONNECTION,))
def aws_vpn_logging(r: Resource, config) -> Iterator[str]:
    for n in (1, 2):
        enabled = get(r.props, f"tunnel{n}LogOptions.cloudwatchLogOptions.logEnabled", False)
        if enabled is not True and not is_unknown(enabled):
            yield f"tunnel{n}LogOptions.cloudwatchLogOptions.logEnabled is not true"


@rule("gcp-external-vpn-gateway-redundancy",
      "The GCP view of AWS VPN endpoints uses FOUR_IPS_REDUNDANCY (the 99.99% HA VPN topology).",
      enforcement=ADVISORY, severity=MEDIUM, types=(EXTERNAL_VPN_GATEWAY,))
def external_gateway_redundancy(r: Resource, config) -> Iterator[str]:
    redundancy = r.props.get("redundancyType")
    if not is_unknown(redundancy) and redundancy != "FOUR_IPS_REDUNDANCY":
        yield f"redundancyType is {redundancy!r}, not 'FOUR_IPS_REDUNDANCY'"


LINK_LOCAL = ipaddress.ip_network("169.254.0.0/16")
# AWS refuses these inside CIDRs for VPN tunnels (docs.aws.amazon.com/vpn/latest/s2svpn/VPNTunnels.html).
AWS_RESERVED_INSIDE = {f"169.254.{n}.0/30" for n in (0, 1, 2, 3, 4, 5)} | {"169.254.169.252/30"}


def _link_local(value: Any, prefix_len: int | None = None) -> str | None:
    if value is None or is_unknown(value):
        return None
    try:
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return f"{value!r} is not an address"
    if not net.subnet_of(LINK_LOCAL):  # type: ignore[arg-type]
        return f"{value} is outside 169.254.0.0/16"
    if prefix_len is not None and net.prefixlen != prefix_len:
        return f"{value} is not a /{prefix_len}"
    return None


@rule("vpn-bgp-link-local",
      "BGP sessions over VPN use link-local /30 inside ranges that AWS accepts (not its reserved blocks).",
      enforcement=ADVISORY, severity=MEDIUM, types=(VPN_CONNECTION, ROUTER_PEER))
def vpn_bgp_link_local(r: Resource, config) -> Iterator[str]:
    if r.type == VPN_CONNECTION:
        for n in (1, 2):
            cidr = r.props.get(f"tunnel{n}InsideCidr")
            problem = _link_local(cidr, 30)
            if problem:
                yield f"tunnel{n}InsideCidr: {problem}"
            elif isinstance(cidr, str) and cidr in AWS_RESERVED_INSIDE:
                yield f"tunnel{n}InsideCidr {cidr} is reserved by AWS"
    else:
        for key in ("ipAddress", "peerIpAddress"):
            problem = _link_local(r.props.get(key))
            if problem:
                yield f"{key}: {problem}"


def _private_asn(asn: Any) -> bool:
    value = int(asn)
    return 64512 <= value <= 65534 or 4200000000 <= value <= 4294967294


@rule("bgp-private-asn", "BGP speakers of the private links use private ASNs (RFC 6996), never a public one.",
      enforcement=ADVISORY, severity=LOW, types=(CUSTOMER_GATEWAY, ROUTER, ROUTER_PEER, TRANSIT_GATEWAY))
def bgp_private_asn(r: Resource, config) -> Iterator[str]:
    key = {CUSTOMER_GATEWAY: "bgpAsn", ROUTER: "bgp.asn", ROUTER_PEER: "peerAsn",
           TRANSIT_GATEWAY: "amazonSideAsn"}[r.type]
    asn = get(r.props, key)
    if asn is None or is_unknown(asn):
        return
    try:
        ok = _private_asn(asn)
    except (TypeError, ValueError):
        yield f"{key} {asn!r} is not a number"
        return
    if not ok:
        yield f"{key} {asn} is not a private ASN"


@rule("tgw-no-auto-accept", "Transit Gateways never auto-accept shared attachments (no silent cross-account links).",
      enforcement=MANDATORY, severity=HIGH, types=(TRANSIT_GATEWAY,))
def tgw_no_auto_accept(r: Resource, config) -> Iterator[str]:
    if r.props.get("autoAcceptSharedAttachments") == "enable":
        yield "autoAcceptSharedAttachments is 'enable'"


@rule("tgw-routes-private-only",
      "Transit Gateway static routes carry private ranges only: no default route to another region or VPN.",
      enforcement=MANDATORY, severity=HIGH, types=(TGW_ROUTE,))
def tgw_routes_private(r: Resource, config) -> Iterator[str]:
    destination = r.props.get("destinationCidrBlock")
    if destination is None or is_unknown(destination) or r.props.get("blackhole") is True:
        return
    try:
        net = ipaddress.ip_network(str(destination), strict=False)
    except ValueError:
        yield f"destinationCidrBlock {destination!r} is not a CIDR"
        return
    shared = ipaddress.ip_network("100.64.0.0/10")
    if not (net.is_private or (net.version == 4 and net.subnet_of(shared))):  # type: ignore[arg-type]
        yield f"destinationCidrBlock {destination} is not a private range"


@rule("tgw-peering-explicit",
      "Transit Gateway peering names both gateways and the peer region (links follow the topology plan).",
      enforcement=ADVISORY, severity=LOW, types=(TGW_PEERING,))
def tgw_peering_explicit(r: Resource, config) -> Iterator[str]:
    if not r.props.get("peerRegion"):
        yield "peerRegion is not set"
    for key in ("peerTransitGatewayId", "transitGatewayId"):
        if r.props.get(key) in (None, ""):
            yield f"{key} is not set"


RULES = [aws_vpn_crypto, gcp_vpn_ikev2, vpn_psk_strength, aws_vpn_bgp, aws_vpn_logging, external_gateway_redundancy,
         vpn_bgp_link_local, bgp_private_asn, tgw_no_auto_accept, tgw_routes_private, tgw_peering_explicit]
