"""`python -m infra.routing_sim --stack prod [--json]`: queueing delay of in-region routing policies.

For every region of the stack whose serving plan mixes GPU types, simulate the planned replicas at
the planned load (the sizing's normal routing to that region) and at the utilisation target, and
print p50/p99 queueing delay per policy. Model and policies: infra/planning/routing_sim.py.
Exit codes: 0 printed, 2 bad config.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from infra.config import config_from_stack_file, stack_file_path
from infra.errors import ConfigError
from infra.planning.plan import RolloutPlan, plan_for_stack_file
from infra.planning.routing_sim import compare, replicas_of


def scenarios(plan: RolloutPlan, utilization: float, slots_per_gpu: int) -> list[tuple[str, list, float]]:
    """(label, replicas, offered rps) for each mixed region: at the planned load and at the target.
    A replica is one server as deployed (one GPU when the model fits one), holding `slots_per_gpu`
    sequences per GPU (model.concurrencyPerGpu, the servers' --max-num-seqs)."""
    out = []
    for name, serving in plan.serving.items():
        if len({p.rps_per_replica for p in serving.pools}) < 2:
            continue  # every server alike: routing weights do not matter
        replicas = replicas_of([(p.pool, p.replicas, p.rps_per_replica, p.tensor_parallel) for p in serving.pools],
                               slots_per_gpu)
        planned = sum(per.get(name, 0.0) for per in plan.sizing.routing.values())
        target = utilization * serving.capacity_rps
        if planned > 0:
            out.append((f"{name} planned load", replicas, planned))
        if planned <= 0 or abs(planned - target) > 0.01 * target:
            out.append((f"{name} at {utilization:.0%} of capacity", replicas, target))
    return out


def example_mix(utilization: float, slots_per_gpu: int) -> tuple[str, list, float]:
    """A region that mixes one 8-GPU node (eight 1-GPU A100-40GB servers, 5 rps each) with six 1-GPU
    nodes (A10G, 1.5 rps)."""
    replicas = replicas_of([("gpu-p4d-24xlarge", 8, 5.0, 1), ("gpu-g5-xlarge", 6, 1.5, 1)], slots_per_gpu)
    return (f"example: 1x p4d.24xlarge (8 servers) + 6x g5.xlarge at {utilization:.0%}", replicas,
            utilization * sum(r.capacity_rps for r in replicas))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.routing_sim", description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    where.add_argument("--stack-file", help="path to a Pulumi.<stack>.yaml")
    p.add_argument("--requests", type=int, default=100_000, help="simulated requests per policy")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--utilization", type=float, default=None, help="default: the stack's utilization.normal")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    path = args.stack_file or stack_file_path(args.stack)
    try:
        cfg = config_from_stack_file(path)
        plan = plan_for_stack_file(path)  # the stack's sizing lock when it has one, as the program plans
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    utilization = args.utilization if args.utilization is not None else cfg.utilization.normal
    started = time.perf_counter()
    results = []
    slots = cfg.model.concurrency_per_gpu
    for label, replicas, offered in [*scenarios(plan, utilization, slots), example_mix(utilization, slots)]:
        for r in compare(replicas, offered, requests=args.requests, seed=args.seed):
            # Round robin gives every replica offered/n: above the smallest replica's capacity it never drains.
            smallest = min(x.capacity_rps for x in replicas)
            overloaded = r.policy == "round_robin" and offered / len(replicas) >= smallest
            results.append({"scenario": label, "replicas": len(replicas), **r.row(),
                            "note": "unstable: small replicas get more than their capacity" if overloaded else ""})
    if args.json:
        print(json.dumps({"seed": args.seed, "requests": args.requests, "results": results}, indent=2))
    else:
        print("| scenario | replicas | offered rps | util | policy | p50 wait ms | p99 wait ms | waited | note |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['scenario']} | {r['replicas']} | {r['offered_rps']:.2f} | {r['utilization']:.0%} | "
                  f"{r['policy']} | {r['p50_wait_ms']:,.0f} | {r['p99_wait_ms']:,.0f} | {r['waited_share']:.1%} | "
                  f"{r['note']} |")
    print(f"simulated {len(results)} runs of {args.requests:,} requests (seed {args.seed}) in "
          f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
