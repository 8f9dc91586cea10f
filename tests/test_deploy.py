"""`python -m infra.ops.deploy`: wave by wave with a health gate, against a fake engine and a fake gate."""

from __future__ import annotations

import io
import urllib.error
from pathlib import Path

import yaml

from infra.config import GateConfig, config_from_stack_file, parse_config
from infra.ops.deploy import (
    Changes,
    HttpHealthGate,
    config_with_pins,
    deployed_releases,
    main,
    pins_config,
)
from infra.ops.lease import LeaseHeld
from infra.planning.plan import RegionRelease
from infra.planning.release import GateResult
from tests.factories import ROOT, raw_config, write_stack_file

PROD = config_from_stack_file(ROOT / "Pulumi.prod.yaml")
REGIONS = [r.name for r in PROD.regions]
OLD = RegionRelease(PROD.model.name, "vllm/vllm-openai:v0.6.2")
NEW = RegionRelease(PROD.model.name, PROD.model.image)


class FakeRunner:
    """The engine as the deploy sees it: `up` makes the pins the deployed state (the `rollout` output)."""

    def __init__(self, deployed: dict[str, RegionRelease | None]):
        self.state = {r: (None if rel is None else {"model": rel.model, "image": rel.image, "traffic": rel.traffic})
                      for r, rel in deployed.items()}
        self.previews: list[dict] = []
        self.ups: list[dict] = []

    def outputs(self):
        return {"rollout": {r: v for r, v in self.state.items() if v is not None}}

    def resources(self):
        return [{"type": "aws:route53/record:Record", "inputs": {"name": "use1.rollout.example.com", "ttl": 60}},
                {"type": "aws:lb/targetGroup:TargetGroup", "inputs": {"deregistrationDelay": 120}}]

    def preview(self, pins):
        self.previews.append(dict(pins))
        return Changes({"update": sum(1 for r, p in pins.items() if self.state.get(r) != pins_config({r: p})[r]),
                        "same": 1})

    def up(self, pins):
        self.ups.append(dict(pins))
        changed = sum(1 for r, p in pins.items() if self.state.get(r) != pins_config({r: p})[r])
        self.state.update(pins_config(pins))
        return Changes({"update": changed})


class FakeGate:
    def __init__(self, failing=(), error_rate=0.2):
        self.failing, self.error_rate, self.checked = set(failing), error_rate, []

    def check(self, region):
        self.checked.append(region)
        if region in self.failing:
            return GateResult(region, False, self.error_rate, "fake: /health 503")
        return GateResult(region, True, 0.0, "fake: /health 200")


class MemoryStore:
    """The release record and the deploy lease in memory (the S3 and file stores: tests/test_ops_lease.py)."""

    def __init__(self):
        self.text, self.holder, self.writes = None, None, 0

    def read(self):
        return self.text

    def write(self, text):
        self.text, self.writes = text, self.writes + 1

    def acquire(self, holder, ttl_s, now):
        if self.holder is not None:
            raise LeaseHeld(f"{self.holder} holds the lease")
        self.holder = holder

    def renew(self, ttl_s, now):
        assert self.holder is not None, "renewed a lease it does not hold"

    def release(self):
        self.holder = None


class Clock:
    """Time that moves only when the deploy sleeps."""

    def __init__(self):
        self.t, self.slept = 1_000_000.0, []

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.t += seconds


def deploy(runner, gate, store=None, *args, clock=None):
    clock = clock or Clock()
    return main(["--stack", "prod", *args], runner=runner, gate=gate, store=store or MemoryStore(), clock=clock,
                sleep=clock.sleep, refresher=NoRefresh())


class NoRefresh:
    def refresh(self):
        pass


def waves_of(capsys) -> list[dict]:
    import json

    runner = FakeRunner(dict.fromkeys(REGIONS, OLD))
    assert main(["--stack", "prod", "--plan-only"], runner=runner, gate=FakeGate()) == 0
    return json.loads(capsys.readouterr().out)["waves"]


