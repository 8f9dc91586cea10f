"""The release state machine of one rollout, per region: drain -> wait -> upgrade -> gate -> bake -> done.

Pure (no pulumi import): the engine, the health gate, the clock and the store are `Effects` the caller
gives (`infra/ops/deploy.py` the real ones, the tests fakes). Every step is idempotent against the
deployed pins, and the record is saved after each one, so a crash anywhere resumes at the step it
stopped at, and a reversed release (a rollback) runs through the same steps toward the old release.

    drain    `up` with the region's traffic off (records only: its pin keeps the release it runs)
    wait     the public records' TTL plus the load balancers' connection drain (`DrainTiming`)
    upgrade  `up` with the region on the target release, still without traffic
    gate     the health gate on the region; a failure stops here: the region stays drained
    bake     `up` with traffic back on; after `bake_s` under real traffic, the gate again (a failure
             drains the region again and stops)
    done

A failed gate leaves the region drained on the failed release and the record `failed`. The next
release of either direction (a fix: a new image; a rollback: the release before) is planned with the
drained region first (`infra.planning.waves.plan_waves(lead=...)`), so no second region is drained
while it is, and the failover budget is checked against what is drained right now (`budget`).
docs/rollout.md draws the machine and times each step for prod.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from infra.planning.plan import RegionRelease
from infra.planning.waves import Pins, WavePlan

STEPS = ("drain", "wait", "upgrade", "gate", "bake", "done")
Step = Literal["drain", "wait", "upgrade", "gate", "bake", "done", "failed"]
RECORD_VERSION = 1


# ---------------------------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class DrainTiming:
    """How long a drained region still gets requests: resolvers cache the endpoint record for its TTL
    (an alias to a record of the same zone answers with that record's TTL,
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-choosing-alias-non-alias.html),
    and a request already on a backend may run until the load balancer's deregistration delay /
    connection draining timeout ends."""

    record_ttl_s: int
    connection_drain_s: int
    source: str = ""

    @property
    def wait_s(self) -> int:
        return self.record_ttl_s + self.connection_drain_s


ENDPOINT_RECORD_TYPES = ("aws:route53/record:Record", "gcp:dns/recordSet:RecordSet")
DRAIN_INPUTS = {"aws:lb/targetGroup:TargetGroup": "deregistrationDelay",
                "gcp:compute/regionBackendService:RegionBackendService": "connectionDrainingTimeoutSec",
                "gcp:compute/backendService:BackendService": "connectionDrainingTimeoutSec"}
# An ALB target group's deregistration delay when unset: 300 s
# (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html).
AWS_DEFAULT_DEREGISTRATION_S = 300


def timing_from_resources(resources: Iterable[Mapping[str, Any]], endpoint_names: Iterable[str],
                          fallback_ttl_s: int) -> DrainTiming:
    """The drain timing from the stack's resources (`type`, `inputs`): the longest TTL of the regions'
    public endpoint A records (`endpoint_names`, the traffic plan's endpoint records) and the longest
    connection drain of any serving load balancer. Missing TTLs fall back to the plan's."""
    names = {n.rstrip(".").lower() for n in endpoint_names}
    ttls, drains, seen = [], [], []
    for r in resources:
        inputs = r.get("inputs") or {}
        endpoint = r.get("type") in ENDPOINT_RECORD_TYPES and \
            str(inputs.get("name", "")).rstrip(".").lower() in names
        if endpoint and isinstance(inputs.get("ttl"), int | float):
            ttls.append(int(inputs["ttl"]))
        key = DRAIN_INPUTS.get(str(r.get("type")))
        if key is None:
            continue
        value = inputs.get(key)
        if isinstance(value, int | float):
            drains.append(int(value))
            seen.append(f"{r.get('type')}.{key}")
        elif r.get("type") == "aws:lb/targetGroup:TargetGroup":
            drains.append(AWS_DEFAULT_DEREGISTRATION_S)
    ttl = max(ttls, default=fallback_ttl_s)
    source = (f"TTL {ttl} s ({'max of ' + str(len(ttls)) + ' endpoint records' if ttls else 'the traffic plan'}), "
              f"drain {max(drains, default=0)} s ({', '.join(sorted(set(seen))) or 'no load balancer found'})")
    return DrainTiming(ttl, max(drains, default=0), source)


# ------------------------------------------------------------------------------------------------ record


@dataclass(frozen=True)
class RegionProgress:
    step: Step  # the next step to run for this region ("done" / "failed": nothing left)
    since: float = 0.0  # when the step before finished (the wait and the bake count from it)
    detail: str = ""


@dataclass(frozen=True)
class ReleaseRecord:
    """The persisted state of one release of a stack (`release.json` in the deploy's store)."""

    target: RegionRelease  # with traffic
    previous: RegionRelease | None  # what most regions ran when the release started (the rollback target)
    kind: Literal["forward", "rollback"] = "forward"
    status: Literal["running", "failed", "done"] = "running"
    regions: Mapping[str, RegionProgress] = field(default_factory=dict)
    rejected: tuple[str, ...] = ()  # images a rollback moved away from (a plain re-run does not redeploy them)

    def progress(self, region: str) -> RegionProgress:
        return self.regions.get(region, RegionProgress("drain"))

    def with_region(self, region: str, progress: RegionProgress) -> ReleaseRecord:
        return replace(self, regions={**self.regions, region: progress})

    def to_json(self) -> str:
        def rel(r: RegionRelease | None) -> dict[str, Any] | None:
            return None if r is None else {"model": r.model, "image": r.image}

        return json.dumps({
            "version": RECORD_VERSION, "target": rel(self.target), "previous": rel(self.previous),
            "kind": self.kind, "status": self.status, "rejected": list(self.rejected),
            "regions": {r: {"step": p.step, "since": p.since, "detail": p.detail}
                        for r, p in sorted(self.regions.items())}}, indent=2, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> ReleaseRecord:
        """Raises ValueError on anything but a record this version wrote (the deploy then refuses)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
            raise ValueError(f"release record version {data.get('version') if isinstance(data, dict) else '?'}, "
                             f"expected {RECORD_VERSION}")

        def rel(d: Any) -> RegionRelease | None:
            return None if d is None else RegionRelease(str(d["model"]), str(d["image"]))

        target = rel(data["target"])
        if target is None or data["status"] not in ("running", "failed", "done") \
                or data["kind"] not in ("forward", "rollback"):
            raise ValueError("release record: bad target, status or kind")
        regions = {}
        for r, p in data["regions"].items():
            if p["step"] not in (*STEPS, "failed"):
                raise ValueError(f"release record: region {r}: unknown step {p['step']!r}")
            regions[r] = RegionProgress(p["step"], float(p["since"]), str(p.get("detail", "")))
        return ReleaseRecord(target, rel(data["previous"]), data["kind"], data["status"], regions,
                             tuple(data.get("rejected", ())))


def begin(target: RegionRelease, deployed: Mapping[str, RegionRelease | None], prior: ReleaseRecord | None,
          *, rollback: bool = False) -> ReleaseRecord:
    """The record of a release toward `target`. Continues `prior` when it moves to the same target
    (a resumed run keeps each region's step); otherwise starts every region at `drain`. `previous`
    is the release most serving regions run now, or the prior record's when it is a resume."""
    want = RegionRelease(target.model, target.image)
    if prior is not None and prior.target == want and prior.status != "done":
        return replace(prior, status="running")
    running = [RegionRelease(r.model, r.image) for r in deployed.values() if r is not None and r.traffic]
    running = running or [RegionRelease(r.model, r.image) for r in deployed.values() if r is not None]
    previous = max(running, key=running.count) if running else None
    rejected = tuple(prior.rejected) if prior is not None else ()
    if rollback and prior is not None:
        rejected = tuple(dict.fromkeys((*rejected, prior.target.image)))
    return ReleaseRecord(want, None if previous == want else previous, "rollback" if rollback else "forward",
                         "running", {}, rejected)


def in_flight(record: ReleaseRecord | None, target: RegionRelease) -> tuple[str, ...]:
    """Regions a resumed release toward `target` left between `drain` and `done` (they lead the next run)."""
    if record is None or RegionRelease(record.target.model, record.target.image) != \
            RegionRelease(target.model, target.image):
        return ()
    return tuple(r for r, p in record.regions.items() if p.step not in ("drain", "done"))


# ------------------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class GateResult:
    region: str
    healthy: bool  # the last /health answer was 200
    error_rate: float  # failed probes / probes
    detail: str = ""

    def passed(self, max_error_rate: float) -> bool:
        return self.healthy and self.error_rate <= max_error_rate


class Effects(Protocol):
    """What the machine asks of the world."""

    def up(self, pins: Pins, why: str) -> None: ...

    def gate(self, region: str) -> GateResult: ...

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def save(self, record: ReleaseRecord) -> None: ...

    def between_waves(self) -> None:
        """Renew what a long release outlives: the deploy lease, the cloud credentials."""
        ...

    def say(self, text: str) -> None: ...


@dataclass(frozen=True)
class Settings:
    timing: DrainTiming
    max_error_rate: float
    bake_s: float  # every wave after the canary
    canary_bake_s: float
    budget: Callable[[frozenset[str]], str | None]  # drained regions -> why they cannot be, or None


@dataclass(frozen=True)
class Outcome:
    record: ReleaseRecord
    pins: Pins
    completed: tuple[str, ...]  # wave names that finished
    failed_wave: str | None
    gate_results: tuple[GateResult, ...]

    @property
    def ok(self) -> bool:
        return self.failed_wave is None


def drained(pins: Pins) -> frozenset[str]:
    return frozenset(r for r, p in pins.items() if not p.traffic)


def start_step(step: Step, pin: RegionRelease, target: RegionRelease) -> int:
    """Where a region resumes: its recorded step, unless the deployed pin says otherwise (a crash
    between an `up` and the save): serving another release means start from the drain; drained after
    the gate (a failed gate or bake) means upgrade (a no-op when it runs the target) and gate again."""
    if pin.traffic and pin != target:
        return STEPS.index("drain")
    if step == "failed" or (not pin.traffic and step in ("bake", "done")):
        return STEPS.index("upgrade")
    return STEPS.index(step)


def run_release(plan: WavePlan, record: ReleaseRecord, pins: Pins, fx: Effects, settings: Settings) -> Outcome:
    """Run the waves of `plan` from the deployed `pins`, one step at a time, saving `record` after each."""
    pins = dict(pins)
    completed: list[str] = []
    results: list[GateResult] = []
    target = plan.target(True)

    def apply(new: Pins, why: str) -> None:
        nonlocal pins
        if new != pins:
            fx.up(new, why)
            pins = dict(new)

    def stop(wave_name: str, regions: tuple[str, ...], why: str) -> Outcome:
        nonlocal record
        for r in regions:
            record = record.with_region(r, replace(record.progress(r), step="failed", detail=why))
        record = replace(record, status="failed")
        fx.save(record)
        fx.say(f"stopped at {wave_name}: {why}")
        return Outcome(record, pins, tuple(completed), wave_name, tuple(results))

    def step_all(regions: tuple[str, ...], step: Step, since: float) -> None:
        nonlocal record
        for r in regions:
            record = record.with_region(r, RegionProgress(step, since))
        fx.save(record)

    for index, wave in enumerate(plan.waves):
        fx.between_waves()
        regions = wave.regions
        bake_s = settings.canary_bake_s if index == 0 else settings.bake_s
        first = min(start_step(record.progress(r).step, pins[r], target) for r in regions)
        fx.say(f"{wave.name}: {', '.join(regions)} -> {plan.target_image} (from step {STEPS[first]})")
        if first <= STEPS.index("drain"):
            new = {**pins, **{r: replace(pins[r], traffic=False) for r in regions}}
            problem = settings.budget(drained(new)) if drained(new) != drained(pins) else None
            if problem:  # only a drain that takes traffic away from a serving region is checked
                return stop(wave.name, (), f"draining {', '.join(regions)} would break the failover budget: "
                                           f"{problem}")
            apply(new, f"{wave.name}: drain {', '.join(regions)} (records only)")
            step_all(regions, "wait", fx.now())
        if first <= STEPS.index("wait"):
            since = max(record.progress(r).since for r in regions)
            left = since + settings.timing.wait_s - fx.now()
            if left > 0:
                fx.say(f"  waiting {left:.0f} s: record TTL + connection drain ({settings.timing.source})")
                fx.sleep(left)
            step_all(regions, "upgrade", fx.now())
        if first <= STEPS.index("upgrade"):
            apply({**pins, **{r: replace(target, traffic=False) for r in regions}},
                  f"{wave.name}: upgrade {', '.join(regions)} (no traffic)")
            step_all(regions, "gate", fx.now())
        if first <= STEPS.index("gate"):
            checked = [fx.gate(r) for r in regions]
            results.extend(checked)
            failed = [g for g in checked if not g.passed(settings.max_error_rate)]
            for g in checked:
                fx.say(f"  gate {g.region}: {'fail' if g in failed else 'pass'} (healthy {g.healthy}, "
                       f"error rate {g.error_rate:.2%}) {g.detail}")
            if failed:
                return stop(wave.name, regions, f"{', '.join(g.region for g in failed)} failed the gate; "
                                                f"{', '.join(regions)} stay drained on {plan.target_image}")
            apply({**pins, **{r: target for r in regions}}, f"{wave.name}: traffic back on {', '.join(regions)}")
            step_all(regions, "bake", fx.now())
        since = max(record.progress(r).since for r in regions)
        left = since + bake_s - fx.now()
        if left > 0:
            fx.say(f"  baking {left:.0f} s under traffic")
            fx.sleep(left)
        if bake_s > 0:
            checked = [fx.gate(r) for r in regions]
            results.extend(checked)
            failed = [g for g in checked if not g.passed(settings.max_error_rate)]
            if failed:
                apply({**pins, **{r: replace(target, traffic=False) for r in regions}},
                      f"{wave.name}: drain {', '.join(regions)} again after a failed bake")
                return stop(wave.name, regions, f"{', '.join(g.region for g in failed)} failed under traffic; "
                                                f"{', '.join(regions)} drained again")
        step_all(regions, "done", fx.now())
        completed.append(wave.name)
        fx.say(f"{wave.name}: done, traffic on for {', '.join(regions)}")
    record = replace(record, status="done")
    fx.save(record)
    return Outcome(record, pins, tuple(completed), None, tuple(results))


def step_budgets(timing: DrainTiming, *, drain_up_s: float, upgrade_up_s: float, gate_s: float,
                 bake_s: float, restore_up_s: float) -> dict[str, float]:
    """Seconds each step of one wave may take (the docs' table; `deploy --plan-only` prints it)."""
    return {"drain": drain_up_s, "wait": timing.wait_s, "upgrade": upgrade_up_s, "gate": gate_s,
            "bake": restore_up_s + bake_s + (gate_s if bake_s > 0 else 0)}
