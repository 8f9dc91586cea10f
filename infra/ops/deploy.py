"""`python -m infra.ops.deploy --stack prod`: roll a release out region by region, gated on health.

1. Read what each region runs from the stack's `rollout` output (the last deployment).
2. Plan the waves (`infra.planning.waves`): the canary region first, then `rollout.groups`, then the
   rest one at a time; refuse a wave whose regions cannot be drained together (the sizing checker).
3. Preview everything: the stack with every region at the new release (the final pins). Preview
   again with every region as it is: what that still changes is not scoped by a release pin
   (networks, clusters, node pools); it is applied to every region in one `up` before the canary.
4. Per wave: `up` with the wave's regions on the new release and drained (no user traffic), run the
   health gate on each of them (`/health` and the error rate), and only when all pass `up` again with
   their traffic on. The first failed gate stops the rollout: the wave stays drained, later waves
   keep their pins (their resources are not touched), and the command exits 1.

Every wave is a whole-stack `pulumi up` of the same program with different release pins (config
`rollout.pins`), never `--target`: only the pinned regions' release-scoped resources differ between
two steps. The Automation API (`pulumi.automation`, which drives the `pulumi` CLI) sits behind
`StackRunner`; the gate behind `HealthGate`; the tests use fakes of both. docs/rollout.md.

Exit codes: 0 every wave passed (or nothing to do), 1 a gate failed or the engine failed,
2 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from infra.config import PROJECT, GateConfig, RolloutConfig, config_from_stack_file, stack_file_path
from infra.errors import ConfigError
from infra.planning.plan import RegionRelease, plan_for_stack_file, stack_name
from infra.planning.regions import regional_hostname
from infra.planning.sizing.lock import lock_path
from infra.planning.sizing.problem import problem_from_config
from infra.planning.waves import Pins, WavePlan, drain_problems, plan_waves

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

    def preview(self, pins: Pins) -> Changes:
        result = self._with_config(pins, lambda path: self._stack.preview(
            config_file=path, policy_packs=self._policy_packs, on_output=self._echo))
        return Changes({str(getattr(op, "value", op)): n for op, n in result.change_summary.items()})

    def up(self, pins: Pins) -> Changes:
        result = self._with_config(pins, lambda path: self._stack.up(
            config_file=path, policy_packs=self._policy_packs, on_output=self._echo))
        return Changes(dict(result.summary.resource_changes or {}))


# ------------------------------------------------------------------------------------------------ gate


@dataclass(frozen=True)
class GateResult:
    region: str
    healthy: bool  # the last /health answer was 200
    error_rate: float  # failed probes / probes
    detail: str = ""

    def passed(self, max_error_rate: float) -> bool:
        return self.healthy and self.error_rate <= max_error_rate


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


@dataclass
class DeployReport:
    plan: WavePlan
    preview: Changes | None = None
    infrastructure: Changes | None = None  # changes the pins do not scope (networks, clusters, pools)
    completed: list[str] = field(default_factory=list)  # wave names that passed
    failed_wave: str | None = None
    gate_results: list[GateResult] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed_wave is None


def deployed_releases(outputs: Mapping[str, Any], regions: Sequence[str]) -> dict[str, RegionRelease | None]:
    """What each region runs now, from the stack's `rollout` output (None: not deployed yet)."""
    rollout = outputs.get("rollout") or {}
    out: dict[str, RegionRelease | None] = {}
    for region in regions:
        entry = rollout.get(region)
        out[region] = (RegionRelease(str(entry["model"]), str(entry["image"]), bool(entry.get("traffic", True)))
                       if isinstance(entry, Mapping) and "model" in entry and "image" in entry else None)
    return out


def plan_rollout(cfg: RolloutConfig, deployed: Mapping[str, RegionRelease | None],
                 routing: Mapping[str, Mapping[str, float]] | None = None,
                 replicas: Mapping[str, Mapping[str, int]] | None = None) -> WavePlan:
    """The waves for this config; ConfigError when a wave cannot be drained safely."""
    plan = plan_waves([r.name for r in cfg.regions], target=RegionRelease(cfg.model.name, cfg.model.image),
                      deployed=deployed, canary=cfg.rollout.canary, groups=cfg.rollout.groups, routing=routing)
    if replicas is not None:
        problems = drain_problems(problem_from_config(cfg), replicas, plan)
        if problems:
            raise ConfigError([f"rollout.groups: {p}" for p in problems], title="unsafe rollout waves")
    return plan


