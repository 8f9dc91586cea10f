"""Private links between regions: TGW peerings, HA VPNs, VPC routes and cross-region firewall rules."""

from components.links.firewall import AwsPeerSecurityGroup, GcpPeerFirewall
from components.links.ha_vpn import HaVpn, HaVpnArgs
from components.links.private_links import PrivateLinks, PrivateLinksArgs
from components.links.tgw_peering import TgwPeering, TgwPeeringArgs

__all__ = ["AwsPeerSecurityGroup", "GcpPeerFirewall", "HaVpn", "HaVpnArgs", "PrivateLinks", "PrivateLinksArgs",
           "TgwPeering", "TgwPeeringArgs"]
