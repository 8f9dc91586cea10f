"""Link components under mocks: the captured inputs carry exactly what the topology planned."""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter

import pytest

from infra.offline.mock_runtime import SECRET, run_mocked
from infra.planning.topology import CROSS_REGION_TCP_PORTS, plan_topology
from tests.links_program import declare_links
from tests.topology_plans import all_locations, regions_plan

PROD = [("aws", "us-east-1"), ("aws", "us-west-2"), ("aws", "eu-central-1"), ("gcp", "europe-west4"),
        ("gcp", "asia-northeast1")]
VPN_CONNECTION = "aws:ec2/vpnConnection:VpnConnection"
CUSTOMER_GATEWAY = "aws:ec2/customerGateway:CustomerGateway"
TUNNEL = "gcp:compute/vPNTunnel:VPNTunnel"
ROUTER_INTERFACE = "gcp:compute/routerInterface:RouterInterface"
ROUTER_PEER = "gcp:compute/routerPeer:RouterPeer"
HA_GATEWAY = "gcp:compute/haVpnGateway:HaVpnGateway"
EXTERNAL_GATEWAY = "gcp:compute/externalVpnGateway:ExternalVpnGateway"
TGW_ROUTE = "aws:ec2transitgateway/route:Route"


@functools.cache
def prod_run():
    plan = regions_plan(PROD)
    topology = plan_topology(plan)
    run = run_mocked(lambda: declare_links(plan, topology), stack="test")
    return plan, topology, run


def under(run, component_type, name):
    """Custom resources below the component of that type and name."""
    (root,) = [r for r in run.resources if r.type == component_type and r.name == name]
    found, frontier = [], [root.urn]
    while frontier:
        kids = [r for r in run.resources if r.parent in frontier]
        found += kids
        frontier = [k.urn for k in kids]
    return [r for r in found if r.custom]


def test_each_aws_gcp_attachment_has_the_99_99_shape():
    _, topology, run = prod_run()
    assert len(topology.vpns) == 6  # 3 AWS regions x their 2 nearest GCP regions
    for v in topology.vpns:
        kinds = Counter(r.type for r in under(run, "rollout:links:HaVpn", f"links-{v.id}"))
        assert kinds[HA_GATEWAY] == 1 and kinds[EXTERNAL_GATEWAY] == 1
        assert kinds[CUSTOMER_GATEWAY] == 2 and kinds[VPN_CONNECTION] == 2
        assert kinds[TUNNEL] == kinds[ROUTER_INTERFACE] == kinds[ROUTER_PEER] == 4


def test_four_tunnels_with_distinct_inside_ranges_and_matching_bgp_peers_on_both_sides():
    _, topology, run = prod_run()
    for v in topology.vpns:
        resources = under(run, "rollout:links:HaVpn", f"links-{v.id}")
        connections = sorted((r for r in resources if r.type == VPN_CONNECTION), key=lambda r: r.name)
        aws_inside = [c.inputs[f"tunnel{n}InsideCidr"] for c in connections for n in (1, 2)]
        assert len(set(aws_inside)) == 4 == len(aws_inside)
        assert aws_inside == [t.inside_cidr for t in v.tunnels]
        interfaces = sorted((r for r in resources if r.type == ROUTER_INTERFACE), key=lambda r: r.name)
        peers = sorted((r for r in resources if r.type == ROUTER_PEER), key=lambda r: r.name)
        for t, interface, peer in zip(v.tunnels, interfaces, peers, strict=True):
            net = ipaddress.ip_network(t.inside_cidr)
            assert ipaddress.ip_interface(interface.inputs["ipRange"]).network == net
            assert interface.inputs["ipRange"] == f"{peer.inputs['ipAddress']}/30"
            aws_side, gcp_side = (str(h) for h in net.hosts())
            assert (peer.inputs["peerIpAddress"], peer.inputs["ipAddress"]) == (aws_side, gcp_side)
            assert peer.inputs["peerAsn"] == topology.asns[v.aws_region] == t.aws_asn
        # The AWS end of each BGP session: the customer gateway ASN is the Cloud Router's ASN.
        cgws = [r for r in resources if r.type == CUSTOMER_GATEWAY]
        assert {c.inputs["bgpAsn"] for c in cgws} == {str(topology.asns[v.gcp_region])}
        assert all(c.inputs["type"] == "ipsec.1" for c in cgws)
        assert all(c.inputs["staticRoutesOnly"] is False for c in connections)


def test_ha_vpn_interfaces_and_aws_outside_ips_are_cross_wired():
    _, topology, run = prod_run()
    v = topology.vpns[0]
    resources = under(run, "rollout:links:HaVpn", f"links-{v.id}")
    (external,) = [r for r in resources if r.type == EXTERNAL_GATEWAY]
    assert external.inputs["redundancyType"] == "FOUR_IPS_REDUNDANCY"
    ips = [i["ipAddress"] for i in sorted(external.inputs["interfaces"], key=lambda i: i["id"])]
    assert len({ipaddress.ip_address(ip) for ip in ips}) == 4  # parses, and four distinct endpoints
    tunnels = sorted((r for r in resources if r.type == TUNNEL), key=lambda r: r.name)
    assert [(t.inputs["vpnGatewayInterface"], t.inputs["peerExternalGatewayInterface"]) for t in tunnels] == \
        [(0, 0), (0, 1), (1, 2), (1, 3)]
    cgws = sorted((r for r in resources if r.type == CUSTOMER_GATEWAY), key=lambda r: r.name)
    assert len({c.inputs["ipAddress"] for c in cgws}) == 2


