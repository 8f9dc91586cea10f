"""`python -m infra.planning.residency_cli --stack prod [--lose REGION] [--json]`: the zone-sharded
cluster a stack's `residency` section asks for (docs/residency.md), and what losing a region leaves.

Offline and read-only: it plans, it deploys nothing (the program deploys the same plan).
Exit codes: 0 planned, 1 no `residency` section, 2 invalid configuration.
"""

from __future__ import annotations

import argparse
import json
import sys

from infra.config import MongoDbConfig, stack_file_path
from infra.errors import ConfigError
from infra.planning.database import traffic_by_region
from infra.planning.plan import plan_stack_file
from infra.planning.residency import ResidencyPlan, drill_section, plan_residency


def render(plan: ResidencyPlan) -> str:
    lines = ["shard key: " + json.dumps(plan.shard_key)]
    for s in plan.shards:
        rs = s.replica_set
        members = ", ".join(f"{m.name} ({m.zone}, votes {m.votes}, priority {m.priority})" for m in rs.members)
        lines += [f"{s.name} [zone {s.zone}: {', '.join(s.regions)}] {rs.total_votes} votes, primary in "
                  f"{rs.primary_region}, backups to {', '.join(s.backup_regions())}", f"  members: {members}",
                  f"  {s.region_loss()}"]
    cfg = plan.config_servers
    lines.append(f"{cfg.replica_set} (config servers) {cfg.total_votes} votes over {', '.join(cfg.regions)}: "
                 + ", ".join(f"{m.name} (votes {m.votes})" for m in cfg.members))
    lines.append("mongos: " + ", ".join(f"{r.region} x{r.replicas}" for r in plan.routers))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--lose", metavar="REGION", help="what losing this region leaves, per replica set")
    parser.add_argument("--json", action="store_true", help="the plan's output document")
    args = parser.parse_args(argv)
    try:
        cfg, stack = plan_stack_file(stack_file_path(args.stack))
        if cfg.residency is None:
            print(f"stack {args.stack}: no `residency` section (one replica set holds every document)")
            return 1
        plan = plan_residency(stack.regions, traffic_by_region(stack.sizing.headroom), cfg.residency,
                              cfg.mongodb or MongoDbConfig(), cfg.domain, stack.database)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    names = [r.name for r in stack.regions]
    if args.lose and args.lose not in names:
        print(f"--lose: no such region {args.lose!r}; regions: {', '.join(names)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(plan.output(), indent=2))
    elif args.lose:
        print(drill_section(plan, args.lose))
    else:
        print(render(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
