"""The offline policy run in process gives the served pack's verdicts, on the repository's batteries.

`InProcessPolicyPack` runs the pack's own SDK servicer in this process and shares one conversion of
each resource across the policies; `ServedPolicyPack` serves the pack as the engine does. Both see the
dev preview plus every violating and compliant case of tests/policy_cases*.py (and the rule cases of
tests/test_policies_rules.py); their reports must be identical, violation for violation.
"""

from __future__ import annotations

import dataclasses

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import rpc

from infra.offline.mock_runtime import CapturedResource, CapturedRun
from infra.offline.policy_check import InProcessPolicyPack, PolicyPackError, ServedPolicyPack, pack_problem
from policies.rules.core import UNKNOWN
from tests.factories import ROOT
from tests.test_policies_rules import CASES

PACK = ROOT / "policies"


def wire_value(value):
    """A case's props in the engine's wire form (the rule cores' UNKNOWN is the engine's unknown sentinel)."""
    if value is UNKNOWN:
        return rpc.UNKNOWN
    if isinstance(value, dict):
        return {k: wire_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire_value(v) for v in value]
    return value


def case_resources(run: CapturedRun) -> tuple[CapturedResource, ...]:
    out = []
    for i, (name, case) in enumerate(sorted(CASES.items())):
        typ, bad, good = case[:3]
        protect = bool(case[3]) if len(case) > 3 else False
        for kind, props, protected in (("bad", bad, False), ("good", good, protect)):
            if props is None:
                continue
            props = wire_value(props)
            wire = struct_pb2.Struct()
            wire.update(props)
            res = f"case{i}-{kind}-{name}"
            out.append(CapturedResource(urn=f"urn:pulumi:{run.stack}::{run.project}::{typ}::{res}", type=typ,
                                        name=res, parent="", custom=True, protect=protected, provider="",
                                        inputs=props, wire=wire))
    return tuple(out)


def test_in_process_verdicts_equal_the_served_packs_on_the_batteries(dev_run):
    run = dataclasses.replace(dev_run, resources=dev_run.resources + case_resources(dev_run))
    with ServedPolicyPack(PACK, project=run.project, stack=run.stack) as served:
        expected = served.check(run)
    with InProcessPolicyPack(PACK, project=run.project, stack=run.stack) as local:
        got = local.check(run)
    assert len(got.violations) > len(CASES) // 2  # the batteries do violate: a real comparison
    assert got.to_json() == expected.to_json()
    assert got.violations == expected.violations  # same order, same descriptions and severities


def test_policy_config_reaches_the_in_process_pack_as_it_reaches_the_served_one(dev_run):
    config = {"log-retention-bounds": {"enforcementLevel": "mandatory"}}
    with ServedPolicyPack(PACK, project=dev_run.project, stack=dev_run.stack) as served:
        expected = served.check(dev_run, config)
    with InProcessPolicyPack(PACK, project=dev_run.project, stack=dev_run.stack) as local:
        got = local.check(dev_run, config)
    assert got.mandatory and got.to_json() == expected.to_json()


def test_a_directory_that_is_not_a_pack_is_named_before_any_work(tmp_path):
    assert "no such directory" in pack_problem(tmp_path / "nope")
    assert "PulumiPolicy.yaml is missing" in pack_problem(tmp_path)
    assert pack_problem(PACK) is None
    with pytest.raises(PolicyPackError, match=r"PulumiPolicy\.yaml is missing"):
        InProcessPolicyPack(tmp_path, project="p", stack="s").start()


def test_the_policy_check_cli_refuses_a_missing_pack_with_exit_2_before_any_preview(tmp_path):
    from infra.offline.policy_check import main
    from tests.previews import run_cli

    done = run_cli(main, "Pulumi.dev.yaml", "--policy-pack", str(tmp_path / "nope"))
    assert done.returncode == 2 and "no such directory" in done.stderr and not done.stdout
