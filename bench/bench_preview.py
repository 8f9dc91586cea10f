"""Offline preview cost against the Pulumi mock floor, and the policy pack's overhead.

    make bench-preview        # or: .venv/bin/python bench/bench_preview.py [--runs 3] [--stacks dev,prod,gen45]

For dev, prod and a generated 45-region stack (tests/factories.generated_raw, the scale bench's stack),
each figure is the median over --runs fresh processes, timed from the parent (interpreter start and
imports included: what a user waits for):
  - preview: `run_stack` of the stack file (planning + the program under mocks);
  - floor: the same number of custom resources, trivial (no properties), registered by a bare program
    under the same mock runtime (infra.offline.mock_runtime.run_mocked) in the same process shape;
  - with pack: the preview, then the offline policy check (in process, infra.offline.policy_check).
Ratios: preview / floor (target <= 3 for prod) and with pack / preview (target <= 1.3). CPU seconds
(user + system of each child) are printed too: on a busy machine they move less than wall time. Peak
RSS is the child's own maximum resident set size. Not a test: it prints a markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _child(argv: list[str]) -> None:
    """One measured process: prints {"resources": n, "rss_mib": peak} on its last stdout line."""
    kind = argv[0]
    if kind == "floor":
        import pulumi

        from infra.offline.mock_runtime import run_mocked

        class Bare(pulumi.CustomResource):
            def __init__(self, name: str):
                super().__init__("bench:index:Bare", name, {})

        count = int(argv[1])
        run = run_mocked(lambda: [Bare(f"bare-{i}") for i in range(count)], stack="floor")
        resources = sum(r.custom for r in run.resources)
    else:
        from infra.offline.run import run_stack

        path, stack = Path(argv[1]), argv[2]
        run = run_stack(path, stack)
        resources = sum(r.custom for r in run.resources)
        if kind == "pack":
            from infra.offline.policy_check import check_policies

            report = check_policies(run, ROOT / "policies")
            assert report.resources == len(run.resources)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"resources": resources, "rss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
                      "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}))


def _timed(args: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench child {args} failed:\n{done.stderr[-3000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def _median(args: list[str], runs: int) -> tuple[float, dict]:
    results = [_timed(args) for _ in range(runs)]
    info = max((r for _, r in results), key=lambda r: r["rss_mib"])
    info["cpu_s"] = statistics.median(r["cpu_s"] for _, r in results)  # less sensitive to a busy machine
    return statistics.median(w for w, _ in results), info


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stacks", default="dev,prod,gen45", help="comma-separated: dev, prod, genN (N regions)")
    parser.add_argument("--no-pack", action="store_true", help="skip the policy pack runs")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    from infra.config import parse_config
    from tests.factories import generated_raw, write_stack_file

    print("| stack | regions | resources | preview (s) | mock floor (s) | preview / floor | with pack (s) "
          "| pack overhead | CPU s preview / floor / with pack | peak RSS preview / with pack (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.stacks.split(","):
            if name.startswith("gen"):
                raw = generated_raw(int(name[3:]))
                path = write_stack_file(Path(tmp) / f"Pulumi.{name}.yaml", raw)
                regions = len(parse_config(raw).regions)
            else:
                path = ROOT / f"Pulumi.{name}.yaml"
                from infra.config import config_from_stack_file

                regions = len(config_from_stack_file(path).regions)
            wall, info = _median(["preview", str(path), name], args.runs)
            floor, finfo = _median(["floor", str(info["resources"])], args.runs)
            if args.no_pack:
                packed, pinfo, overhead = float("nan"), {"rss_mib": float("nan"), "cpu_s": float("nan")}, float("nan")
            else:
                packed, pinfo = _median(["pack", str(path), name], args.runs)
                overhead = packed / wall
            print(f"| {name} | {regions} | {info['resources']} | {wall:.2f} | {floor:.2f} | {wall / floor:.2f}x "
                  f"| {packed:.2f} | {overhead:.2f}x "
                  f"| {info['cpu_s']:.1f} / {finfo['cpu_s']:.1f} / {pinfo['cpu_s']:.1f} "
                  f"| {info['rss_mib']:.0f} / {pinfo['rss_mib']:.0f} |", flush=True)
    load = os.getloadavg()
    print(f"\n(median of {args.runs} fresh processes each; python {sys.version.split()[0]}; "
          f"{os.cpu_count()} cores; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end)")


if __name__ == "__main__":
    main()
