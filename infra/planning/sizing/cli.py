"""`python -m infra.sizing --stack prod [--json | --write | --diff]`: size a stack offline and print the plan.

    --write   solve and pin the plan in Pulumi.<stack>.sizing.json (beside the stack file; reviewed in PRs);
              with a lock already there, start from it: the plan that moves the fewest nodes while costing
              at most the optimum x (1 + --cost-tolerance); `--fresh` pins the optimum instead
    --diff    what a re-solve would change against the pinned plan: nodes and $/h per region and type

The stack is validated exactly as the preview and the program validate it (infra.planning.plan), and
every plan printed or pinned passes the preview's DNS check (Route 53 whole weights realise it).

Exit codes: 0 plan printed, 2 bad config or no feasible plan (the message says why, no traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from infra.config import stack_file_path
from infra.errors import ConfigError
from infra.planning.sizing.lock import (
    DiffRow,
    lock_of,
    lock_path,
    lock_problems,
    read_lock,
    sizing_diff,
    write_lock,
)
from infra.planning.sizing.plan import SizingPlan
from infra.planning.sizing.problem import problem_from_config
from infra.planning.sizing.solver import SolveOptions, plan_for_replicas
from infra.planning.sizing.warm import fewest_moves, moved_nodes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.sizing", description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    where.add_argument("--stack-file", help="path to a Pulumi.<stack>.yaml")
    p.add_argument("--json", action="store_true", help="print the plan summary (or the --diff) as JSON")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--write", action="store_true", help="solve and pin the plan in Pulumi.<stack>.sizing.json")
    what.add_argument("--diff", action="store_true", help="compare a re-solve with the pinned plan")
    p.add_argument("--time-limit", type=float, default=SolveOptions.time_limit_s, help="solver seconds")
    p.add_argument("--cost-tolerance", type=float, default=0.01,
                   help="--write from a pinned plan: how much above the optimum's $/h a plan that moves fewer "
                        "nodes may cost (default 0.01 = 1%%)")
    p.add_argument("--fresh", action="store_true", help="--write: ignore the pinned plan, pin the optimum")
    return p


def render_sizing_table(plan: SizingPlan, console: Console) -> None:
    """The fleet per region and instance type, with its cost and utilisation (also shown by the preview)."""
    head = {h.region: h for h in plan.headroom}
    table = Table(
        title=f"Sizing plan: ${plan.hourly_cost:,.2f}/h (lower bound ${plan.lower_bound:,.2f}, "
        f"gap {plan.gap:.2%}, {plan.solve_seconds:.2f} s, {plan.status})"
    )
    for col in ("region", "instance type", "replicas", "GPUs", "$/h", "normal util", "worst failover util"):
        table.add_column(col, justify="left" if col in ("region", "instance type") else "right")
    for g in plan.node_groups:
        h = head[g.region]
        lost = f" ({h.worst_failover_lost_region} lost)" if h.worst_failover_lost_region else ""
        table.add_row(
            g.region,
            f"{g.instance_type} ({g.gpu_model})",
            str(g.nodes),
            str(g.gpus),
            f"{g.usd_per_hour:,.2f}",
            f"{h.normal_utilization:.0%}",
            f"{h.worst_failover_utilization:.0%}{lost}",
        )
    console.print(table)


def render_routing_table(plan: SizingPlan, console: Console) -> None:
    routes = Table(title="Routing (rps): normal state, then while each region is lost")
    routes.add_column("geography")
    routes.add_column("normal")
    for lost in plan.failover:
        routes.add_column(f"{lost} lost")

    def cell(per: dict[str, float] | None) -> str:
        return ", ".join(f"{r} {v:.1f}" for r, v in sorted((per or {}).items(), key=lambda kv: -kv[1]))

    for geo, per in plan.routing.items():
        routes.add_row(geo, cell(dict(per)), *(cell(dict(t.get(geo, {}))) for t in plan.failover.values()))
    console.print(routes)


def _usd(value: float) -> float | None:
    """A price for JSON: null when there is none today (a pinned type no longer offered), never NaN."""
    return round(value, 4) if math.isfinite(value) else None


def diff_document(rows: Sequence[DiffRow]) -> dict:
    now = [r.pinned_usd_now for r in rows]
    return {
        "rows": [{"region": r.region, "instance_type": r.instance_type, "pinned_nodes": r.pinned_nodes,
                  "resolved_nodes": r.resolved_nodes, "pinned_usd_per_hour_written": _usd(r.pinned_usd_written),
                  "pinned_usd_per_hour_now": _usd(r.pinned_usd_now),
                  "resolved_usd_per_hour": _usd(r.resolved_usd), "changed": r.changed} for r in rows],
        "pinned_usd_per_hour_written": _usd(sum(r.pinned_usd_written for r in rows)),
        "pinned_usd_per_hour_now": _usd(sum(now)) if all(math.isfinite(v) for v in now) else None,
        "resolved_usd_per_hour": _usd(sum(r.resolved_usd for r in rows)),
    }


def render_diff(rows: Sequence[DiffRow], console: Console, title: str) -> None:
    table = Table(title=title)
    for col in ("region", "instance type", "nodes (pinned -> re-solve)", "$/h pinned when written",
                "$/h pinned now", "$/h re-solve", ""):
        table.add_column(col, justify="left" if col in ("region", "instance type", "") else "right")
    for r in rows:
        nodes = str(r.pinned_nodes) if r.pinned_nodes == r.resolved_nodes else f"{r.pinned_nodes} -> {r.resolved_nodes}"
        now = f"{r.pinned_usd_now:,.4f}" if math.isfinite(r.pinned_usd_now) else "n/a (not offered)"
        table.add_row(r.region, r.instance_type, nodes, f"{r.pinned_usd_written:,.4f}", now,
                      f"{r.resolved_usd:,.4f}", "changed" if r.changed else "")
    table.add_row("[bold]total[/]", "", "", f"{sum(r.pinned_usd_written for r in rows):,.4f}",
                  f"{sum(r.pinned_usd_now for r in rows):,.4f}", f"{sum(r.resolved_usd for r in rows):,.4f}", "")
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = args.stack_file or stack_file_path(args.stack)
    if not (math.isfinite(args.cost_tolerance) and 0 <= args.cost_tolerance <= 1):
        print(f"error: --cost-tolerance must be between 0 and 1, got {args.cost_tolerance}", file=sys.stderr)
        return 2
    if not (math.isfinite(args.time_limit) and args.time_limit > 0):
        print(f"error: --time-limit must be a positive number of seconds, got {args.time_limit}", file=sys.stderr)
        return 2
    from infra.planning.plan import validated_config  # the same validation as the program and the preview
    from infra.planning.sizing import plan_sizing

    stack = str(path).rsplit("/", 1)[-1].removeprefix("Pulumi.").removesuffix(".yaml")
    try:
        cfg = validated_config(path)
        problem = problem_from_config(cfg)
        # plan_sizing: the solve plus the preview's own DNS check (every plan printed or pinned previews)
        plan = plan_sizing(cfg, SolveOptions(time_limit_s=args.time_limit))
        lock = read_lock(lock_path(path)) if args.diff else None
        wrong = lock_problems(problem, lock) if lock is not None else []
        if wrong:
            raise ConfigError(wrong, title="invalid sizing lock")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a defect, not bad input: say what, without a traceback
        print(f"error: sizing failed: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
        return 1
    if args.write:
        note = ""
        try:
            pinned = None if args.fresh else read_lock(lock_path(path))
        except ConfigError as exc:
            print(f"error: {exc} (or pass --fresh)", file=sys.stderr)
            return 2
        if pinned is not None:
            fresh_moves = moved_nodes(pinned.replicas, plan.replicas)
            warm = fewest_moves(problem, pinned.replicas, plan.hourly_cost, args.cost_tolerance)
            if warm is not None and warm.moved < fresh_moves:
                optimum = plan.hourly_cost
                plan = plan_for_replicas(problem, warm.replicas, plan.lower_bound, "warm start")
                note = (f"; warm start from the pinned plan: {warm.moved} nodes moved (a fresh solve moves "
                        f"{fresh_moves}), ${plan.hourly_cost:,.2f}/h vs optimum ${optimum:,.2f}/h "
                        f"({plan.hourly_cost / optimum - 1:+.2%}, tolerance {args.cost_tolerance:.2%})")
            else:
                note = (f"; {fresh_moves} nodes moved from the pinned plan (no plan within "
                        f"{args.cost_tolerance:.2%} of the optimum moves fewer)")
        write_lock(lock_path(path), lock_of(plan, problem), stack)
        print(f"pinned {sum(g.nodes for g in plan.node_groups)} nodes, ${plan.hourly_cost:,.2f}/h "
              f"in {lock_path(path).name}{note}")
        return 0
    if args.diff:
        if lock is None:
            print(f"error: {lock_path(path).name} does not exist: pin a plan with --write first", file=sys.stderr)
            return 2
        rows = sizing_diff(problem, lock, plan)
        if args.json:
            print(json.dumps(diff_document(rows), indent=2, allow_nan=False))
        else:
            changed = sum(r.changed for r in rows)
            render_diff(rows, Console(width=160), f"Sizing diff for {stack}: re-solve vs {lock.source} "
                        f"({changed} of {len(rows)} rows changed)")
        return 0
    if args.json:
        print(json.dumps(plan.summary(), indent=2, allow_nan=False))
    else:
        console = Console()
        render_sizing_table(plan, console)
        render_routing_table(plan, console)
    return 0
