"""Deploy rehearsal: the engine's order and the clouds' rules, per resource type, over a captured run.

Each rule cites the source of its fact (provider schema, API limits). Rules register with `@rule`;
this module imports every deploy rule module, and itself replays the engine's order:
- `order.py`: creation waves and the critical path (the report's `notes.deploy`);
- `names.py`: physical names after auto-naming, per type;
- `dns.py`: Route 53 aliases after their targets, the new-zone delegation;
- `refs.py`: Kubernetes references by name, custom resources after their CRDs, target groups, NEGs;
- `partitions.py`: what an AWS partition lacks (aws-cn), and which provider reaches each region;
- `waits.py`: workload waits against their ready time, and data (weights) produced before its readers.
"""

from __future__ import annotations

from collections.abc import Iterator

from infra.rehearsal import dns, names, partitions, refs, waits  # noqa: F401  (register their rules)
from infra.rehearsal.order import ENGINE_SOURCE, engine_order, summary
from infra.rehearsal.registry import Context, rule
from infra.rehearsal.report import Violation


@rule("deploy/engine-order", stage="deploy", source=ENGINE_SOURCE)
def engine_order_replay(ctx: Context) -> Iterator[Violation]:
    """Replays the creation waves; fails on a dependency the run does not declare (a dangling URN)."""
    order = engine_order(ctx.run)
    ctx.notes["deploy"] = summary(order, waits.ready_seconds_by_urn(ctx.run))
    for r in ctx.run:
        for dep in sorted(r.dependencies):
            if dep not in ctx.run.by_urn:
                yield Violation("deploy/engine-order", r.urn, f"depends on {dep}, which the run does not declare")