def test_a_five_region_prod_rollout_goes_canary_first_and_stops_at_the_first_failed_gate(capsys):
    waves = waves_of(capsys)
    assert len(REGIONS) == 5 and waves[0] == {"name": "canary", "regions": [PROD.rollout.canary]}
    assert sorted(r for w in waves for r in w["regions"]) == sorted(REGIONS)
    bad = waves[2]["regions"][0]  # the canary and one more wave pass; the third wave fails
    later = [r for w in waves[3:] for r in w["regions"]]
    assert later

    runner, gate = FakeRunner(dict.fromkeys(REGIONS, OLD)), FakeGate(failing={bad})
    assert deploy(runner, gate) == 1

    assert runner.previews and all(p == NEW for p in runner.previews[0].values())  # everything previewed first
    assert gate.checked == [waves[0]["regions"][0]] * 2 + [waves[1]["regions"][0]] * 2 + [bad]  # gate + bake
    assert len(runner.ups) == 8  # canary and wave 1: drain, upgrade, restore; wave 2: drain, upgrade
    assert len(runner.previews) == 2 and all(p == OLD for p in runner.previews[1].values())
    for pins in runner.ups:
        assert all(pins[r] == OLD for r in later)  # the other regions were never touched
    final = runner.outputs()["rollout"]
    assert final[bad] == {"model": NEW.model, "image": NEW.image, "traffic": False}  # stays drained
    for region in (waves[0]["regions"][0], waves[1]["regions"][0]):
        assert final[region] == {"model": NEW.model, "image": NEW.image, "traffic": True}
    out = capsys.readouterr().out
    assert f"stopped at {waves[2]['name']}" in out and "stay drained" in out


def test_a_region_is_drained_before_its_upgrade_and_upgraded_only_after_the_drain_wait(capsys):
    runner, clock = FakeRunner(dict.fromkeys(REGIONS, OLD)), Clock()
    times = []
    up = runner.up
    runner.up = lambda pins: (times.append(clock()), up(pins))[1]
    assert deploy(runner, FakeGate(), None, clock=clock) == 0
    for region in REGIONS:
        steps = [(t, pins[region]) for t, pins in zip(times, runner.ups, strict=True)]
        moved = [(t, p) for (t, p), (_, before) in zip(steps, [(0, OLD), *steps], strict=False) if p != before]
        (t_drain, drain), (t_upgrade, upgrade), (_, restore) = moved
        assert drain == RegionRelease(OLD.model, OLD.image, False)  # records only: the old release, drained
        assert upgrade == RegionRelease(NEW.model, NEW.image, False)  # then the new release, still drained
        assert restore == NEW  # traffic back only after the gate
        assert t_upgrade - t_drain >= 60 + 120  # the record TTL and the deregistration delay, from the stack
    assert all(v == {"model": NEW.model, "image": NEW.image, "traffic": True}
               for v in runner.outputs()["rollout"].values())


def test_a_rerun_resumes_from_the_failed_wave_and_skips_finished_regions(capsys):
    waves = waves_of(capsys)
    runner, store = FakeRunner(dict.fromkeys(REGIONS, OLD)), MemoryStore()
    assert deploy(runner, FakeGate(failing={waves[1]["regions"][0]}), store) == 1
    gate = FakeGate()
    assert deploy(runner, gate, store) == 0
    assert list(dict.fromkeys(gate.checked)) == [r for w in waves[1:] for r in w["regions"]]


def test_changes_no_pin_scopes_are_applied_once_before_the_canary(capsys):
    class InfraChange(FakeRunner):
        def preview(self, pins):
            base = super().preview(pins)
            return Changes({**base.ops, "replace": 2})  # e.g. a node pool setting in every region

    runner = InfraChange(dict.fromkeys(REGIONS, OLD))
    assert deploy(runner, FakeGate()) == 0
    assert all(p == OLD for p in runner.ups[0].values())  # every region as it was: infrastructure only
    assert runner.ups[1][PROD.rollout.canary] == RegionRelease(OLD.model, OLD.image, False)  # then the drain
    assert "outside the release pins" in capsys.readouterr().out


def test_nothing_to_do_when_every_region_runs_the_release(capsys):
    runner = FakeRunner(dict.fromkeys(REGIONS, NEW))
    assert deploy(runner, FakeGate()) == 0
    assert runner.ups == [] and runner.previews == []


def test_unsafe_groups_exit_2_before_anything_runs(tmp_path, monkeypatch, capsys):
    import infra.ops.deploy as deploy_module

    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["global-ai-rollout:rollout"]["groups"] = [["euw4", "ane1"]]
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    (tmp_path / "Pulumi.prod.sizing.json").write_text((ROOT / "Pulumi.prod.sizing.json").read_text())
    monkeypatch.setattr(deploy_module, "stack_file_path", lambda stack: tmp_path / f"Pulumi.{stack}.yaml")
    runner = FakeRunner(dict.fromkeys(REGIONS, OLD))
    assert deploy(runner, FakeGate()) == 2
    assert runner.ups == [] and "split it in rollout.groups" in capsys.readouterr().err


