"""How the private links grow with regions: resources under `PrivateLinks` for generated stacks.

    .venv/bin/python bench/bench_links.py 2 5 10 20

Stacks alternate AWS and GCP regions in catalog order (so half of each cloud), run under mocks.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.offline.mock_runtime import run_mocked
from infra.planning.topology import plan_topology
from tests.links_program import declare_links
from tests.topology_plans import all_locations, regions_plan


def growth_row(total: int) -> dict[str, object]:
    aws, gcp = all_locations("aws"), all_locations("gcp")
    plan = regions_plan([(aws if i % 2 == 0 else gcp)[i // 2] for i in range(total)])
    topology = plan_topology(plan)
    run = run_mocked(lambda: declare_links(plan, topology), stack="growth")
    links = [r for r in run.resources if "rollout:links:" in r.urn and r.custom]
    return {"regions": total, "aws": len(topology.aws_regions), "gcp": total - len(topology.aws_regions),
            "mode": topology.mode, "peerings": len(topology.peerings), "vpns": len(topology.vpns),
            "tgw_routes": len(topology.tgw_routes), "resources": len(links)}


def main(sizes: list[int]) -> None:
    print("| regions | AWS | GCP | AWS links | TGW peerings | TGW static routes | HA VPNs | link resources |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        r = growth_row(n)
        print(f"| {r['regions']} | {r['aws']} | {r['gcp']} | {r['mode']} | {r['peerings']} | {r['tgw_routes']} | "
              f"{r['vpns']} | {r['resources']} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2, 5, 10, 20])
