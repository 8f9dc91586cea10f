"""`python -m infra.ops.deploy --stack prod`: roll a release out region by region, gated on health.

1. Take the stack's deploy lease (`infra/ops/lease.py`: a conditional-create object beside the state)
   and read the release state: the `rollout` stack output (what each region runs) and the release
   record (each region's step). Either unreadable: refuse (exit 1), never "drain everything".
2. Plan the waves (`infra.planning.waves`): regions a stopped release left drained first, else the
   canary; then `rollout.groups`, then the rest one at a time; refuse a wave the failover budget
   cannot absorb with what is drained now (the sizing checker).
3. Preview everything; apply what no release pin scopes (networks, clusters, pools) once.
4. Per wave, the release state machine (`infra.planning.release`): drain (an `up` that only moves the
   records), wait the records' TTL plus the load balancers' connection drain, upgrade (an `up`), gate,
   bake under traffic, done. The record is saved after every step, so a re-run resumes where a crash
   stopped; a failed gate leaves the region drained and both a fix (`model.image`) and `--rollback`
   deploy from there without edits. Between waves the lease and the AWS session are renewed.

Every step is a whole-stack `pulumi up` of the same program with different release pins (config
`rollout.pins`), never `--target`. The Automation API (`pulumi.automation`, which drives the `pulumi`
CLI) sits behind `StackRunner`; the gate behind `HealthGate`; the tests use fakes. docs/rollout.md.

Exit codes: 0 every wave passed (or nothing to do), 1 a gate failed, the engine failed, the state is
unreadable or another deploy holds the lease, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import yaml

from infra.config import PROJECT, GateConfig, RolloutConfig, config_from_stack_file, stack_file_path
from infra.errors import ConfigError
from infra.planning.plan import RegionRelease, plan_for_stack_file, stack_name
from infra.planning.regions import regional_hostname
from infra.planning.release import (
    DrainTiming,
    GateResult,
    Outcome,
    ReleaseRecord,
    Settings,
    begin,
    in_flight,
    run_release,
    step_budgets,
    timing_from_resources,
)
from infra.planning.sizing.lock import lock_path
from infra.planning.sizing.problem import problem_from_config
from infra.planning.waves import Pins, WavePlan, drain_problems, drain_shortfall, plan_waves

ROOT = Path(__file__).resolve().parents[2]
ROLLOUT_KEY = f"{PROJECT}:rollout"


# ---------------------------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class Changes:
    """What one preview or update did: resource operation -> count (the engine's change summary)."""

    ops: Mapping[str, int]

    @property
    def changed(self) -> int:
        return sum(n for op, n in self.ops.items() if op != "same")


class StackRunner(Protocol):
    """The few engine calls a rollout needs; `AutomationRunner` is the real one, the tests fake it."""

    def outputs(self) -> Mapping[str, Any]: ...

    def preview(self, pins: Pins) -> Changes: ...

    def up(self, pins: Pins) -> Changes: ...

    def resources(self) -> Sequence[Mapping[str, Any]]:
        """The deployed resources (`type`, `inputs`): record TTLs and load balancer drains are read here."""
        ...


def pins_config(pins: Pins) -> dict[str, dict[str, Any]]:
    return {r: {"model": p.model, "image": p.image, "traffic": p.traffic} for r, p in sorted(pins.items())}


def config_with_pins(stack_file: Path, pins: Pins) -> dict[str, Any]:
    """The stack file's document with `rollout.pins` replaced (the committed file is not modified)."""
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = dict(document.get("config") or {})
    rollout = dict(config.get(ROLLOUT_KEY) or {})
    rollout["pins"] = pins_config(pins)
    config[ROLLOUT_KEY] = rollout
    return {**document, "config": config}


class AutomationRunner:
    """Pulumi Automation API on the local program in the repository (`Pulumi.yaml`, `main: infra/`).

    A local program, not an inline one: the engine runs `infra/__main__.py` exactly as `pulumi up`
    does (the inline form runs the program in this process, and several inline programs in one process
    are a known problem). Each step writes the stack file with that step's pins to a temporary file
    and passes it as `config_file`, so the committed `Pulumi.<stack>.yaml` is never rewritten. Needs
    the `pulumi` CLI on PATH, a logged-in backend and cloud credentials (CI gets them through OIDC).
    """

    def __init__(self, stack: str, *, work_dir: Path = ROOT, policy_packs: Sequence[str] = ("policies",),
                 echo: Callable[[str], Any] = print):
        from pulumi import automation as auto  # drives the `pulumi` CLI; only needed for real runs

        self._stack_file = work_dir / f"Pulumi.{stack}.yaml"
        self._policy_packs = [str(work_dir / p) for p in policy_packs]
        self._echo = echo
        self._stack = auto.select_stack(stack_name=stack, work_dir=str(work_dir))

    def _with_config(self, pins: Pins, call: Callable[[str], Any]) -> Any:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix=self._stack_file.stem + ".") as handle:
            yaml.safe_dump(config_with_pins(self._stack_file, pins), handle, sort_keys=False)
            handle.flush()
            return call(handle.name)

    def outputs(self) -> Mapping[str, Any]:
        return {k: v.value for k, v in self._stack.outputs().items()}

    def resources(self) -> Sequence[Mapping[str, Any]]:
        deployment = self._stack.export_stack().deployment or {}
        return [{"type": r.get("type"), "inputs": r.get("inputs") or {}} for r in deployment.get("resources", [])]

    def preview(self, pins: Pins) -> Changes:
        result = self._with_config(pins, lambda path: self._stack.preview(
            config_file=path, policy_packs=self._policy_packs, on_output=self._echo))
        return Changes({str(getattr(op, "value", op)): n for op, n in result.change_summary.items()})

    def up(self, pins: Pins) -> Changes:
        result = self._with_config(pins, lambda path: self._stack.up(
            config_file=path, policy_packs=self._policy_packs, on_output=self._echo))
        return Changes(dict(result.summary.resource_changes or {}))