def test_prod_is_not_deployed_without_a_pinned_fleet(tmp_path, monkeypatch, capsys):
    import infra.ops.deploy as deploy_module

    (tmp_path / "Pulumi.prod.yaml").write_text((ROOT / "Pulumi.prod.yaml").read_text())
    monkeypatch.setattr(deploy_module, "stack_file_path", lambda stack: tmp_path / f"Pulumi.{stack}.yaml")
    runner = FakeRunner(dict.fromkeys(REGIONS, OLD))
    assert deploy(runner, FakeGate()) == 2
    assert runner.ups == [] and "Pulumi.prod.sizing.json: missing" in capsys.readouterr().err


def test_the_program_exports_the_pinned_releases_the_deploy_reads_back(tmp_path):
    from infra.offline.run import run_stack

    pins = {"use1": RegionRelease("m", "vllm/vllm-openai:v0.6.2", False)}
    path = write_stack_file(tmp_path / "Pulumi.t.yaml", raw_config())
    stack_file = tmp_path / "Pulumi.pinned.yaml"
    stack_file.write_text(yaml.safe_dump(config_with_pins(path, pins)))
    run = run_stack(stack_file, "pinned")
    deployed = deployed_releases(run.outputs, ["use1", "euw4"])
    assert deployed == {"use1": pins["use1"], "euw4": RegionRelease("m", "vllm/vllm-openai:v0.6.3", True)}


def test_pins_go_into_a_copy_of_the_stack_config_and_keep_the_rest(tmp_path: Path):
    before = (ROOT / "Pulumi.prod.yaml").read_text()
    document = config_with_pins(ROOT / "Pulumi.prod.yaml", {"use1": OLD})
    assert (ROOT / "Pulumi.prod.yaml").read_text() == before
    rollout = document["config"]["global-ai-rollout:rollout"]
    assert rollout["canary"] == PROD.rollout.canary and rollout["pins"] == pins_config({"use1": OLD})
    raw = {k.split(":", 1)[1]: v for k, v in document["config"].items() if k.startswith("global-ai-rollout:")}
    assert parse_config(raw).rollout.pins["use1"].image == OLD.image


class _Response(io.BytesIO):
    def __init__(self, status):
        super().__init__(b"")
        self.status = status


def test_the_http_gate_probes_the_regional_health_endpoint_and_counts_failures():
    answers = iter([200, 503, 200, 200])
    urls = []

    def opener(url, timeout):
        urls.append(url)
        status = next(answers)
        if status != 200:
            raise urllib.error.HTTPError(url, status, "unavailable", {}, None)
        return _Response(status)

    gate = HttpHealthGate("rollout.example.com", GateConfig(probes=4, interval_seconds=5, max_error_rate=0.3),
                          opener=opener, sleep=lambda s: None)
    result = gate.check("use1")
    assert urls == ["https://use1.rollout.example.com/health"] * 4
    assert result.healthy and result.error_rate == 0.25 and result.passed(0.3) and not result.passed(0.2)


def test_the_http_gate_fails_a_region_whose_last_probe_fails():
    def opener(url, timeout):
        raise urllib.error.URLError("connection refused")

    gate = HttpHealthGate("rollout.example.com", GateConfig(probes=2, interval_seconds=0), opener=opener,
                          sleep=lambda s: None)
    result = gate.check("euw4")
    assert not result.healthy and result.error_rate == 1.0 and not result.passed(1.0)
    assert "connection refused" in result.detail


