"""A Mermaid picture of the private links, for PR comments: regions grouped by cloud, every link labelled;
with a traffic plan, the user geographies and the weighted edges Route 53 sends them along.

Pure: it draws what `infra.planning.topology` decided and nothing else.
"""

from __future__ import annotations

import re

from infra.planning.regions import PlannedRegions
from infra.planning.topology import Topology
from infra.planning.traffic import TrafficPlan


def _id(name: str) -> str:
    """Mermaid node ids: letters, digits and underscores only."""
    return "r_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def render_mermaid(plan: PlannedRegions, topology: Topology) -> str:
    lines = ["graph LR"]
    for cloud, title in (("aws", "AWS (Transit Gateway per region)"), ("gcp", "GCP (one global VPC)")):
        regions = [r for r in plan.regions if r.cloud == cloud]
        if not regions:
            continue
        lines.append(f'  subgraph {cloud}["{title}"]')
        database = getattr(plan, "database", None)
        for r in regions:
            hub = " (hub)" if r.name == topology.hub else ""
            db = ""
            if database is not None:
                members = database.in_region(r.name)
                db = "<br/>" + ", ".join(f"{m.name} v{m.votes} p{m.priority}" for m in members) if members else ""
            lines.append(f'    {_id(r.name)}["{r.name}{hub}<br/>{r.location}<br/>{r.addresses.block}{db}"]')
        lines.append("  end")
    for p in topology.peerings:
        lines.append(f"  {_id(p.requester)} <-->|TGW peering| {_id(p.accepter)}")
    for v in topology.vpns:
        lines.append(f"  {_id(v.aws_region)} <-->|HA VPN x4, BGP {v.aws_asn}/{v.gcp_asn}| {_id(v.gcp_region)}")
    for x in topology.partition_links:  # across AWS partitions: AWS VPN <-> the China region's appliances
        lines.append(f"  {_id(x.global_region)} <-->|IPsec x4 across partitions, BGP {x.global_asn}/{x.appliance_asn}| "
                     f"{_id(x.remote_region)}")
    traffic = getattr(plan, "traffic", None)
    if traffic is not None:
        lines += traffic_lines(traffic)
    return "\n".join(lines) + "\n"


def traffic_lines(traffic: TrafficPlan) -> list[str]:
    """Geographies -> regions, each edge with its Route 53 weight and the share it gives."""
    lines = ['  subgraph users["User geographies (Route 53 geolocation)"]']
    for geo, rps in traffic.demand.items():
        lines.append(f'    {_geo_id(geo)}(["{geo}<br/>{rps:g} rps"])')
    lines.append("  end")
    for geo, weights in traffic.normal_weights.items():
        total = sum(weights.values())
        for region, weight in weights.items():
            lines.append(f"  {_geo_id(geo)} -->|w {weight} = {weight / total * 100:.1f}%| {_id(region)}")
    return lines


def _geo_id(name: str) -> str:
    return "g_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