# ------------------------------------------------------------------------------------------------ gate


class HealthGate(Protocol):
    def check(self, region: str) -> GateResult: ...


class HttpHealthGate:
    """Probes `https://<region>.<domain><healthPath>` `probes` times, `intervalSeconds` apart.

    The error rate is the share of probes that did not answer 200 within the timeout; the region is
    healthy when the last probe answered 200. The regional name is the one every regional certificate
    covers (`infra.planning.regions.regional_hostname`).
    """

    def __init__(self, domain: str, gate: GateConfig, *, timeout_s: float = 10.0,
                 opener: Callable[..., Any] = urllib.request.urlopen, sleep: Callable[[float], None] = time.sleep):
        self.domain, self.gate, self.timeout_s = domain, gate, timeout_s
        self._open, self._sleep = opener, sleep

    def _probe(self, url: str) -> tuple[bool, str]:
        try:
            with self._open(url, timeout=self.timeout_s) as response:
                return response.status == 200, f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return False, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return False, str(getattr(exc, "reason", exc))

    def check(self, region: str) -> GateResult:
        url = f"https://{regional_hostname(region, self.domain)}{self.gate.health_path}"
        failures, last_ok, last = 0, False, ""
        for i in range(self.gate.probes):
            if i:
                self._sleep(self.gate.interval_seconds)
            last_ok, last = self._probe(url)
            failures += not last_ok
        return GateResult(region, last_ok, failures / self.gate.probes, f"{url}: last {last}")


# ---------------------------------------------------------------------------------------------- deploy

LEASE_TTL_S = 2 * 3600  # renewed after every step; longer than any one step (docs/rollout.md)
# Route 53 changes reach every authoritative server within about 60 s (GetChange goes INSYNC):
# https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html
RECORDS_UP_S = 60


class ReleaseStateError(RuntimeError):
    """The current release state cannot be read: the deploy must not guess it."""


@dataclass
class DeployReport:
    plan: WavePlan
    preview: Changes | None = None
    infrastructure: Changes | None = None  # changes the pins do not scope (networks, clusters, pools)
    completed: list[str] = field(default_factory=list)  # wave names that passed
    failed_wave: str | None = None
    gate_results: list[GateResult] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    record: ReleaseRecord | None = None

    @property
    def ok(self) -> bool:
        return self.failed_wave is None