def test_plan_only_reads_saved_outputs_without_the_engine(tmp_path, capsys):
    import json

    saved = tmp_path / "outputs.json"
    rollout = {r: {"model": NEW.model, "image": NEW.image, "traffic": True} for r in REGIONS}
    rollout["use1"] = {"model": OLD.model, "image": OLD.image, "traffic": True}
    saved.write_text(json.dumps({"rollout": rollout}))
    assert main(["--stack", "prod", "--plan-only", "--outputs-json", str(saved)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["waves"] == [{"name": "wave 1", "regions": ["use1"]}]  # only what differs; canary done
    assert sorted(plan["upToDate"]) == sorted(r for r in REGIONS if r != "use1")


def test_without_the_engine_the_deploy_says_so_and_exits_1(capsys, monkeypatch):
    import infra.ops.deploy as deploy_module

    def no_cli(stack):
        raise FileNotFoundError("[Errno 2] No such file or directory: 'pulumi'")

    monkeypatch.setattr(deploy_module, "AutomationRunner", no_cli)
    assert main(["--stack", "prod"], store=MemoryStore()) == 1
    assert "needs the pulumi CLI" in capsys.readouterr().err


def test_the_automation_runner_passes_pins_in_a_temporary_config_file_and_the_policy_pack(monkeypatch):
    """The real runner against a stand-in for `pulumi.automation`'s stack (the CLI is not installed here)."""
    from types import SimpleNamespace

    from pulumi import automation as auto

    from infra.ops.deploy import AutomationRunner

    calls = []

    class Stack:
        def preview(self, **kwargs):
            calls.append(("preview", kwargs, yaml.safe_load(Path(kwargs["config_file"]).read_text())))
            return SimpleNamespace(change_summary={auto.OpType.UPDATE: 3, auto.OpType.SAME: 9})

        def up(self, **kwargs):
            calls.append(("up", kwargs, yaml.safe_load(Path(kwargs["config_file"]).read_text())))
            return SimpleNamespace(summary=SimpleNamespace(resource_changes={"update": 3}))

        def outputs(self):
            return {"rollout": auto.OutputValue(value={"use1": {"model": "m", "image": "i:1"}}, secret=False)}

    selected = {}
    monkeypatch.setattr(auto, "select_stack", lambda **kw: selected.update(kw) or Stack())
    before = (ROOT / "Pulumi.prod.yaml").read_text()
    runner = AutomationRunner("prod", echo=lambda line: None)
    assert selected == {"stack_name": "prod", "work_dir": str(ROOT)}  # a local program: the repo's Pulumi.yaml
    assert runner.outputs() == {"rollout": {"use1": {"model": "m", "image": "i:1"}}}
    assert runner.preview({"use1": OLD}).changed == 3
    assert runner.up({"use1": NEW}).ops == {"update": 3}
    for (_, kwargs, document), pin in zip(calls, (OLD, NEW), strict=True):
        assert kwargs["policy_packs"] == [str(ROOT / "policies")]
        assert document["config"]["global-ai-rollout:rollout"]["pins"] == pins_config({"use1": pin})
        assert document["config"]["gcp:project"] == PROD_DOCUMENT["config"]["gcp:project"]
        assert not Path(kwargs["config_file"]).exists()  # removed after the call
    assert (ROOT / "Pulumi.prod.yaml").read_text() == before


PROD_DOCUMENT = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())


def test_moving_one_regions_pin_changes_nothing_outside_that_region(tmp_path):
    """What makes a wave a whole-stack `up` that touches only its regions: two previews of prod that
    differ in one region's pin differ only in resources under that region (and the `rollout` output)."""
    from infra.offline.run import run_stack

    def previewed(name: str, pins):
        path = tmp_path / f"Pulumi.{name}.yaml"
        path.write_text(yaml.safe_dump(config_with_pins(ROOT / "Pulumi.prod.yaml", pins)))
        (tmp_path / f"Pulumi.{name}.sizing.json").write_text((ROOT / "Pulumi.prod.sizing.json").read_text())
        return run_stack(path, "prod")

    everywhere = {r: NEW for r in REGIONS}
    before = previewed("a", everywhere)
    after = previewed("b", {**everywhere, "use1": RegionRelease(OLD.model, OLD.image, False)})

    def region_of(run, resource) -> str:
        by_urn = {r.urn: r for r in run.resources}
        node = resource
        while node is not None and node.type != "rollout:region:Region":
            node = by_urn.get(node.parent)
        return node.name if node is not None else "(stack)"

    # Draining a region (traffic false) also moves its share in DNS: the global records naming it change.
    def dns(urn: str) -> bool:
        return "rollout:traffic:GlobalRecords$" in urn

    old = {r.urn: r.inputs for r in before.resources}
    new = {r.urn: r.inputs for r in after.resources}
    assert len(old) > 300  # the same prod resources outside DNS, compared input by input
    assert {u for u in old if not dns(u)} == {u for u in new if not dns(u)}
    changed = {urn for urn in old.keys() | new.keys() if old.get(urn) != new.get(urn)}
    where = {r.urn: (run, r) for run in (before, after) for r in run.resources}
    assert {region_of(*where[urn]) for urn in changed if not dns(urn)} <= {"use1"}
    assert all("use1" in urn.rsplit("::", 1)[1] for urn in changed if dns(urn) and (urn in old) != (urn in new))
    assert after.outputs["rollout"]["use1"] == {"model": OLD.model, "image": OLD.image, "traffic": False}
    assert {k: v for k, v in after.outputs["rollout"].items() if k != "use1"} == \
        {k: v for k, v in before.outputs["rollout"].items() if k != "use1"}