def run_waves(plan: WavePlan, runner: StackRunner, gate: HealthGate, max_error_rate: float,
              echo: Callable[[str], Any] = print) -> DeployReport:
    """Preview everything, then apply wave by wave with the gate between; stop on the first failure."""
    report = DeployReport(plan)

    def say(text: str) -> None:
        report.log.append(text)
        echo(text)

    if not plan.waves:
        say(f"nothing to roll out: every region runs {plan.target_image} with traffic")
        return report
    report.preview = runner.preview(plan.final_pins)
    say(f"preview of the whole rollout: {report.preview.changed} resource changes {dict(report.preview.ops)}")
    report.infrastructure = runner.preview(plan.pins(0))  # every region as it is: what no pin scopes
    if report.infrastructure.changed:
        say(f"infrastructure: {report.infrastructure.changed} resource changes outside the release pins "
            f"{dict(report.infrastructure.ops)}; applying them to every region before the canary")
        runner.up(plan.pins(0))
    for i, wave in enumerate(plan.waves):
        regions = ", ".join(wave.regions)
        say(f"{wave.name}: {regions} -> {plan.target_image} (drained)")
        runner.up(plan.pins(i, "drained"))
        results = [gate.check(region) for region in wave.regions]
        report.gate_results += results
        failed = [r for r in results if not r.passed(max_error_rate)]
        for r in results:
            verdict = "fail" if r in failed else "pass"
            say(f"  gate {r.region}: {verdict} (healthy {r.healthy}, error rate {r.error_rate:.2%}) {r.detail}")
        if failed:
            report.failed_wave = wave.name
            later = [r for w in plan.waves[i + 1:] for r in w.regions]
            say(f"stopped at {wave.name}: {', '.join(r.region for r in failed)} failed the gate; "
                f"{regions} stay drained, {', '.join(later) or 'no other region'} untouched")
            return report
        runner.up(plan.pins(i, "serving"))
        report.completed.append(wave.name)
        say(f"{wave.name}: traffic on for {regions}")
    return report


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
         gate: HealthGate | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help="stack name: Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--plan-only", action="store_true", help="print the waves as JSON and exit")
    parser.add_argument("--outputs-json", type=Path, metavar="FILE",
                        help="with --plan-only: the stack outputs from `pulumi stack output --json` "
                             "instead of asking the engine (no CLI needed)")
    args = parser.parse_args(argv)
    if args.outputs_json and not args.plan_only:
        parser.error("--outputs-json needs --plan-only")
    path = stack_file_path(args.stack)
    try:
        cfg = config_from_stack_file(path)
        if cfg.environment == "prod" and not lock_path(path).exists():
            raise ConfigError([f"{lock_path(path).name}: missing; a prod deploy runs a reviewed, pinned fleet: "
                               f"`python -m infra.sizing --stack {args.stack} --write`, then commit the lock"],
                              title="no pinned sizing plan")
        sizing = plan_for_stack_file(path).sizing
        if args.outputs_json:
            outputs = _outputs_file(args.outputs_json)
        else:
            runner = runner or AutomationRunner(stack_name(path))
            outputs = runner.outputs()
        deployed = deployed_releases(outputs, [r.name for r in cfg.regions])
        plan = plan_rollout(cfg, deployed, sizing.routing, sizing.replicas)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # no CLI, no backend login, no such stack: say which, no traceback
        print(f"error: cannot read the stack's state: {str(exc).strip() or type(exc).__name__} "
              "(the deploy needs the pulumi CLI, a backend login and the stack)", file=sys.stderr)
        return 1
    if args.plan_only:
        print(json.dumps({"target": plan.target_image, "upToDate": list(plan.up_to_date),
                          "waves": [{"name": w.name, "regions": list(w.regions)} for w in plan.waves]}, indent=2))
        return 0
    gate = gate or HttpHealthGate(cfg.domain, cfg.rollout.gate)
    try:
        report = run_waves(plan, runner, gate, cfg.rollout.gate.max_error_rate)
    except Exception as exc:  # the engine failed (e.g. a policy violation): say so, leave the rest as is
        print(f"error: the deployment failed: {str(exc).strip() or type(exc).__name__}", file=sys.stderr)
        return 1
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