def deployed_releases(outputs: Mapping[str, Any], regions: Sequence[str], *,
                      new_stack: bool = False) -> dict[str, RegionRelease | None]:
    """What each region runs now, from the stack's `rollout` output (None: the region is new).

    Without a readable `rollout` output the state is unknown, and guessing "nothing deployed" would
    drain every region at once: raise ReleaseStateError, unless the stack has no outputs at all and
    the caller says it is new (`--new-stack`)."""
    rollout = outputs.get("rollout")
    if rollout is None:
        if new_stack and not outputs:
            return dict.fromkeys(regions)
        why = ("the stack has no outputs (pass --new-stack for a first deploy)" if not outputs else
               "the stack has outputs but no `rollout` output")
        raise ReleaseStateError(f"cannot read what each region runs: {why}")
    if not isinstance(rollout, Mapping):
        raise ReleaseStateError(f"the `rollout` output is {type(rollout).__name__}, not a mapping")
    out: dict[str, RegionRelease | None] = {}
    for region in regions:
        entry = rollout.get(region)
        if entry is None:
            out[region] = None  # a region added since the last deploy
        elif isinstance(entry, Mapping) and "model" in entry and "image" in entry:
            out[region] = RegionRelease(str(entry["model"]), str(entry["image"]), bool(entry.get("traffic", True)))
        else:
            raise ReleaseStateError(f"the `rollout` output's entry for {region} is unreadable: {entry!r}")
    return out


def plan_rollout(cfg: RolloutConfig, deployed: Mapping[str, RegionRelease | None],
                 routing: Mapping[str, Mapping[str, float]] | None = None,
                 replicas: Mapping[str, Mapping[str, int]] | None = None, *,
                 target: RegionRelease | None = None, lead: Sequence[str] = ()) -> WavePlan:
    """The waves for this config; ConfigError when a wave cannot be drained safely."""
    target = target or RegionRelease(cfg.model.name, cfg.model.image)
    plan = plan_waves([r.name for r in cfg.regions], target=target, deployed=deployed, canary=cfg.rollout.canary,
                      groups=cfg.rollout.groups, routing=routing, lead=lead)
    if replicas is not None:
        problems = drain_problems(problem_from_config(cfg), replicas, plan)
        if problems:
            raise ConfigError([f"rollout.groups: {p}" for p in problems], title="unsafe rollout waves")
    return plan


def drain_timing(runner: StackRunner | None, cfg_plan: Any, resources: Sequence[Mapping[str, Any]] | None = None
                 ) -> DrainTiming:
    """Record TTL and connection drain from the deployed resources (or a preview's); the plan's TTL and
    AWS's default deregistration delay when none can be read."""
    traffic = cfg_plan.traffic
    ttl = traffic.endpoint_ttl if traffic is not None else 60
    names = [r.name for r in traffic.records if r.kind == "endpoint"] if traffic is not None else []
    if resources is None and runner is not None and hasattr(runner, "resources"):
        resources = runner.resources()
    if not resources:
        from infra.planning.release import AWS_DEFAULT_DEREGISTRATION_S

        return DrainTiming(ttl, AWS_DEFAULT_DEREGISTRATION_S, f"TTL {ttl} s (the traffic plan), drain "
                           f"{AWS_DEFAULT_DEREGISTRATION_S} s (no deployed resources read: AWS's default)")
    return timing_from_resources(resources, names, ttl)


def wave_budgets(cfg: RolloutConfig, cfg_plan: Any, timing: DrainTiming) -> dict[str, dict[str, float]]:
    """Seconds per step of a canary wave and of a later wave (the upgrade: the longest model load budget)."""
    gate_s = cfg.rollout.gate.probes * cfg.rollout.gate.interval_seconds
    upgrade = max((p.probes.startup_budget_seconds for s in cfg_plan.serving.values() for p in s.pools), default=0)
    common = {"timing": timing, "drain_up_s": RECORDS_UP_S, "upgrade_up_s": upgrade, "gate_s": gate_s,
              "restore_up_s": RECORDS_UP_S}
    return {"canary": step_budgets(**common, bake_s=cfg.rollout.canary_bake_seconds),
            "wave": step_budgets(**common, bake_s=cfg.rollout.bake_seconds)}


class DeployEffects:
    """The release machine's effects: the engine, the gate, the clock, the record, lease and credentials."""

    def __init__(self, runner: StackRunner, gate: HealthGate, store: Any, report: DeployReport, *,
                 clock: Callable[[], float], sleep: Callable[[float], None], echo: Callable[[str], Any],
                 refresher: Any = None):
        self.runner, self._gate, self.store, self.report = runner, gate, store, report
        self._clock, self._sleep, self._echo, self.refresher = clock, sleep, echo, refresher

    def up(self, pins: Pins, why: str) -> None:
        self.say(f"  up: {why}")
        self.runner.up(pins)

    def gate(self, region: str) -> GateResult:
        return self._gate.check(region)

    def now(self) -> float:
        return self._clock()

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def save(self, record: ReleaseRecord) -> None:
        self.store.write(record.to_json())
        self.store.renew(LEASE_TTL_S, self._clock())
        self.report.record = record

    def between_waves(self) -> None:
        self.store.renew(LEASE_TTL_S, self._clock())
        if self.refresher is not None:
            self.refresher.refresh()

    def say(self, text: str) -> None:
        self.report.log.append(text)
        self._echo(text)


