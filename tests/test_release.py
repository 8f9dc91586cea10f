"""The release state machine on prod's waves: a failed gate anywhere leaves a release that can go
forward (a fix) or back (a rollback) without edits, the failover budget holds at every `up`, and a
crash at any step resumes. The engine, the gate, the clock and the store are fakes
(tests/test_deploy.py); the deploy command is the real one."""

from __future__ import annotations

import json

import pytest
import yaml

import infra.ops.deploy as deploy_module
from infra.config import config_from_stack_file
from infra.ops.deploy import main
from infra.planning.plan import RegionRelease, plan_for_stack_file
from infra.planning.release import (
    DrainTiming,
    RegionProgress,
    ReleaseRecord,
    begin,
    timing_from_resources,
)
from infra.planning.sizing.problem import problem_from_config
from infra.planning.waves import drain_shortfall
from tests.factories import ROOT
from tests.test_deploy import Clock, FakeGate, FakeRunner, MemoryStore, NoRefresh

PROD = config_from_stack_file(ROOT / "Pulumi.prod.yaml")
SIZING = plan_for_stack_file(ROOT / "Pulumi.prod.yaml").sizing
PROBLEM = problem_from_config(PROD)
REGIONS = [r.name for r in PROD.regions]
OLD = RegionRelease(PROD.model.name, "vllm/vllm-openai:v0.6.2")
NEW = RegionRelease(PROD.model.name, PROD.model.image)
FIX = RegionRelease(PROD.model.name, "vllm/vllm-openai:v0.24.1")
WAIT_S = 60 + 120  # FakeRunner's endpoint TTL + deregistration delay


class Watched(FakeRunner):
    """Checks the N-1 budget after every `up` and logs every up and gate with the time."""

    def __init__(self, deployed, clock, log):
        super().__init__(deployed)
        self.clock, self.log = clock, log

    def up(self, pins):
        changes = super().up(pins)
        drained = {r for r, v in self.state.items() if v is not None and not v["traffic"]}
        assert drain_shortfall(PROBLEM, SIZING.replicas, drained) is None, f"budget broken with {drained} drained"
        assert len(drained) <= 1
        self.log.append(("up", self.clock(), dict(pins)))
        return changes


class LoggedGate(FakeGate):
    def __init__(self, log, failing=()):
        super().__init__(failing)
        self.log = log

    def check(self, region):
        result = super().check(region)
        self.log.append(("gate", region, result.healthy))
        return result


def run(runner, gate, store, clock, *args, stack="prod"):
    return main(["--stack", stack, *args], runner=runner, gate=gate, store=store, clock=clock, sleep=clock.sleep,
                refresher=NoRefresh())


def assert_safe_history(log):
    """Per region: traffic lands on a release only after a passing gate of that release, and a release
    is installed only `WAIT_S` after the region's traffic went off."""
    state = {r: OLD for r in REGIONS}
    drained_at: dict[str, float] = {}
    gated: set[tuple[str, str]] = set()
    restored_at: dict[str, int] = {}
    for index, event in enumerate(log):
        if event[0] == "gate":
            _, region, healthy = event
            if healthy and not state[region].traffic:
                gated.add((region, state[region].image))
            continue
        _, t, pins = event
        for region, pin in pins.items():
            before = state[region]
            if before.traffic and not pin.traffic:
                drained_at[region] = t
                assert pin.image == before.image, f"{region}: drained and upgraded in one up"
            if pin.image != before.image:
                assert not before.traffic and not pin.traffic, f"{region}: release changed under traffic"
                assert t - drained_at[region] >= WAIT_S, f"{region}: upgraded before the drain wait ended"
                gated.discard((region, pin.image))
            if pin.traffic and not before.traffic:
                assert (region, pin.image) in gated, f"{region}: traffic on {pin.image} without a passing gate"
                restored_at[region] = index
            state[region] = pin
    for region, index in restored_at.items():  # the bake: a passing gate under traffic after the last restore
        assert any(e[0] == "gate" and e[1] == region and e[2] for e in log[index:]), f"{region}: not baked"
    return state


@pytest.fixture(autouse=True)
def planned_once(monkeypatch):
    """Each stack file is validated and planned once per test (the deploy re-reads it on every run;
    the plan of an unchanged file is the same, and the machine, not the planner, is under test here)."""
    import functools

    for name in ("plan_for_stack_file", "config_from_stack_file"):
        monkeypatch.setattr(deploy_module, name, functools.lru_cache(maxsize=None)(getattr(deploy_module, name)))


