"""Deploy rehearsal: what an AWS partition does not offer, and which credentials reach it.

The China partition (`aws-cn`) is a separate cloud: its own accounts and credentials, and a subset of the
services (https://docs.amazonaws.cn/en_us/aws/latest/userguide/services.html). The rules refuse what
`pulumi up` would fail on there, before any account is touched:
- `deploy/partition-peering`: Transit Gateway peering between partitions does not exist (China's TGWs peer
  Beijing with Ningxia only); cross-partition links are IPsec with BGP (components/links/partition_vpn.py).
- `deploy/partition-services`: a resource type whose service or feature the partition lacks, in one of its
  regions (table `UNAVAILABLE`, each entry with its source).
- `deploy/partition-credentials`: every AWS resource in a region of a non-global partition is created by
  that partition's provider, and no resource in a global region by it (one partition's credentials do not
  work in the other).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from infra.planning.partition import AWS, partition_of_region
from infra.rehearsal.model import Resource, RunView
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation

CN_DOCS = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/"
TGW_SOURCE = CN_DOCS + "transit-gateway.html (inter-Region peering only between Beijing and Ningxia)"
PEERING = "aws:ec2transitgateway/peeringAttachment:PeeringAttachment"

# partition -> resource type -> (why, what to do instead, source)
UNAVAILABLE: dict[str, dict[str, tuple[str, str, str]]] = {
    "aws-cn": {
        **{t: ("AWS Site-to-Site VPN is not available in the China regions",
               "end the link on VPN appliances in the China VPC (PartitionAppliances) and the AWS VPN on the "
               "global side (PartitionVpn)", CN_DOCS + "vpc.html")
           for t in ("aws:ec2/vpnConnection:VpnConnection", "aws:ec2/customerGateway:CustomerGateway",
                     "aws:ec2/vpnGateway:VpnGateway", "aws:ec2/vpnConnectionRoute:VpnConnectionRoute")},
        **{t: ("a China transit gateway takes only VPC and peering attachments",
               "attach VPCs; reach other networks through the VPN appliances", CN_DOCS + "transit-gateway.html")
           for t in ("aws:ec2transitgateway/connect:Connect", "aws:ec2transitgateway/connectPeer:ConnectPeer")},
        **{t: ("AWS Shield is not available in the China regions", "rely on the regional WAF web ACL",
               CN_DOCS + "waf.html") for t in ("aws:shield/protection:Protection",
                                               "aws:shield/protectionGroup:ProtectionGroup")},
        "aws:networkmanager/globalNetwork:GlobalNetwork": (
            "Transit Gateway Network Manager is not supported in the China regions", "leave it out",
            CN_DOCS + "transit-gateway.html"),
    },
}
# Features inside an available type: (type, input, value) -> (why, instead, source)
UNAVAILABLE_SETTINGS: dict[str, dict[tuple[str, str, str], tuple[str, str, str]]] = {
    "aws-cn": {
        ("aws:wafv2/webAcl:WebAcl", "scope", "CLOUDFRONT"): (
            "AWS WAF is regional only in the China regions", "use scope REGIONAL on the load balancer",
            CN_DOCS + "waf.html"),
    },
}


def region_input(r: Resource) -> str | None:
    region = r.inputs.get("region")
    return region if isinstance(region, str) and region else None


def _provider_regions(run: RunView) -> Mapping[str, str | None]:
    """Explicit AWS provider URN -> its default region."""
    return {p.urn: region_input(p) for p in run if p.type == "pulumi:providers:aws"}


def _provider_urn(r: Resource) -> str | None:
    reference = r.options.get("provider")
    return reference.rsplit("::", 1)[0] if isinstance(reference, str) and reference else None


@rule("deploy/partition-peering", stage="deploy", source=TGW_SOURCE)
def no_peering_across_partitions(ctx: Context) -> Iterator[Violation]:
    """A Transit Gateway peering between regions of two partitions is refused."""
    for r in ctx.run.of_type(PEERING):
        here, peer = region_input(r), r.inputs.get("peerRegion")
        if here and isinstance(peer, str) and partition_of_region(here) != partition_of_region(peer):
            yield Violation("deploy/partition-peering", r.urn,
                            f"peers {here} ({partition_of_region(here)}) with {peer} ({partition_of_region(peer)}): "
                            "Transit Gateway peering does not cross partitions; plan the link as a PartitionLink "
                            "(IPsec with BGP, infra/planning/topology.py)")


@rule("deploy/partition-services", stage="deploy", source=CN_DOCS + "services.html")
def partition_has_the_service(ctx: Context) -> Iterator[Violation]:
    """A resource whose service or setting its region's partition lacks is refused, with the alternative."""
    for r in ctx.run:
        region = region_input(r)
        if not r.custom or not r.type.startswith("aws:") or region is None:
            continue
        partition = partition_of_region(region)
        missing = UNAVAILABLE.get(partition, {}).get(r.type)
        if missing is not None:
            why, instead, source = missing
            yield Violation("deploy/partition-services", r.urn,
                            f"{r.type} in {region}: {why} ({source}); instead: {instead}")
        for (typ, key, value), (why, instead, source) in UNAVAILABLE_SETTINGS.get(partition, {}).items():
            if r.type == typ and r.inputs.get(key) == value:
                yield Violation("deploy/partition-services", r.urn,
                                f"{key} {value} in {region}: {why} ({source}); instead: {instead}")


@rule("deploy/partition-credentials", stage="deploy",
      source=CN_DOCS + "general-info.html (accounts and credentials of one partition do not work in the other)")
def partition_provider_matches(ctx: Context) -> Iterator[Violation]:
    """An AWS resource in a non-global partition's region uses that partition's provider; a resource in a
    global region does not use another partition's provider."""
    providers = _provider_regions(ctx.run)
    for r in ctx.run:
        region = region_input(r)
        if not r.custom or not r.type.startswith("aws:") or region is None:
            continue
        wanted = partition_of_region(region)
        urn = _provider_urn(r)
        default = providers.get(urn) if urn in providers else None
        got = partition_of_region(default) if default else AWS
        if got != wanted:
            via = urn.rsplit("::", 1)[-1] if urn else "the default provider"
            yield Violation("deploy/partition-credentials", r.urn,
                            f"in {region} ({wanted}) but created by {via} ({got}): give the region's component "
                            "the partition's provider (components/partitions.py)")