def run_waves(plan: WavePlan, runner: StackRunner, gate: HealthGate, settings: Settings, record: ReleaseRecord,
              store: Any, *, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
              echo: Callable[[str], Any] = print, refresher: Any = None) -> DeployReport:
    """Preview everything, then run the release machine wave by wave; stop on the first failure."""
    report = DeployReport(plan, record=record)
    fx = DeployEffects(runner, gate, store, report, clock=clock, sleep=sleep, echo=echo, refresher=refresher)
    if not plan.waves:
        fx.say(f"nothing to roll out: every region runs {plan.target_image} with traffic")
        if record.status != "done":
            fx.save(replace(record, status="done"))
        return report
    current = plan.pins(0)
    report.preview = runner.preview(plan.final_pins)
    fx.say(f"preview of the whole rollout: {report.preview.changed} resource changes {dict(report.preview.ops)}")
    report.infrastructure = runner.preview(current)  # every region as it is: what no pin scopes
    if report.infrastructure.changed:
        fx.say(f"infrastructure: {report.infrastructure.changed} resource changes outside the release pins "
               f"{dict(report.infrastructure.ops)}; applying them to every region before the first wave")
        runner.up(current)
    fx.save(record)
    outcome: Outcome = run_release(plan, record, current, fx, settings)
    report.completed = list(outcome.completed)
    report.failed_wave = outcome.failed_wave
    report.gate_results = list(outcome.gate_results)
    return report


def _holder() -> str:
    run = os.environ.get("GITHUB_RUN_ID")
    return f"github run {run}" if run else f"{os.environ.get('USER', 'someone')}@{socket.gethostname()}:{os.getpid()}"


