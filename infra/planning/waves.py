"""Rollout waves: which regions take a new release together, in what order, and what each step pins.

Pure (no pulumi import). A release reaches regions wave by wave: the canary region first, then the
configured groups (`rollout.groups`), then each region no group names, one at a time. A wave's regions are moved to
the new release with their traffic drained, checked by the health gate, and only then given traffic
back; regions of later waves keep their pins, so the `pulumi up` of a wave changes nothing in them.
A wave drains its regions together, so the planner checks with the sizing checker that the other
regions can carry every geography within the failover budget at the failover ceiling while it runs
(the N-1 sizing guarantees this for any single region). docs/rollout.md has the whole flow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from infra.errors import ConfigError
from infra.planning.plan import RegionRelease
from infra.planning.sizing.check import max_routable, region_capacity
from infra.planning.sizing.plan import Routing
from infra.planning.sizing.problem import SizingProblem

Pins = dict[str, RegionRelease]


@dataclass(frozen=True)
class Wave:
    name: str  # "canary", "wave 1", ...
    regions: tuple[str, ...]


@dataclass(frozen=True)
class WavePlan:
    """The waves that move every region from `deployed` to `target` (regions already there are skipped)."""

    target_model: str
    target_image: str
    deployed: Mapping[str, RegionRelease | None]  # None: the region has no release yet (new region)
    waves: tuple[Wave, ...]
    up_to_date: tuple[str, ...]

    def target(self, traffic: bool) -> RegionRelease:
        return RegionRelease(self.target_model, self.target_image, traffic)

    def pins(self, done: int, current: str | None = None) -> Pins:
        """The pins of every region after `done` waves; `current`: "drained" or "serving" for wave `done`.

        Regions in finished waves run the target with traffic; the current wave's regions run the
        target, drained until the gate passes; the others keep what they run. A region with nothing
        deployed yet runs the target drained (it is created without traffic) until its wave.
        """
        out: Pins = {}
        finished = {r for w in self.waves[:done] for r in w.regions}
        running = set(self.waves[done].regions) if current is not None and done < len(self.waves) else set()
        for region, release in self.deployed.items():
            if region in finished or region in self.up_to_date:
                out[region] = self.target(True)
            elif region in running:
                out[region] = self.target(current == "serving")
            elif release is None:
                out[region] = self.target(False)
            else:
                out[region] = release
        return out

    @property
    def final_pins(self) -> Pins:
        return self.pins(len(self.waves))


def least_loaded(regions: Sequence[str], routing: Routing | None) -> str:
    """The region serving the fewest rps in normal state (the first one on a tie or without routing)."""
    if not routing:
        return regions[0]
    load = {r: sum(per.get(r, 0.0) for per in routing.values()) for r in regions}
    return min(regions, key=lambda r: (load[r], regions.index(r)))


def plan_waves(
    regions: Sequence[str],
    *,
    target: RegionRelease,
    deployed: Mapping[str, RegionRelease | None],
    canary: str | None = None,
    groups: Sequence[Sequence[str]] = (),
    routing: Routing | None = None,
    lead: Sequence[str] = (),
) -> WavePlan:
    """Canary first (configured, else the least-loaded region), then `groups`, then every other region
    in its own wave (the sizing plan survives the loss of any one region, so one drained region is safe).

    Regions a stopped release left drained (deployed, `traffic: false`) and the regions in `lead`
    (left half way by a resumed release) form the first wave instead of the canary: they are out of
    service already, so taking them first drains no other region (a fix or a rollback after a failed
    gate starts where the failure is, and the configured canary waits its turn)."""
    if not regions:
        raise ConfigError(["regions: nothing to roll out"], title="cannot plan rollout waves")
    want = RegionRelease(target.model, target.image, True)
    current = {r: deployed.get(r) for r in regions}
    stuck = [r for r in regions if r in lead or (current[r] is not None and not current[r].traffic)]
    pending = [r for r in regions if current[r] != want or r in stuck]
    first = stuck or [canary or least_loaded(list(regions), routing)]
    order: list[tuple[str, list[str]]] = [("canary", first)]
    named = set(first)
    for group in groups:
        members = [r for r in group if r not in named]
        named.update(members)
        order.append((f"wave {len(order)}", members))
    order += [(f"wave {len(order)}", [r]) for r in regions if r not in named]  # one at a time: N-1 safe
    waves, counter = [], 0
    for name, members in order:
        todo = tuple(r for r in members if r in pending)
        if not todo:
            continue
        if name != "canary":
            counter += 1
            name = f"wave {counter}"
        waves.append(Wave(name, todo))
    return WavePlan(target.model, target.image, current, tuple(waves),
                    tuple(r for r in regions if r not in pending))


def drain_problems(
    problem: SizingProblem, replicas: Mapping[str, Mapping[str, int]], plan: WavePlan
) -> list[str]:
    """Waves whose regions cannot all be drained at once: the rest cannot carry the demand.

    Uses the independent checker's max-flow: while a wave runs, its regions (and any region still
    without traffic from an earlier, stopped rollout, until its own wave) have no capacity, and
    every geography must still be routable within the failover budget at the failover ceiling.
    """
    already_drained = {r for r, rel in plan.deployed.items() if rel is None or not rel.traffic}
    if already_drained >= set(problem.regions):
        return []  # nothing serves users yet (a new stack): no traffic to protect
    out = []
    finished: set[str] = set()
    for wave in plan.waves:
        drained = (already_drained - finished) | set(wave.regions)  # a finished wave serves again
        finished |= set(wave.regions)
        short = drain_shortfall(problem, replicas, drained)
        if short:
            out.append(f"{wave.name} ({', '.join(wave.regions)}): {short}; split it in rollout.groups")
    return out


def drain_shortfall(problem: SizingProblem, replicas: Mapping[str, Mapping[str, int]],
                    drained: set[str] | frozenset[str]) -> str | None:
    """Why the regions still serving cannot carry every geography within the failover budget at the
    failover ceiling while `drained` take no traffic (None: they can). The deploy asks this before
    every drain, with the regions drained right now (not the ones the config names)."""
    if len(set(drained) & set(problem.regions)) >= len(problem.regions):
        return "drains every region at once"
    capacity = region_capacity(problem, replicas)
    cap = {r: (0.0 if r in drained else c) for r, c in capacity.items()}
    routed = max_routable(problem, cap, budget_ms=problem.failover_budget_ms, utilization=problem.util_failover)
    short = sum(max(0.0, g.rps - routed[g.name]) for g in problem.geos)
    if short <= 1e-3:
        return None
    return (f"while {', '.join(sorted(drained))} {'is' if len(drained) == 1 else 'are'} drained the other regions "
            f"can carry only {problem.total_rps - short:.1f} of {problem.total_rps:g} rps within "
            f"{problem.failover_budget_ms:g} ms at utilisation {problem.util_failover:g}")
