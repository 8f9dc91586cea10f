"""Sizing benchmark (not a test): solve time, gap and cost against two baselines.

Run with `make bench-sizing` (= `.venv/bin/python bench/bench_sizing.py`). Problems are generated,
seeded and realistic: regions are real catalog regions, geographies are population centres
(infra.catalog.GEOGRAPHIES, jittered for more of them), RTT comes from coordinates via
infra.catalog.estimated_rtt_ms, and prices follow the catalog's on-demand numbers (DESIGN.md s.7).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.catalog import GEOGRAPHIES, estimated_rtt_ms, load_catalog
from infra.errors import ConfigError
from infra.planning.sizing import Candidate, Geo, SizingProblem, SolveOptions, check_replicas, diagnose, solve
from infra.planning.sizing.check import max_routable, region_capacity

# (instance type, gpu model, gpus per node, us-east-1 $/h, rps per GPU). Prices: SkyPilot catalog
# v7 (DESIGN.md s.7; g5.12xlarge from the same catalog, a2-ultragpu-1g GCP list price ~5.07);
# throughput: the dev/prod stack tables (A10G 1.5, L4 1.2, A100-40GB 5, A100-80GB 5.5, H100 10).
GPU_TYPES = (
    ("g6.xlarge", "L4", 1, 0.8048, 1.2),
    ("g5.xlarge", "A10G", 1, 1.006, 1.5),
    ("g5.12xlarge", "A10G", 4, 5.672, 1.5),
    ("a2-ultragpu-1g", "A100-80GB", 1, 5.07, 5.5),
    ("p4d.24xlarge", "A100-40GB", 8, 21.96, 5.0),
    ("p5.48xlarge", "H100-80GB", 8, 55.04, 10.0),
    # two more from the catalog (infra/data/gpu_prices.csv, skypilot-catalog v8): 4x L4 and GCP's 1x A100
    ("g6.12xlarge", "L4", 4, 4.6016, 1.2),
    ("a2-highgpu-1g", "A100-40GB", 1, 3.67339, 5.0),
)
# Regional price factor relative to us-east-1, from the catalog's g5.xlarge rows: eu-west-1 1.12,
# eu-central-1 1.25, ap-northeast-1 1.45; other continents assumed similar to Asia.
CONTINENT_FACTOR = {
    "north-america": 1.0,
    "europe": 1.18,
    "asia": 1.4,
    "oceania": 1.45,
    "south-america": 1.5,
    "middle-east": 1.35,
    "africa": 1.45,
}
SIZES = ((5, 10, 3), (12, 30, 4), (30, 50, 6), (30, 50, 8), (50, 100, 6), (50, 100, 8))
NORMAL_MS, FAILOVER_MS = 80.0, 150.0


def generate(n_regions: int, n_geos: int, n_types: int, seed: int) -> SizingProblem:
    """A feasible, seeded problem: retries the draw until no region or geography is unreachable."""
    rng = random.Random(seed)
    catalog = load_catalog()
    for _ in range(200):
        regions = rng.sample(sorted(catalog.regions.values(), key=lambda r: r.number), n_regions)
        centres = list(GEOGRAPHIES.values())
        geos = []
        for i in range(n_geos):
            base = centres[i % len(centres)] if i < len(centres) else rng.choice(centres)
            jitter = 0.0 if i < len(centres) else 4.0
            geos.append(
                (
                    f"geo{i:02d}-{base.name}",
                    base.latitude + rng.uniform(-jitter, jitter),
                    base.longitude + rng.uniform(-jitter, jitter),
                    rng.lognormvariate(2.8, 1.0),
                )
            )
        rtt = tuple(
            tuple(estimated_rtt_ms(lat, lon, r.latitude, r.longitude) for r in regions)
            for _, lat, lon, _ in geos
        )
        # keep the geographies some region can serve (a real stack would not list the others)
        keep = [i for i, row in enumerate(rtt) if min(row) <= NORMAL_MS and sorted(row)[1] <= FAILOVER_MS]
        if len(keep) < n_geos * 0.6:
            continue
        types = GPU_TYPES[:n_types]
        cands = []
        for r in regions:
            factor = CONTINENT_FACTOR[r.continent] * rng.uniform(0.97, 1.05)
            offered = types  # like the catalog: these families are offered in most GPU regions
            for name, gpu, count, price, rps in offered:
                cands.append(Candidate(r.location, name, gpu, count, count * rps, round(price * factor, 4)))
        problem = SizingProblem(
            regions=tuple(r.location for r in regions),
            candidates=tuple(cands),
            geos=tuple(Geo(geos[i][0], round(geos[i][3], 2)) for i in keep),
            rtt_ms=tuple(rtt[i] for i in keep),
            normal_budget_ms=NORMAL_MS,
            failover_budget_ms=FAILOVER_MS,
            util_normal=0.7,
            util_failover=0.9,
            min_replicas=2,
        )
        if not diagnose(problem):
            return problem
    raise RuntimeError("could not draw a feasible problem")


def hand_method(problem: SizingProblem) -> dict[str, dict[str, int]]:
    """What an operator does by hand (the product's origin), then topped up until N-1 holds.

    Each geography goes to its nearest region; each region gets ceil(demand / (rps x target util))
    nodes of its cheapest $/rps type, plus one spare, at least min replicas. While the independent
    checker finds a state that cannot absorb the demand, add one cheapest node to the nearest
    surviving region of the geography that is shortest.
    """
    cheapest = {r: min(problem.candidates_in(r), key=lambda c: c.usd_per_rps) for r in problem.regions}
    demand = dict.fromkeys(problem.regions, 0.0)
    for i, geo in enumerate(problem.geos):
        demand[problem.regions[min(range(len(problem.regions)), key=lambda j: problem.rtt_ms[i][j])]] += (
            geo.rps
        )
    replicas = {}
    for r, c in cheapest.items():
        need = -(-demand[r] // (c.rps_per_node * problem.util_normal)) + 1
        replicas[r] = {c.instance_type: int(max(need, problem.min_replicas))}
    states = [(None, problem.normal_budget_ms, problem.util_normal)]
    states += [(f, problem.failover_budget_ms, problem.util_failover) for f in problem.regions]
    while True:
        capacity = region_capacity(problem, replicas)
        for lost, budget, util in states:
            routed = max_routable(problem, capacity, budget_ms=budget, utilization=util, lost=lost)
            short = max(
                range(len(problem.geos)), key=lambda i: problem.geos[i].rps - routed[problem.geos[i].name]
            )
            if problem.geos[short].rps - routed[problem.geos[short].name] > 1e-3:
                options = [
                    j
                    for j, r in enumerate(problem.regions)
                    if r != lost and problem.rtt_ms[short][j] <= budget
                ]
                r = problem.regions[min(options, key=lambda j: problem.rtt_ms[short][j])]
                replicas[r][cheapest[r].instance_type] += 1
                break
        else:
            assert not check_replicas(problem, replicas)
            return replicas


def cost_of(problem: SizingProblem, replicas: dict[str, dict[str, int]]) -> float:
    price = {(c.region, c.instance_type): c.usd_per_hour for c in problem.candidates}
    return sum(price[r, t] * n for r, per in replicas.items() for t, n in per.items())


def best_single_type(problem: SizingProblem, options: SolveOptions) -> tuple[float, str]:
    """The MILP restricted to one instance type everywhere, best over types (inf if none fits)."""
    best = (float("inf"), "-")
    for name in sorted({c.instance_type for c in problem.candidates}):
        only = replace(problem, candidates=tuple(c for c in problem.candidates if c.instance_type == name))
        try:
            best = min(best, (solve(only, options).hourly_cost, name))
        except (ConfigError, ValueError):
            continue  # some region does not offer it
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sizes", nargs="*", metavar="RxGxT",
                        help="only these sizes, e.g. 50x100x8 (default: all of SIZES)")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes] if args.sizes else SIZES
    options = SolveOptions()
    print(
        f"normal {NORMAL_MS:g} ms, failover {FAILOVER_MS:g} ms, util 0.7 / 0.9, min 2 replicas, full N-1; "
        f"median of {args.runs} runs, seed {args.seed}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs (wall time inflates "
        "under load; CPU s is this process's CPU time)\n"
    )
    print(
        "| regions x geos x types | geos kept | candidates | median solve s | max solve s | median CPU s | gap | "
        "cost $/h | hand $/h | vs hand | best single type $/h | vs single |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n_reg, n_geo, n_types in sizes:
        problem = generate(n_reg, n_geo, n_types, args.seed)
        times, cpu, plan = [], [], None
        for _ in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            plan = solve(problem, options)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        assert plan is not None
        hand = cost_of(problem, hand_method(problem))
        single, single_name = best_single_type(problem, options)
        print(
            f"| {n_reg} x {n_geo} x {n_types} | {len(problem.geos)} | {len(problem.candidates)} | "
            f"{statistics.median(times):.2f} | {max(times):.2f} | {statistics.median(cpu):.2f} | {plan.gap:.2%} | "
            f"{plan.hourly_cost:,.2f} | "
            f"{hand:,.2f} | {plan.hourly_cost / hand - 1:+.1%} | {single:,.2f} ({single_name}) | "
            f"{plan.hourly_cost / single - 1:+.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