@pytest.fixture
def stacks(tmp_path, monkeypatch):
    """Prod's stack file as committed (NEW) and with a fixed image (FIX), in a directory the deploy reads."""
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    document["config"]["global-ai-rollout:model"]["image"] = FIX.image
    (tmp_path / "Pulumi.fix.yaml").write_text(yaml.safe_dump(document))
    for name in ("prod", "fix"):
        (tmp_path / f"Pulumi.{name}.sizing.json").write_text((ROOT / "Pulumi.prod.sizing.json").read_text())
    monkeypatch.setattr(deploy_module, "stack_file_path", lambda stack: tmp_path / f"Pulumi.{stack}.yaml")


def prod_waves(capsys):
    runner = FakeRunner(dict.fromkeys(REGIONS, OLD))
    assert main(["--stack", "prod", "--plan-only"], runner=runner, gate=FakeGate()) == 0
    return [tuple(w["regions"]) for w in json.loads(capsys.readouterr().out)["waves"]]


def failed_at(position, capsys):
    """A prod release OLD -> NEW whose gate fails in the wave at `position`."""
    waves = prod_waves(capsys)
    bad = waves[position][0]
    clock, log, store = Clock(), [], MemoryStore()
    runner = Watched(dict.fromkeys(REGIONS, OLD), clock, log)
    assert run(runner, LoggedGate(log, failing={bad}), store, clock) == 1
    assert runner.state[bad] == {"model": NEW.model, "image": NEW.image, "traffic": False}  # left drained
    record = ReleaseRecord.from_json(store.text)
    assert record.status == "failed" and record.regions[bad].step == "failed"
    return waves, bad, clock, log, store, runner


@pytest.mark.parametrize("position", range(5))
def test_after_a_failed_gate_in_any_wave_a_fix_deploys_without_edits(position, stacks, capsys):
    _, bad, clock, log, store, runner = failed_at(position, capsys)
    gate = LoggedGate(log)
    assert run(runner, gate, store, clock, stack="fix") == 0  # the same stack, model.image changed to FIX
    assert all(v == {"model": FIX.model, "image": FIX.image, "traffic": True} for v in runner.state.values())
    assert gate.checked[0] == bad  # the drained region goes first: no second region is drained
    final = assert_safe_history(log)
    assert set(final.values()) == {FIX}
    assert ReleaseRecord.from_json(store.text).status == "done"


@pytest.mark.parametrize("position", range(5))
def test_after_a_failed_gate_in_any_wave_a_rollback_deploys_without_edits(position, stacks, capsys):
    waves, bad, clock, log, store, runner = failed_at(position, capsys)
    passed = [r for w in waves[:position] for r in w]
    gate = LoggedGate(log)
    assert run(runner, gate, store, clock, "--rollback") == 0
    assert all(v == {"model": OLD.model, "image": OLD.image, "traffic": True} for v in runner.state.values())
    assert gate.checked and gate.checked[0] == bad
    assert set(gate.checked) == {bad, *passed}  # regions that never left OLD are not touched
    assert set(assert_safe_history(log).values()) == {OLD}
    # The committed stack still names NEW: a plain deploy does not bring the rolled-back release back.
    assert run(runner, LoggedGate(log), store, clock) == 2
    assert "was rolled back" in capsys.readouterr().err
    assert set(assert_safe_history(log).values()) == {OLD}


def clean_run_counts():
    clock, log, store = Clock(), [], MemoryStore()
    runner = Watched(dict.fromkeys(REGIONS, OLD), clock, log)
    gate = LoggedGate(log)
    assert run(runner, gate, store, clock) == 0
    return {"up-before": len(runner.ups), "up-after": len(runner.ups), "gate": len(gate.checked),
            "sleep": len(clock.slept), "save": store.writes}


class Crash(Exception):
    pass


def crashing(kind, n, log):
    """A runner, gate, clock and store where the n-th call of `kind` crashes once (the process dies
    there; the next run, with the same objects, does not crash)."""
    calls = {"count": 0}

    def hit():
        calls["count"] += 1
        return calls["count"] == n + 1

    class C(Clock):
        def sleep(self, seconds):
            if kind == "sleep" and hit():
                self.t += seconds / 2
                raise Crash("killed half way through a wait")
            super().sleep(seconds)

    class R(Watched):
        def up(self, pins):
            if kind == "up-before" and hit():
                raise Crash("killed before the up")
            changes = super().up(pins)
            if kind == "up-after" and hit():
                raise Crash("killed after the up, before the record was saved")
            return changes

    class G(LoggedGate):
        def check(self, region):
            if kind == "gate" and hit():
                raise Crash("killed during the gate")
            return super().check(region)

    class S(MemoryStore):
        def write(self, text):
            if kind == "save" and hit():
                raise Crash("killed while saving the record")
            super().write(text)

        def release(self):
            pass  # a killed process does not release its lease: the next run finds it expired

        def acquire(self, holder, ttl_s, now):
            self.holder = holder

    clock = C()
    return R(dict.fromkeys(REGIONS, OLD), clock, log), G(log), clock, S()


