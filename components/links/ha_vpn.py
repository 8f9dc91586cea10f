"""GCP HA VPN to AWS site-to-site VPN on a Transit Gateway: 4 tunnels, BGP, the 99.99% topology.

Shape from Google's guide (https://cloud.google.com/network-connectivity/docs/vpn/tutorials/create-ha-vpn-connections-google-cloud-aws):
one HaVpnGateway (2 interfaces); per interface an AWS CustomerGateway and a VpnConnection (2 tunnels);
an ExternalVpnGateway FOUR_IPS_REDUNDANCY holding the 4 AWS tunnel outside IPs; per tunnel a VPNTunnel,
a Cloud Router interface and a BGP peer. The BGP sessions terminate on the GCP region's own Cloud
Router (ASN from infra.planning.topology; it already advertises ALL_SUBNETS), so no second router and ASN.
Inside addresses come from the plan, so neither side reads the other's computed inside addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_random as random

from components.network.log_key import logs_kms_key
from components.tags import aws_tags, gcp_labels
from infra.planning.regions import RegionPlan
from infra.planning.topology import VpnLink

# IKEv2 only and strong algorithms only; AWS offers exactly these, so whichever side initiates,
# the negotiated suite is one of them (GCP's proposals include all:
# https://cloud.google.com/network-connectivity/docs/vpn/concepts/supported-ike-ciphers).
IKE_VERSIONS = ["ikev2"]
ENCRYPTION = ["AES256-GCM-16", "AES256"]
INTEGRITY = ["SHA2-256", "SHA2-384", "SHA2-512"]
# NIST ECP curves only (the policy pack's aws-vpn-ikev2-strong-crypto rule): no MODP groups 2/5/14.
DH_GROUPS = [19, 20, 21]
PSK_LENGTH = 48
VPN_LOG_RETENTION_DAYS = 90


@dataclass(frozen=True)
class HaVpnArgs:
    link: VpnLink
    aws_region: RegionPlan
    gcp_region: RegionPlan
    transit_gateway_id: pulumi.Input[str]
    gcp_network_self_link: pulumi.Input[str]
    gcp_router_name: pulumi.Input[str]
    tags: dict[str, str]


def _log_options(n: int, log_group_arn: pulumi.Input[str]) -> object:
    """Tunnel activity (IKE, DPD, BGP) to CloudWatch Logs
    (https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-logs.html)."""
    options = getattr(aws.ec2, f"VpnConnectionTunnel{n}LogOptionsArgs")
    cloudwatch = getattr(aws.ec2, f"VpnConnectionTunnel{n}LogOptionsCloudwatchLogOptionsArgs")
    return options(cloudwatch_log_options=cloudwatch(log_enabled=True, log_group_arn=log_group_arn,
                                                     log_output_format="json", bgp_log_enabled=True,
                                                     bgp_log_group_arn=log_group_arn, bgp_log_output_format="json"))


def _tunnel_options(n: int, inside_cidr: str, psk: pulumi.Output[str],
                    log_group_arn: pulumi.Input[str]) -> dict[str, object]:
    """tunnel1_* / tunnel2_* arguments of an AWS VpnConnection."""
    return {
        f"tunnel{n}_log_options": _log_options(n, log_group_arn),
        f"tunnel{n}_inside_cidr": inside_cidr,
        f"tunnel{n}_preshared_key": psk,
        f"tunnel{n}_ike_versions": IKE_VERSIONS,
        f"tunnel{n}_phase1_encryption_algorithms": ENCRYPTION,
        f"tunnel{n}_phase1_integrity_algorithms": INTEGRITY,
        f"tunnel{n}_phase1_dh_group_numbers": DH_GROUPS,
        f"tunnel{n}_phase2_encryption_algorithms": ENCRYPTION,
        f"tunnel{n}_phase2_integrity_algorithms": INTEGRITY,
        f"tunnel{n}_phase2_dh_group_numbers": DH_GROUPS,
    }


class HaVpn(pulumi.ComponentResource):
    """Both ends of one AWS region <-> GCP region HA VPN, with 4 BGP sessions."""

    tunnel_names: list[pulumi.Output[str]]
    vpn_connection_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: HaVpnArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:links:HaVpn", name, None, opts)
        link, aws_loc, gcp_loc = args.link, args.aws_region.location, args.gcp_region.location
        child = pulumi.ResourceOptions(parent=self)
        labels = gcp_labels(args.tags)

        gateway = gcp.compute.HaVpnGateway(
            f"{name}-gateway", region=gcp_loc, network=args.gcp_network_self_link,
            description=f"HA VPN to AWS {args.aws_region.location} ({link.id})", labels=labels, opts=child)

        # Pre-shared keys: AWS allows letters, digits, '.' and '_' and no leading '0'
        # (https://docs.aws.amazon.com/vpn/latest/s2svpn/VPNTunnels.html); the 'k' prefix settles the latter.
        psks = [pulumi.Output.secret(pulumi.Output.concat("k", random.RandomPassword(
            f"{name}-psk-{t.index}", length=PSK_LENGTH - 1, special=False, opts=child).result))
            for t in link.tunnels]

        logs_key = logs_kms_key(f"{name}-logs-key", aws_loc, f"VPN {link.id} tunnel logs",
                                aws_tags(args.tags, f"{link.id}-logs-key"), self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", region=aws_loc, name_prefix=f"/rollout/{pulumi.get_stack()}/vpn/{link.id}-",
            retention_in_days=VPN_LOG_RETENTION_DAYS, kms_key_id=logs_key.arn,
            tags=aws_tags(args.tags, f"{link.id}-logs"), opts=child)
        connections = []
        for conn in (0, 1):
            tunnels = link.connection(conn)
            interface = tunnels[0].gcp_interface
            customer_gateway = aws.ec2.CustomerGateway(
                f"{name}-cgw-{conn}", region=aws_loc, type="ipsec.1", bgp_asn=str(link.gcp_asn),
                ip_address=gateway.vpn_interfaces.apply(lambda ifs, i=interface: ifs[i].ip_address),
                tags=aws_tags(args.tags, f"{link.id}-cgw-{conn}"), opts=child)
            options: dict[str, object] = {}
            for t in tunnels:
                options |= _tunnel_options(t.aws_tunnel, t.inside_cidr, psks[t.index], log_group.arn)
            connections.append(aws.ec2.VpnConnection(
                f"{name}-connection-{conn}", region=aws_loc, type="ipsec.1", customer_gateway_id=customer_gateway.id,
                transit_gateway_id=args.transit_gateway_id, static_routes_only=False,
                tags=aws_tags(args.tags, f"{link.id}-connection-{conn}"), opts=child, **options))

        def outside_ip(index: int) -> pulumi.Output[str]:
            t = link.tunnels[index]
            c = connections[t.aws_connection]
            return c.tunnel1_address if t.aws_tunnel == 1 else c.tunnel2_address

        peer = gcp.compute.ExternalVpnGateway(
            f"{name}-aws", redundancy_type="FOUR_IPS_REDUNDANCY", labels=labels,
            description=f"AWS {aws_loc} site-to-site VPN endpoints ({link.id})",
            interfaces=[gcp.compute.ExternalVpnGatewayInterfaceArgs(id=t.index, ip_address=outside_ip(t.index))
                        for t in link.tunnels], opts=child)

        self.tunnel_names = []
        for t in link.tunnels:
            tunnel = gcp.compute.VPNTunnel(
                f"{name}-tunnel-{t.index}", region=gcp_loc, vpn_gateway=gateway.id,
                vpn_gateway_interface=t.gcp_interface, peer_external_gateway=peer.id,
                peer_external_gateway_interface=t.index, shared_secret=psks[t.index], ike_version=2,
                router=args.gcp_router_name, labels=labels, opts=child)
            interface = gcp.compute.RouterInterface(
                f"{name}-interface-{t.index}", region=gcp_loc, router=args.gcp_router_name,
                ip_range=f"{t.gcp_inside_ip}/30", vpn_tunnel=tunnel.name, opts=child)
            gcp.compute.RouterPeer(
                f"{name}-bgp-{t.index}", region=gcp_loc, router=args.gcp_router_name, interface=interface.name,
                ip_address=t.gcp_inside_ip, peer_ip_address=t.aws_inside_ip, peer_asn=t.aws_asn,
                advertised_route_priority=100, opts=child)
            self.tunnel_names.append(tunnel.name)
        self.vpn_connection_ids = [c.id for c in connections]
        self.register_outputs({"tunnels": self.tunnel_names, "vpnConnections": self.vpn_connection_ids})
