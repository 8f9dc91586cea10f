"""Private links across AWS partitions (aws <-> aws-cn): IPsec with BGP, since neither Transit Gateway
peering nor AWS Site-to-Site VPN crosses into the China regions (docs/partitions.md, "Links").

- China end (`PartitionAppliances`, one per China region): two VPN appliance network interfaces, one per
  zone in the public subnets, each with an Elastic IP, source/destination check off, a security group;
  the VPC's private route tables send every other partition's ranges to the first appliance. The
  appliance instances themselves (an IPsec + BGP daemon, e.g. strongSwan and FRR, on a small instance
  attached to these interfaces) are not declared by this program yet: docs/partitions.md says what they
  must run. China has no AWS Site-to-Site VPN (https://docs.amazonaws.cn/en_us/aws/latest/userguide/vpc.html).
- Global end (`PartitionVpn`, one per link): per appliance a CustomerGateway at its Elastic IP (ASN from
  the plan) and a VpnConnection on the global region's Transit Gateway, 2 tunnels each, BGP, the same
  IKEv2 suite and tunnel logs as the AWS <-> GCP links (components/links/ha_vpn.py), and the
  security-group rules that admit IKE/NAT-T/ESP from the AWS tunnel endpoints on the China side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.links.ha_vpn import PSK_LENGTH, VPN_LOG_RETENTION_DAYS, _tunnel_options
from components.network.log_key import logs_kms_key
from components.tags import aws_tags
from infra.planning.regions import RegionPlan
from infra.planning.topology import CROSS_REGION_TCP_PORTS, PartitionLink, VpcRoute

APPLIANCES = 2  # one per customer gateway / VPN connection, in two zones
# IKE (UDP 500), NAT traversal (UDP 4500) and ESP (IP protocol 50) between the tunnel endpoints
# (https://docs.aws.amazon.com/vpn/latest/s2svpn/your-cgw.html, "Configuring a firewall").
IPSEC_RULES = (("udp", 500, 500), ("udp", 4500, 4500), ("50", None, None))


@dataclass(frozen=True)
class PartitionAppliancesArgs:
    region: RegionPlan
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]  # AwsNetwork.public_subnet_ids, zone order
    private_route_table_ids: Sequence[pulumi.Input[str]]
    routes: tuple[VpcRoute, ...]  # the region's `appliance` routes (infra/planning/topology.py)
    local_ranges: tuple[str, ...]  # the region's own ranges: what the appliances forward for
    tags: dict[str, str]


class PartitionAppliances(pulumi.ComponentResource):
    """The China end of the region's cross-partition links: interfaces, addresses, routes."""

    public_ips: list[pulumi.Output[str]]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: PartitionAppliancesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:links:PartitionAppliances", name, None, opts)
        loc, child = args.region.location, pulumi.ResourceOptions(parent=self)
        if len(args.public_subnet_ids) < APPLIANCES:
            raise ValueError(f"{name}: VPN appliances need {APPLIANCES} public subnets (zones)")
        group = aws.ec2.SecurityGroup(
            f"{name}-sg", region=loc, vpc_id=args.vpc_id, name_prefix=f"{args.region.name}-vpn-appliance-",
            description="Cross-partition VPN appliances: IPsec from the AWS tunnel endpoints, forwarded traffic",
            tags=aws_tags(args.tags, f"{args.region.name}-vpn-appliance"), opts=child)
        # Traffic the appliances forward into the tunnels: the cross-region ports from the region's own ranges.
        for cidr in args.local_ranges:
            for port in CROSS_REGION_TCP_PORTS:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-fwd-{port}-{cidr.replace('/', '-')}", region=loc, security_group_id=group.id,
                    cidr_ipv4=cidr, ip_protocol="tcp", from_port=port, to_port=port,
                    description="forwarded to other partitions", tags=aws_tags(args.tags, f"{name}-fwd-{port}"),
                    opts=child)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-egress", region=loc, security_group_id=group.id, cidr_ipv4="0.0.0.0/0", ip_protocol="-1",
            description="IPsec to the AWS endpoints and forwarded traffic", tags=aws_tags(args.tags, f"{name}-egress"),
            opts=child)
        interfaces, self.public_ips = [], []
        for i in range(APPLIANCES):
            eni = aws.ec2.NetworkInterface(
                f"{name}-eni-{i}", region=loc, subnet_id=args.public_subnet_ids[i], security_groups=[group.id],
                source_dest_check=False, description=f"VPN appliance {i} ({args.region.name})",
                tags=aws_tags(args.tags, f"{args.region.name}-vpn-appliance-{i}"), opts=child)
            eip = aws.ec2.Eip(f"{name}-eip-{i}", region=loc, domain="vpc", network_interface=eni.id,
                              tags=aws_tags(args.tags, f"{args.region.name}-vpn-appliance-{i}"), opts=child)
            interfaces.append(eni)
            self.public_ips.append(eip.public_ip)
        # One target per destination in a route table: the first appliance; moving the routes to the second
        # when the first fails is the appliances' job (docs/partitions.md, "Failover").
        for route in args.routes:
            for t, table_id in enumerate(args.private_route_table_ids):
                aws.ec2.Route(f"{name}-private-{t}-{route.destination.replace('/', '-')}", region=loc,
                              route_table_id=table_id, destination_cidr_block=route.destination,
                              network_interface_id=interfaces[0].id, opts=child)
        self.security_group_id = group.id
        self.register_outputs({"publicIps": self.public_ips})


