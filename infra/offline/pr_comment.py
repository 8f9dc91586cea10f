"""The pull-request comment: per stack, the Mermaid picture, the sizing diff and the policy table.

    python -m infra.policy_check Pulumi.dev.yaml Pulumi.prod.yaml --json > policy.json
    python -m infra.offline.pr_comment --policy-json policy.json --stack dev --stack prod > comment.md

Markdown only (GitHub renders ```mermaid blocks); `.github/workflows/pull-request.yml` posts it.
Exit codes: 0 written, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.config import config_from_stack_file, stack_file_path
from infra.errors import ConfigError
from infra.offline.diagram import render_mermaid
from infra.planning.plan import plan_for_stack_file
from infra.planning.sizing import problem_from_config, solve
from infra.planning.sizing.lock import DiffRow, lock_path, read_lock, sizing_diff

MARKER = "<!-- global-ai-rollout: preview comment -->"  # the workflow edits the comment that carries it


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def diff_markdown(rows: Sequence[DiffRow], lock_name: str) -> str:
    changed = [r for r in rows if r.changed]
    nodes_moved = [r for r in rows if r.pinned_nodes != r.resolved_nodes]
    lines = [f"Re-solve vs `{lock_name}`: {len(changed)} of {len(rows)} rows differ, "
             f"{'nodes would move' if nodes_moved else 'no node would move'}.", "",
             "| region | instance type | nodes pinned | nodes re-solve | $/h pinned (written) | $/h pinned (now) "
             "| $/h re-solve |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        mark = "**" if r.pinned_nodes != r.resolved_nodes else ""
        lines.append(f"| {r.region} | {r.instance_type} | {mark}{r.pinned_nodes}{mark} "
                     f"| {mark}{r.resolved_nodes}{mark} | {r.pinned_usd_written:,.2f} "
                     f"| {r.pinned_usd_now:,.2f} | {r.resolved_usd:,.2f} |")
    lines.append(f"| **total** | | {sum(r.pinned_nodes for r in rows)} | {sum(r.resolved_nodes for r in rows)} "
                 f"| {sum(r.pinned_usd_written for r in rows):,.2f} | {sum(r.pinned_usd_now for r in rows):,.2f} "
                 f"| {sum(r.resolved_usd for r in rows):,.2f} |")
    return "\n".join(lines)


def policy_markdown(report: Mapping[str, Any] | None) -> str:
    if report is None:
        return "No policy result for this stack."
    verdict = "passed" if report.get("passed") else "**failed** (mandatory violations)"
    lines = [f"Policy pack `{report.get('pack')}` {report.get('version')}: {verdict}; "
             f"{report.get('policies')} policies on {report.get('resources')} resources, "
             f"{report.get('mandatory', 0)} mandatory and {report.get('advisory', 0)} advisory violations."]
    violations = report.get("violations") or []
    if violations:
        lines += ["", "| policy | enforcement | severity | resource | message |", "|---|---|---|---|---|"]
        for v in violations:
            resource = v.get("urn", "").rsplit("::", 1)[-1] or "(stack)"
            lines.append(f"| `{v.get('policy')}` | {v.get('enforcement')} | {v.get('severity', '')} "
                         f"| {_cell(resource)} | {_cell(str(v.get('message', '')))} |")
    return "\n".join(lines)


def stack_section(stack: str, stack_file: Path, policy: Mapping[str, Any] | None) -> str:
    plan = plan_for_stack_file(stack_file)
    parts = [f"### Stack `{stack}`", "", "```mermaid", render_mermaid(plan, plan.topology), "```", ""]
    lock = read_lock(lock_path(stack_file))
    if lock is None:
        parts.append(f"No sizing lock (`{lock_path(stack_file).name}`): the fleet is re-solved on every run.")
    else:
        problem = problem_from_config(config_from_stack_file(stack_file))
        parts.append(diff_markdown(sizing_diff(problem, lock, solve(problem)), lock.source))
    parts += ["", policy_markdown(policy)]
    return "\n".join(parts)


def render_comment(stacks: Sequence[tuple[str, Path]], policy: Mapping[str, Any]) -> str:
    body = [MARKER, "## Offline preview", ""]
    for stack, path in stacks:
        body += [stack_section(stack, path, policy.get(stack)), ""]
    return "\n".join(body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.pr_comment", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", required=True, help="stack name (repeat for several)")
    parser.add_argument("--policy-json", type=Path, help="output of `python -m infra.policy_check ... --json`")
    args = parser.parse_args(argv)
    policy = json.loads(args.policy_json.read_text()) if args.policy_json else {}
    try:
        print(render_comment([(s, stack_file_path(s)) for s in args.stack], policy))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