def _outputs_file(path: Path) -> dict:
    """`--outputs-json`: a JSON object (input, so every way it is wrong is a ConfigError: exit 2)."""
    try:
        outputs = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError([f"--outputs-json {path}: {type(exc).__name__}: {exc}"],
                          title="invalid outputs file") from None
    if not isinstance(outputs, dict):
        raise ConfigError([f"--outputs-json {path}: a JSON object of stack outputs"], title="invalid outputs file")
    return outputs


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def main(argv: Sequence[str] | None = None, *, runner: StackRunner | None = None,
         gate: HealthGate | None = None, store: Any = None, clock: Callable[[], float] = time.time,
         sleep: Callable[[float], None] = time.sleep, refresher: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help="stack name: Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--plan-only", action="store_true", help="print the waves and step budgets as JSON and exit")
    parser.add_argument("--outputs-json", type=Path, metavar="FILE",
                        help="with --plan-only: the stack outputs from `pulumi stack output --json` "
                             "instead of asking the engine (no CLI needed)")
    parser.add_argument("--resources-json", type=Path, metavar="FILE",
                        help="with --plan-only: a preview's JSON (`python -m infra.preview --json`) to read "
                             "record TTLs and load balancer drains from")
    parser.add_argument("--rollback", action="store_true",
                        help="roll back to the release the last release started from (the record's `previous`)")
    parser.add_argument("--new-stack", action="store_true",
                        help="first deploy: the stack has no outputs yet (otherwise a missing `rollout` "
                             "output stops the deploy)")
    args = parser.parse_args(argv)
    if (args.outputs_json or args.resources_json) and not args.plan_only:
        parser.error("--outputs-json and --resources-json need --plan-only")
    path = stack_file_path(args.stack)
    lease_taken = False
    try:
        cfg = config_from_stack_file(path)
        if cfg.environment == "prod" and not lock_path(path).exists():
            raise ConfigError([f"{lock_path(path).name}: missing; a prod deploy runs a reviewed, pinned fleet: "
                               f"`python -m infra.sizing --stack {args.stack} --write`, then commit the lock"],
                              title="no pinned sizing plan")
        full_plan = plan_for_stack_file(path)
        sizing = full_plan.sizing
        if store is None and not args.plan_only:
            from infra.ops.clouds import AwsClients
            from infra.ops.lease import open_store, state_url
            from infra.ops.stack import backend_url

            url = state_url(os.environ, backend_url(os.environ, path.parent / "Pulumi.yaml"))
            if url is None:
                raise ConfigError(["ROLLOUT_STATE_URL: not set, and the backend is not s3:// or file://; the "
                                   "release record and the deploy lease need one (docs/rollout.md)"],
                                  title="no place for the release state")
            aws = AwsClients()
            store = open_store(url, args.stack, lambda region: aws.client("s3", region))
        if store is not None and not args.plan_only:
            store.acquire(_holder(), LEASE_TTL_S, clock())
            lease_taken = True
        if args.outputs_json:
            outputs = _outputs_file(args.outputs_json)
        else:
            runner = runner or AutomationRunner(stack_name(path))
            outputs = runner.outputs()
        deployed = deployed_releases(outputs, [r.name for r in cfg.regions], new_stack=args.new_stack)
        text = store.read() if store is not None else None
        try:
            prior = ReleaseRecord.from_json(text) if text is not None else None
        except (ValueError, KeyError, TypeError) as exc:
            raise ReleaseStateError(f"the release record is unreadable: {exc}") from exc
        target = RegionRelease(cfg.model.name, cfg.model.image)
        if args.rollback:
            if prior is None or prior.previous is None:
                raise ReleaseStateError("--rollback: no release record with a previous release to return to")
            target = prior.previous if prior.kind == "forward" else prior.target
        elif prior is not None and target.image in prior.rejected:
            raise ConfigError([f"model.image: {target.image} was rolled back; change the image (a fix), "
                               "or remove it from the release record's `rejected` on purpose"],
                              title="a rolled-back release")
        plan = plan_rollout(cfg, deployed, sizing.routing, sizing.replicas, target=target,
                            lead=in_flight(prior, target))
        timing = drain_timing(None if args.plan_only else runner, full_plan,
                              json.loads(args.resources_json.read_text())["resources"] if args.resources_json
                              else None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _release(store, lease_taken)
        return 2
    except ReleaseStateError as exc:
        print(f"error: refusing to deploy: {exc}", file=sys.stderr)
        _release(store, lease_taken)
        return 1
    except Exception as exc:  # no CLI, no backend login, no such stack, lease held: say which, no traceback
        print(f"error: cannot read the stack's state: {str(exc).strip() or type(exc).__name__} "
              "(the deploy needs the pulumi CLI, a backend login, the stack and its deploy lease)", file=sys.stderr)
        _release(store, lease_taken)
        return 1
    if args.plan_only:
        print(json.dumps({"target": plan.target_image, "upToDate": list(plan.up_to_date),
                          "waves": [{"name": w.name, "regions": list(w.regions)} for w in plan.waves],
                          "drain": {"recordTtlSeconds": timing.record_ttl_s,
                                    "connectionDrainSeconds": timing.connection_drain_s, "source": timing.source},
                          "stepSeconds": wave_budgets(cfg, full_plan, timing)}, indent=2))
        return 0
    problem = problem_from_config(cfg)
    settings = Settings(timing=timing, max_error_rate=cfg.rollout.gate.max_error_rate,
                        bake_s=cfg.rollout.bake_seconds, canary_bake_s=cfg.rollout.canary_bake_seconds,
                        budget=lambda drained: drain_shortfall(problem, sizing.replicas, drained))
    gate = gate or HttpHealthGate(cfg.domain, cfg.rollout.gate)
    if refresher is None:
        from infra.ops.credentials import refresher_from_env

        refresher = refresher_from_env(os.environ, lambda: __import__("boto3").client("sts"))
    record = begin(target, deployed, prior, rollback=args.rollback)
    try:
        report = run_waves(plan, runner, gate, settings, record, store, clock=clock, sleep=sleep, refresher=refresher)
    except Exception as exc:  # the engine failed (e.g. a policy violation): say so, leave the rest as is
        print(f"error: the deployment failed: {str(exc).strip() or type(exc).__name__} "
              "(re-run to resume from the last saved step)", file=sys.stderr)
        return 1
    finally:
        _release(store, lease_taken)
    return 0 if report.ok else 1


def _release(store: Any, taken: bool) -> None:
    if taken:
        try:
            store.release()
        except Exception as exc:  # the lease expires by itself
            print(f"warning: could not release the deploy lease: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
