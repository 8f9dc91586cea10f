"""`python -m infra.planning.dashboards_cli --stack prod --region use1 > use1.json`: the Grafana dashboard of
one region's Prometheus, from the plan (docs/monitoring.md "Dashboards"); import it into any Grafana
(Dashboards > New > Import) with the region's Prometheus as the data source.

Offline and read-only. Exit codes: 0 printed, 2 invalid configuration or no such region.
"""

from __future__ import annotations

import argparse
import json
import sys

from infra.config import stack_file_path
from infra.errors import ConfigError
from infra.planning.dashboards import dashboard_plan, grafana_region_dashboard
from infra.planning.plan import plan_stack_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--region", required=True, help="a region name of the stack (e.g. use1)")
    args = parser.parse_args(argv)
    try:
        _, plan = plan_stack_file(stack_file_path(args.stack))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    views = dashboard_plan(plan, args.stack)
    if views is None or args.region not in views.regions:
        known = ", ".join(views.regions) if views else "none"
        print(f"--region: no monitored region {args.region!r}; regions: {known}", file=sys.stderr)
        return 2
    print(json.dumps(grafana_region_dashboard(views, views.regions[args.region]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