def test_every_pre_shared_key_is_a_secret_and_ike_is_v2_with_strong_ciphers_only():
    _, _, run = prod_run()
    connections, tunnels = run.of_type(VPN_CONNECTION), run.of_type(TUNNEL)
    assert len(connections) == 12 and len(tunnels) == 24
    assert all(t.inputs["sharedSecret"] == SECRET and t.inputs["ikeVersion"] == 2 for t in tunnels)
    weak = {"AES128", "AES128-GCM-16", "SHA1", 2, 5, "ikev1"}
    for c in connections:
        for n in (1, 2):
            assert c.inputs[f"tunnel{n}PresharedKey"] == SECRET
            assert c.inputs[f"tunnel{n}IkeVersions"] == ["ikev2"]
            for key in ("Phase1EncryptionAlgorithms", "Phase2EncryptionAlgorithms", "Phase1IntegrityAlgorithms",
                        "Phase2IntegrityAlgorithms", "Phase1DhGroupNumbers", "Phase2DhGroupNumbers"):
                values = c.inputs[f"tunnel{n}{key}"]
                assert values and not weak & set(values), (key, values)


def test_tgw_peerings_are_requested_accepted_and_routed_on_both_sides():
    _, topology, run = prod_run()
    attachments = run.of_type("aws:ec2transitgateway/peeringAttachment:PeeringAttachment")
    accepters = run.of_type("aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter")
    assert len(attachments) == len(accepters) == len(topology.peerings) == 3
    regions = {r.name: r for r in regions_plan(PROD).regions}
    for p in topology.peerings:
        resources = under(run, "rollout:links:TgwPeering", f"links-{p.id}")
        (attachment,) = [r for r in resources if r.type.endswith("PeeringAttachment")]
        (accepter,) = [r for r in resources if r.type.endswith("PeeringAttachmentAccepter")]
        assert (attachment.inputs["region"], attachment.inputs["peerRegion"]) == \
            (regions[p.requester].location, regions[p.accepter].location)
        assert accepter.inputs["region"] == regions[p.accepter].location
        routes = {(r.inputs["region"], r.inputs["destinationCidrBlock"]) for r in resources if r.type == TGW_ROUTE}
        planned = {(regions[r.region].location, r.destination) for r in topology.tgw_routes if r.peering == p.id}
        assert routes == planned and {loc for loc, _ in routes} == \
            {regions[p.requester].location, regions[p.accepter].location}
        assert all(r.inputs["transitGatewayAttachmentId"].startswith("tgw-attach-")
                   for r in resources if r.type == TGW_ROUTE)


def test_vpc_private_route_tables_send_peer_ranges_to_the_transit_gateway():
    _, topology, run = prod_run()
    routes = [r for r in run.of_type("aws:ec2/route:Route") if r.name.startswith("links-")]
    assert len(routes) == 3 * len(topology.vpc_routes) == 9  # 3 private route tables per region
    assert all(r.inputs["destinationCidrBlock"] == "10.0.0.0/8" and r.inputs["transitGatewayId"].startswith("tgw-")
               for r in routes)


def test_firewalls_admit_only_peer_ranges_on_the_declared_ports():
    plan, topology, run = prod_run()
    (rule,) = run.of_type("gcp:compute/firewall:Firewall")
    assert rule.inputs["direction"] == "INGRESS"
    assert {ipaddress.ip_network(c) for c in rule.inputs["sourceRanges"]} == \
        set(ipaddress.collapse_addresses(ipaddress.ip_network(c) for rs in topology.ranges.values() for c in rs))
    assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": [str(p) for p in CROSS_REGION_TCP_PORTS]},
                                     {"protocol": "icmp"}]
    groups = run.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert len(groups) == len(plan.aws_regions) == 3
    for g in groups:
        region = next(r for r in plan.aws_regions if r.location == g.inputs["region"])
        own = ipaddress.ip_network(region.addresses.network)
        assert [(r["protocol"], r["fromPort"]) for r in g.inputs["ingress"]] == \
            [("tcp", 443), ("tcp", 27017), ("icmp", -1)]
        for r in g.inputs["ingress"] + g.inputs["egress"]:
            assert r["cidrBlocks"] == list(topology.peer_ranges(region.name))
            assert not any(ipaddress.ip_network(c).overlaps(own) for c in r["cidrBlocks"])


@pytest.mark.parametrize("aws_count", [7])
def test_hub_and_spoke_declares_one_peering_per_spoke(aws_count):
    plan = regions_plan(all_locations("aws")[:aws_count])
    topology = plan_topology(plan)
    run = run_mocked(lambda: declare_links(plan, topology), stack="test")
    attachments = run.of_type("aws:ec2transitgateway/peeringAttachment:PeeringAttachment")
    assert topology.mode == "hub" and len(attachments) == aws_count - 1
    assert run.of_type(VPN_CONNECTION) == [] and run.of_type("gcp:compute/firewall:Firewall") == []
    assert len(run.of_type(TGW_ROUTE)) == len(topology.tgw_routes) > 0


def test_a_missing_network_is_a_clear_error():
    plan = regions_plan(PROD)
    topology = plan_topology(plan)
    from components.links import PrivateLinks, PrivateLinksArgs

    with pytest.raises(ValueError, match="no network given for a00"):
        run_mocked(lambda: PrivateLinks("x", PrivateLinksArgs(plan=plan, topology=topology, aws_networks={})))