def test_a_crash_at_every_step_resumes_to_the_same_end_with_the_budget_held():
    counts = clean_run_counts()
    assert counts["up-before"] == 15 and counts["gate"] == 10 and counts["save"] > 25
    tried = 0
    for kind, total in counts.items():
        for n in range(total):
            log: list = []
            runner, gate, clock, store = crashing(kind, n, log)
            assert run(runner, gate, store, clock) == 1, (kind, n)
            assert run(runner, gate, store, clock) == 0, (kind, n)
            assert all(v == {"model": NEW.model, "image": NEW.image, "traffic": True}
                       for v in runner.state.values()), (kind, n)
            assert set(assert_safe_history(log).values()) == {NEW}, (kind, n)
            assert ReleaseRecord.from_json(store.text).status == "done"
            tried += 1
    assert tried == sum(counts.values())


class BakeFails(LoggedGate):
    """Passes every region's first gate; fails `region`'s second one (the check after its bake)."""

    def __init__(self, log, region):
        super().__init__(log)
        self.region = region

    def check(self, region):
        if region == self.region and self.checked.count(region) == 1:
            self.failing = {region}
        result = super().check(region)
        self.failing = set()
        return result


def test_a_failed_bake_drains_the_region_again_and_a_fix_deploys_from_there(stacks, capsys):
    waves = prod_waves(capsys)
    bad = waves[1][0]
    clock, log, store = Clock(), [], MemoryStore()
    runner = Watched(dict.fromkeys(REGIONS, OLD), clock, log)
    assert run(runner, BakeFails(log, bad), store, clock) == 1
    assert runner.state[bad] == {"model": NEW.model, "image": NEW.image, "traffic": False}
    assert ReleaseRecord.from_json(store.text).regions[bad].step == "failed"
    assert run(runner, LoggedGate(log), store, clock, stack="fix") == 0
    assert set(assert_safe_history(log).values()) == {FIX}


def test_a_crash_after_draining_a_failed_bake_resumes_at_the_gate_not_at_done():
    """Record says `bake` (the failure was not saved), the pins say drained: gate again before traffic."""
    from infra.planning.release import start_step

    drained_new = RegionRelease(NEW.model, NEW.image, False)
    assert start_step("bake", drained_new, NEW) == start_step("done", drained_new, NEW) == 2  # upgrade (no-op)
    assert start_step("bake", NEW, NEW) == 4 and start_step("gate", NEW, NEW) == 3
    assert start_step("done", OLD, NEW) == 0  # serving another release: from the drain


def test_a_missing_rollout_output_stops_the_deploy_instead_of_draining_everything(capsys):
    class NoRollout(FakeRunner):
        def outputs(self):
            return {"sizing": {"status": "pinned"}}  # a deployed stack whose rollout output is gone

    runner = NoRollout(dict.fromkeys(REGIONS, OLD))
    assert run(runner, FakeGate(), MemoryStore(), Clock()) == 1
    assert runner.ups == [] and "no `rollout` output" in capsys.readouterr().err

    class Empty(FakeRunner):
        def outputs(self):
            return {}

    empty = Empty(dict.fromkeys(REGIONS))
    assert run(empty, FakeGate(), MemoryStore(), Clock()) == 1
    assert empty.ups == [] and "--new-stack" in capsys.readouterr().err
    assert run(empty, FakeGate(), MemoryStore(), Clock(), "--new-stack") == 0  # a first deploy says so
    assert all(v["traffic"] for v in empty.state.values())


def test_an_unreadable_release_record_stops_the_deploy(capsys):
    store = MemoryStore()
    store.text = "{not json"
    runner = FakeRunner(dict.fromkeys(REGIONS, OLD))
    assert run(runner, FakeGate(), store, Clock()) == 1
    assert runner.ups == [] and "release record is unreadable" in capsys.readouterr().err


def test_a_second_deploy_of_the_stack_is_refused_while_the_first_holds_the_lease(capsys):
    store = MemoryStore()
    store.holder = "github run 41"
    runner = FakeRunner(dict.fromkeys(REGIONS, OLD))
    assert run(runner, FakeGate(), store, Clock()) == 1
    assert runner.ups == [] and "github run 41 holds the lease" in capsys.readouterr().err
    assert store.holder == "github run 41"  # not released by the refused deploy


