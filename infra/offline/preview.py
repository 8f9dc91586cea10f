"""Offline preview: run the real program (`infra/__main__.py`) under Pulumi mocks, no cloud needed.

    python -m infra.preview --stack dev            # resource tree, counts, outputs
    python -m infra.preview --stack-file PATH --json
    python -m infra.preview --stack dev --policy-pack policies   # + the policy verdict (exit 1: mandatory)
    python -m infra.preview --stack prod --diagram               # Mermaid graph of regions and links
    python -m infra.preview --stack prod --lose use1             # where traffic goes while use1 is lost

Exit codes: 0 ok, 1 program error, a rehearsal violation or a mandatory policy violation,
2 bad configuration or a bad argument such as a missing policy pack (one message listing every problem).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from infra.config import stack_file_path
from infra.errors import ConfigError
from infra.offline.run import run_stack_with_plan
from infra.planning.plan import plan_for_stack_file


def _region_of(resource, by_urn) -> str:
    node = resource
    while node is not None:
        if node.type == "rollout:region:Region":
            return node.name
        node = by_urn.get(node.parent)
    return "(global)"


def as_json(run) -> dict[str, Any]:
    return {"stack": run.stack, "resources": [r.to_json() for r in run.resources], "outputs": run.outputs}


def detail(resource) -> str:
    """The one fact a reviewer looks for on a line of the tree (sizes, ranges, versions)."""
    i = resource.inputs
    if resource.type == "aws:eks/nodeGroup:NodeGroup":
        sc = i.get("scalingConfig", {})
        return f"{','.join(i.get('instanceTypes', []))} min {sc.get('minSize')} desired {sc.get('desiredSize')} " \
               f"max {sc.get('maxSize')}"
    if resource.type == "gcp:container/nodePool:NodePool":
        auto = i.get("autoscaling", {})
        return f"{i.get('nodeConfig', {}).get('machineType')} min {auto.get('totalMinNodeCount')} " \
               f"max {auto.get('totalMaxNodeCount')}"
    if resource.type in ("aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet"):
        return " ".join(x for x in (i.get("cidrBlock"), i.get("availabilityZone")) if x)
    if resource.type == "gcp:compute/subnetwork:Subnetwork":
        return i.get("ipCidrRange", "")
    if resource.type in ("aws:eks/cluster:Cluster",):
        return f"Kubernetes {i.get('version')}"
    if resource.type == "gcp:container/cluster:Cluster":
        return f"Kubernetes {i.get('minMasterVersion')}"
    if resource.type == "kubernetes:apps/v1:StatefulSet":
        spec = i.get("spec", {}).get("template", {}).get("spec", {})
        terms = spec.get("affinity", {}).get("nodeAffinity", {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", [])
        zones = [v for t in terms for e in t.get("matchExpressions", []) for v in e.get("values", [])]
        image = next((c.get("image") for c in spec.get("containers", [])), "")
        return " ".join(x for x in (image, f"zone {','.join(zones)}" if zones else "") if x)
    if resource.type == "kubernetes:helm.sh/v3:Release":
        return f"{i.get('chart')} {i.get('version')}"
    return ""


def render_text(run, console, plan=None) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.tree import Tree

    by_urn = {r.urn: r for r in run.resources}
    children = defaultdict(list)
    ordered = sorted(run.resources, key=lambda r: (r.custom, r.type, r.name))  # stable, components first
    for r in ordered:
        children[r.parent].append(r)
    roots = [r for r in ordered if r.parent not in by_urn]

    def label(r) -> str:
        kind = r.type if not r.custom else r.type.split(":")[-1]
        mark = "[bold cyan]" if not r.custom else ""
        end = "[/]" if mark else ""
        extra = " [red](protected)[/]" if r.protect else ""
        fact = detail(r)
        fact = f" [dim]{escape(fact)}[/]" if fact else ""
        return f"{mark}{kind}{end} {r.name}{fact}{extra}"

    def add(tree, r) -> None:
        node = tree.add(label(r))
        for c in children[r.urn]:
            add(node, c)

    tree = Tree(f"[bold]stack {run.stack}[/] ({sum(r.custom for r in run.resources)} resources)")
    for r in roots:
        add(tree, r)
    console.print(tree)

    per_region = Counter(_region_of(r, by_urn) for r in run.resources if r.custom)
    counts = Table(title="resources by type and region")
    regions = sorted(per_region)
    counts.add_column("type")
    for name in regions:
        counts.add_column(name, justify="right")
    counts.add_column("total", justify="right")
    by_type: dict[str, Counter] = defaultdict(Counter)
    for r in run.resources:
        if r.custom:
            by_type[r.type][_region_of(r, by_urn)] += 1
    for typ in sorted(by_type):
        row = by_type[typ]
        counts.add_row(typ, *[str(row.get(n, "")) for n in regions], str(sum(row.values())))
    counts.add_row("[bold]total[/]", *[str(per_region[n]) for n in regions], str(sum(per_region.values())))
    console.print(counts)
    if plan is not None:
        from infra.planning.sizing.cli import render_sizing_table

        render_sizing_table(plan.sizing, console)
    console.print("[bold]outputs[/]")
    console.print_json(json.dumps(run.outputs))


def lose_region(path: Path, region: str) -> int:
    """`--lose REGION`: the plan's view of one region loss (each planner adds its lines here)."""
    try:
        plan = plan_for_stack_file(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a defect, not bad input: say what, without a traceback
        print(f"error: planning failed: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
        return 1
    if region not in {r.name for r in plan.regions}:
        print(f"error: --lose: no region {region!r}; regions: {', '.join(r.name for r in plan.regions)}",
              file=sys.stderr)
        return 2
    if plan.traffic is not None:
        from infra.planning.resolver import describe_loss

        print("\n".join(describe_loss(plan.traffic, region)))
        print()
    from infra.planning.reachability import describe_loss as describe_link_loss

    print("\n".join(describe_link_loss(plan.topology, region)))
    print()
    from infra.planning.database import drill_section

    print(drill_section(plan.database, region))
    if plan.residency is not None:  # the zone-sharded cluster: every shard and the config servers
        from infra.planning.residency import drill_section as residency_drill

        print()
        print(residency_drill(plan.residency, region))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.preview", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    source.add_argument("--stack-file", type=Path, help="path to a stack file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tree")
    parser.add_argument("--diagram", action="store_true",
                        help="print the regions and their private links as a Mermaid graph (for a PR comment)")
    parser.add_argument("--lose", metavar="REGION",
                        help="show what happens while REGION is lost (global traffic: where each geography goes; "
                             "MongoDB: votes left and the new primary's region)")
    parser.add_argument("--policy-pack", type=Path, metavar="DIR",
                        help="also run this policy pack (its own SDK servicer, as `pulumi preview --policy-pack DIR` "
                             "serves it, in this process); "
                             "exit 1 on any mandatory violation")
    args = parser.parse_args(argv)
    if args.policy_pack is not None:  # a wrong directory is reported before the preview, not after it
        from infra.offline.policy_check import pack_problem

        if (problem := pack_problem(args.policy_pack)) is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 2  # a bad argument, like a bad stack file: nothing ran

    from rich.console import Console

    err = Console(stderr=True)
    path = args.stack_file or stack_file_path(args.stack)
    stack = args.stack if args.stack_file is None else path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    if args.lose:
        return lose_region(path, args.lose)
    if args.diagram:
        from infra.offline.diagram import render_mermaid

        try:
            plan = plan_for_stack_file(path)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # a defect, not bad input: say what, without a traceback
            print(f"error: planning failed: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
            return 1
        print(render_mermaid(plan, plan.topology))
        return 0
    started = time.perf_counter()
    try:
        with err.status(f"previewing {path.name} under mocks ...", spinner="dots"):
            run, plan = run_stack_with_plan(path, stack)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the program failed: say what, not where
        print(f"error: the program failed: {str(exc).strip() or type(exc).__name__}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    from infra.rehearsal import rehearse

    document = as_json(run)
    rehearsal = rehearse(document, plan)
    report = None
    if args.policy_pack is not None:
        from infra.offline.policy_check import PolicyPackError, check_policies

        try:
            with err.status(f"checking policy pack {args.policy_pack} ...", spinner="dots"):
                report = check_policies(run, args.policy_pack)
        except PolicyPackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.json:
        document["rehearsal"] = rehearsal.to_json()
        if report is not None:
            document["policy"] = report.to_json()
        print(json.dumps(document, indent=2, sort_keys=False))
    else:
        out = Console()
        if not out.is_terminal:
            out = Console(width=200)  # piped or captured: do not cut tree lines at 80 columns
        render_text(run, out, plan)
        if report is not None:
            from infra.offline.policy_check import render_report

            render_report(report, out)
        render_rehearsal(rehearsal, out)
        err.print(f"previewed {sum(r.custom for r in run.resources)} resources in {elapsed:.1f}s")
    return max(rehearsal.exit_code, report.exit_code if report is not None else 0)


def render_rehearsal(rehearsal, console) -> None:
    """The rehearsal verdict: one line when clean, else every violation with its rule and source."""
    from rich.markup import escape

    order = rehearsal.notes.get("deploy")
    if order:  # the engine-order replay (infra/rehearsal/order.py)
        console.print(f"engine order: {order['waves']} creation waves, critical path ~{order['criticalPathMinutes']} "
                      f"min: {escape(' -> '.join(order['criticalPath']))}")
    if rehearsal.ok:
        console.print(f"[green]rehearsal: {len(rehearsal.rules)} rules, 0 violations[/]")
        return
    console.print(f"[bold red]rehearsal: {len(rehearsal.violations)} violation(s) "
                  f"of {len(rehearsal.rules)} rules[/]")
    for v in rehearsal.violations:
        console.print(f"  [red]{escape(v.rule)}[/] {escape(v.urn.rsplit('::', 1)[-1])}: {escape(v.message)}"
                      f" [dim]({escape(v.source)})[/]")


if __name__ == "__main__":
    sys.exit(main())