@dataclass(frozen=True)
class PartitionVpnArgs:
    link: PartitionLink
    global_region: RegionPlan
    remote_region: RegionPlan
    transit_gateway_id: pulumi.Input[str]  # the global region's
    appliance_ips: Sequence[pulumi.Input[str]]  # PartitionAppliances.public_ips
    appliance_security_group_id: pulumi.Input[str]
    tags: dict[str, str]


class PartitionVpn(pulumi.ComponentResource):
    """The global end of one cross-partition link: 2 customer gateways, 2 VPN connections, 4 tunnels."""

    vpn_connection_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: PartitionVpnArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollout:links:PartitionVpn", name, None, opts)
        link, loc, child = args.link, args.global_region.location, pulumi.ResourceOptions(parent=self)
        psks = [pulumi.Output.secret(pulumi.Output.concat("k", random.RandomPassword(
            f"{name}-psk-{t.index}", length=PSK_LENGTH - 1, special=False, opts=child).result))
            for t in link.tunnels]
        logs_key = logs_kms_key(f"{name}-logs-key", loc, f"VPN {link.id} tunnel logs",
                                aws_tags(args.tags, f"{link.id}-logs-key"), self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", region=loc, name_prefix=f"/rollout/{pulumi.get_stack()}/vpn/{link.id}-",
            retention_in_days=VPN_LOG_RETENTION_DAYS, kms_key_id=logs_key.arn,
            tags=aws_tags(args.tags, f"{link.id}-logs"), opts=child)
        connections = []
        for conn in (0, 1):
            gateway = aws.ec2.CustomerGateway(
                f"{name}-cgw-{conn}", region=loc, type="ipsec.1", bgp_asn=str(link.appliance_asn),
                ip_address=args.appliance_ips[conn], tags=aws_tags(args.tags, f"{link.id}-cgw-{conn}"), opts=child)
            options: dict[str, object] = {}
            for t in link.connection(conn):
                options |= _tunnel_options(t.aws_tunnel, t.inside_cidr, psks[t.index], log_group.arn)
            connection = aws.ec2.VpnConnection(
                f"{name}-connection-{conn}", region=loc, type="ipsec.1", customer_gateway_id=gateway.id,
                transit_gateway_id=args.transit_gateway_id, static_routes_only=False,
                tags=aws_tags(args.tags, f"{link.id}-connection-{conn}"), opts=child, **options)
            connections.append(connection)
            # The China end admits IPsec from this connection's two AWS endpoints only.
            for n, address in ((1, connection.tunnel1_address), (2, connection.tunnel2_address)):
                for protocol, low, high in IPSEC_RULES:
                    aws.vpc.SecurityGroupIngressRule(
                        f"{name}-ipsec-{conn}-{n}-{protocol}-{low or 'all'}", region=args.remote_region.location,
                        security_group_id=args.appliance_security_group_id,
                        cidr_ipv4=pulumi.Output.concat(address, "/32"), ip_protocol=protocol, from_port=low,
                        to_port=high, description=f"IPsec from {link.id} connection {conn} tunnel {n}",
                        tags=aws_tags(args.tags, f"{link.id}-ipsec"), opts=child)
        self.vpn_connection_ids = [c.id for c in connections]
        self.register_outputs({"vpnConnections": self.vpn_connection_ids})
