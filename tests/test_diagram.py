"""The Mermaid diagram shows every region in its cloud's box and every planned link, labelled."""

from __future__ import annotations

import re

from infra.offline.diagram import render_mermaid
from infra.planning.topology import plan_topology
from tests.topology_plans import all_locations, regions_plan

PROD = [("aws", "us-east-1"), ("aws", "us-west-2"), ("aws", "eu-central-1"), ("gcp", "europe-west4"),
        ("gcp", "asia-northeast1")]


def subgraph(text: str, cloud: str) -> str:
    match = re.search(rf"subgraph {cloud}\[.*?\n(.*?)\n  end", text, re.S)
    assert match, f"no {cloud} subgraph"
    return match.group(1)


def test_regions_are_grouped_by_cloud_and_links_are_labelled():
    plan = regions_plan(PROD)
    topology = plan_topology(plan)
    text = render_mermaid(plan, topology)
    assert text.startswith("graph LR\n")
    assert {"r_a00", "r_a02", "r_a08"} == set(re.findall(r"(r_\w+)\[", subgraph(text, "aws")))
    assert {"r_g34", "r_g41"} == set(re.findall(r"(r_\w+)\[", subgraph(text, "gcp")))
    assert text.count("|TGW peering|") == len(topology.peerings) == 3
    assert text.count("|HA VPN x4") == len(topology.vpns) == 6
    assert "r_a00 <-->|HA VPN x4, BGP 64512/65034| r_g34" in text
    assert "us-east-1<br/>10.0.0.0/15" in text


def test_the_hub_is_marked_and_a_single_cloud_has_one_box():
    plan = regions_plan(all_locations("aws")[:8])
    topology = plan_topology(plan)
    text = render_mermaid(plan, topology)
    assert "subgraph gcp" not in text
    assert text.count("(hub)") == 1 and f"{topology.hub} (hub)" in text
    assert text.count("|TGW peering|") == 7 and "HA VPN" not in text


def test_geographies_point_at_regions_with_their_weights():
    from infra.config import config_from_stack_file
    from infra.planning.plan import build_plan
    from tests.factories import ROOT

    plan = build_plan(config_from_stack_file(ROOT / "Pulumi.prod.yaml"))
    text = render_mermaid(plan, plan.topology)
    edges = re.findall(r"(g_\w+) -->\|w (\d+) = ([\d.]+)%\| (r_\w+)", text)
    expected = {(f"g_{geo.replace('-', '_')}", str(w), f"r_{r}")
                for geo, ws in plan.traffic.normal_weights.items() for r, w in ws.items()}
    assert {(g, w, r) for g, w, _, r in edges} == expected
    assert ('g_us_east', '255', '93.4', 'r_use1') in edges