def test_the_lease_is_renewed_and_credentials_refreshed_between_waves():
    class CountingStore(MemoryStore):
        renewals = 0

        def renew(self, ttl_s, now):
            super().renew(ttl_s, now)
            self.renewals += 1

    class Refresher:
        calls = 0

        def refresh(self):
            self.calls += 1

    store, refresher, clock = CountingStore(), Refresher(), Clock()
    runner = FakeRunner(dict.fromkeys(REGIONS, OLD))
    assert main(["--stack", "prod"], runner=runner, gate=FakeGate(), store=store, clock=clock, sleep=clock.sleep,
                refresher=refresher) == 0
    assert refresher.calls == 5 and store.renewals >= 5 and store.holder is None  # released at the end


# ---- the pure parts ------------------------------------------------------------------------------------


def test_the_drain_timing_comes_from_the_stacks_records_and_load_balancers():
    resources = [
        {"type": "aws:route53/record:Record", "inputs": {"name": "use1.example.com", "ttl": 60}},
        {"type": "gcp:dns/recordSet:RecordSet", "inputs": {"name": "euw4.example.com.", "ttl": 120}},
        {"type": "aws:route53/record:Record", "inputs": {"name": "_acme.example.com", "ttl": 300}},  # not an endpoint
        {"type": "aws:lb/targetGroup:TargetGroup", "inputs": {"deregistrationDelay": 90}},
        {"type": "gcp:compute/regionBackendService:RegionBackendService",
         "inputs": {"connectionDrainingTimeoutSec": 150}},
    ]
    timing = timing_from_resources(resources, ["use1.example.com", "euw4.example.com"], fallback_ttl_s=30)
    assert (timing.record_ttl_s, timing.connection_drain_s, timing.wait_s) == (120, 150, 270)
    unset = timing_from_resources([{"type": "aws:lb/targetGroup:TargetGroup", "inputs": {}}], [], fallback_ttl_s=30)
    assert (unset.record_ttl_s, unset.connection_drain_s) == (30, 300)  # AWS's default deregistration delay


def test_the_step_times_docs_rollout_md_gives_for_prod_come_from_the_plan_and_the_program():
    """docs/rollout.md's table: endpoint TTL (traffic plan), the target groups' deregistration delay (the
    serving component), the startup budget (serving plan), gate probes and bake times (stack config)."""
    from components.serving.aws_entry import DEREGISTRATION_DELAY_SECONDS
    from infra.ops.deploy import wave_budgets

    plan = plan_for_stack_file(ROOT / "Pulumi.prod.yaml")
    timing = DrainTiming(plan.traffic.endpoint_ttl, DEREGISTRATION_DELAY_SECONDS)
    budgets = wave_budgets(PROD, plan, timing)
    assert budgets["canary"] == {"drain": 60, "wait": 180, "upgrade": 900, "gate": 300, "bake": 1260}
    assert budgets["wave"] == {**budgets["canary"], "bake": 660}
    total = sum(budgets["canary"].values()) + (len(REGIONS) - 1) * sum(budgets["wave"].values())
    assert total == 11100  # "about 3 h 5 min"
    docs = (ROOT / "docs" / "rollout.md").read_text()
    assert "**180 s** = endpoint record TTL 60 s + target group `deregistrationDelay` 120 s" in docs
    assert "**about 3 h 5 min**" in docs


def test_a_record_survives_its_json_and_refuses_another_version():
    record = ReleaseRecord(NEW, OLD, "forward", "failed", {"use1": RegionProgress("failed", 12.5, "gate")},
                           ("x:1",))
    assert ReleaseRecord.from_json(record.to_json()) == record
    with pytest.raises(ValueError):
        ReleaseRecord.from_json(json.dumps({"version": 99}))


def test_a_resumed_release_keeps_its_steps_and_a_new_target_starts_over():
    deployed = dict.fromkeys(REGIONS, OLD)
    prior = ReleaseRecord(NEW, OLD, "forward", "failed", {"use1": RegionProgress("bake", 5.0)})
    assert begin(NEW, deployed, prior).regions == prior.regions
    fresh = begin(FIX, deployed, prior)
    assert fresh.regions == {} and fresh.previous == OLD and fresh.kind == "forward"
    back = begin(OLD, deployed, prior, rollback=True)
    assert back.kind == "rollback" and back.rejected == (NEW.image,)
