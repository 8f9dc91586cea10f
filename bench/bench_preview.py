"""Offline preview cost: wall time and resource count for dev, prod and a generated 20-region stack,
next to the Pulumi mock floor (the same number of bare resources registered under mocks).

    make bench-preview        # or: .venv/bin/python bench/bench_preview.py [--runs 3]

Not a test: it prints a markdown table for the README. Each figure is the median of --runs runs in
one process (imports are paid once, outside the timing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402

from infra.catalog import load_catalog  # noqa: E402
from infra.config import config_from_stack_file  # noqa: E402
from infra.offline.mock_runtime import run_mocked  # noqa: E402
from infra.offline.run import run_stack  # noqa: E402
from infra.planning.geolocations import COUNTRIES  # noqa: E402
from tests.factories import raw_config, write_stack_file  # noqa: E402


def generated_stack(regions: int, directory: Path) -> Path:
    """A stack of `regions` priced regions alternating AWS and GCP, with demand next to each region so
    every stack is servable."""
    priced = load_catalog()
    catalog = sorted((r for r in priced.regions.values() if priced.offerings_in(r.cloud, r.location)),
                     key=lambda r: r.number)
    aws = [r for r in catalog if r.cloud == "aws"]
    gcp = [r for r in catalog if r.cloud == "gcp"]
    picked = [x for pair in zip(aws, gcp, strict=False) for x in pair][:regions]
    entries = [{"name": f"r{r.number:02d}", "cloud": r.cloud, "location": r.location, "zones": 3}
               for r in picked]  # every catalogued region lists at least three zones
    demand = [{"geography": f"near-{r.location}", "rps": 5, "latitude": r.latitude, "longitude": r.longitude}
              for r in picked]
    model = {"name": "m", "image": "vllm/vllm-openai:v0.6.3",
             "throughputRps": {"A10G": 1.5, "L4": 1.2, "A100-40GB": 5.0, "A100-80GB": 5.5, "H100-80GB": 10.0}}
    # Global traffic needs Route 53 locations for geographies given by coordinates: one stand-in
    # country each (the benchmark measures scale, not geography).
    countries = sorted(COUNTRIES - {"US"})
    traffic = {"geolocations": {d["geography"]: [countries[i]] for i, d in enumerate(demand)}}
    raw = raw_config(regions=entries, demand=demand, latency={"normalMs": 150, "failoverMs": 400},
                     environment="prod", network={"natPerZone": True}, model=model, traffic=traffic)
    return write_stack_file(directory / f"Pulumi.gen{regions}.yaml", raw)


class Bare(pulumi.CustomResource):
    def __init__(self, name: str):
        super().__init__("bench:index:Bare", name, {})


def mock_floor(count: int) -> float:
    def program() -> None:
        for i in range(count):
            Bare(f"bare-{i}")

    started = time.perf_counter()
    run_mocked(program, stack="floor")
    return time.perf_counter() - started


def measure(path: Path, stack: str, runs: int) -> tuple[float, int, float, Counter]:
    times, run = [], None
    for _ in range(runs):
        started = time.perf_counter()
        run = run_stack(path, stack)
        times.append(time.perf_counter() - started)
    assert run is not None
    custom = [r for r in run.resources if r.custom]
    floor = statistics.median(mock_floor(len(custom)) for _ in range(runs))
    return statistics.median(times), len(custom), floor, Counter(r.type for r in custom)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--growth", action="store_true", help="also print resources per region count")
    args = parser.parse_args()
    run_stack(ROOT / "Pulumi.dev.yaml", "warm-up")  # pay the provider SDK imports outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        stacks = [("dev", ROOT / "Pulumi.dev.yaml"), ("prod", ROOT / "Pulumi.prod.yaml"),
                  ("generated-20", generated_stack(20, Path(tmp)))]
        print("| stack | regions | resources | preview wall time (s) | mock floor (s) |")
        print("|---|---|---|---|---|")
        for name, path in stacks:
            regions = len(config_from_stack_file(path).regions)
            wall, count, floor, _ = measure(path, name, args.runs)
            print(f"| {name} | {regions} | {count} | {wall:.2f} | {floor:.2f} |")
        if args.growth:
            print("\n| regions | resources | per region |")
            print("|---|---|---|")
            for n in (2, 5, 10, 20):
                _, count, _, _ = measure(generated_stack(n, Path(tmp)), f"gen{n}", 1)
                print(f"| {n} | {count} | {count / n:.1f} |")
    print(f"\n(median of {args.runs} runs; python {sys.version.split()[0]}; 2-core machine)")


if __name__ == "__main__":
    main()
