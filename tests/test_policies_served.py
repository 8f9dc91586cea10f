"""The pack served the way `pulumi preview --policy-pack policies` serves it, end to end: today's stacks
pass, a broken resource fails with exit 1 naming the rule, and a broken pack fails fast and clearly."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import rpc

from infra.offline.mock_runtime import CapturedResource, CapturedRun
from infra.offline.policy_check import PolicyPackError, ServedPolicyPack, check_policies, render_text

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies"


@pytest.fixture(scope="module")
def pack(dev_run):
    with ServedPolicyPack(PACK, project=dev_run.project, stack=dev_run.stack) as served:
        yield served


def captured(run: CapturedRun, typ: str, name: str, props: dict, deps: tuple[str, ...] = ()) -> CapturedResource:
    wire = struct_pb2.Struct()
    wire.update(props)
    return CapturedResource(urn=f"urn:pulumi:{run.stack}::{run.project}::{typ}::{name}", type=typ, name=name,
                            parent="", custom=True, protect=False, provider="", inputs=props, wire=wire,
                            dependencies=deps)


def with_resources(run: CapturedRun, *extra: CapturedResource, without: str | None = None) -> CapturedRun:
    kept = tuple(r for r in run.resources if without is None or r.type != without)
    return dataclasses.replace(run, resources=kept + extra)


def test_the_served_pack_declares_every_rule(pack):
    from policies.rules import ALL_RULES

    assert sorted(p.name for p in pack.info.policies) == sorted(r.name for r in ALL_RULES)


def test_dev_stack_has_no_mandatory_violation(pack, dev_run):
    report = pack.check(dev_run)
    assert report.resources == len(dev_run.resources) > 0
    assert report.mandatory == [], render_text(report)
    assert report.exit_code == 0


def test_prod_stack_has_no_mandatory_violation(prod_run):
    report = check_policies(prod_run, PACK)  # in process: the same verdicts (tests/test_policy_in_process.py)
    assert report.mandatory == [], render_text(report)
    assert report.to_json()["passed"] is True


def test_removing_a_flow_log_fails_naming_the_stack_rule(pack, dev_run):
    report = pack.check(with_resources(dev_run, without="aws:ec2/flowLog:FlowLog"))
    assert report.exit_code == 1
    assert {v.policy for v in report.mandatory} == {"vpc-flow-logs-on"}
    assert all(v.urn.endswith("::use1-vpc") for v in report.mandatory)


def test_ssh_open_to_the_world_fails_naming_the_rule_and_resource(pack, dev_run):
    sg = captured(dev_run, "aws:ec2/securityGroup:SecurityGroup", "bastion", {
        "tags": {"owner": "o", "cost-center": "c", "stack": "dev"},
        "ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]})
    report = pack.check(with_resources(dev_run, sg))
    assert report.exit_code == 1
    assert {(v.policy, v.urn) for v in report.mandatory} == {("no-open-ingress-aws", sg.urn),
                                                             ("no-internet-admin-ports", sg.urn)}
    assert all("22" in v.message for v in report.mandatory)
    assert {"policy", "enforcement", "urn", "message"} <= set(report.to_json()["violations"][0])


def test_a_secret_psk_arrives_unwrapped_so_provenance_decides(pack, dev_run):
    """The wire marks the PSK secret; the analyzer unwraps it; only the generator dependency tells."""
    secret = {rpc._special_sig_key: rpc._special_secret_sig, "value": "k" * 40}
    password = captured(dev_run, "random:index/randomPassword:RandomPassword", "psk", {"length": 40})
    generated = captured(dev_run, "gcp:compute/vPNTunnel:VPNTunnel", "generated", {"sharedSecret": secret},
                         deps=(password.urn,))
    literal = captured(dev_run, "gcp:compute/vPNTunnel:VPNTunnel", "literal", {"sharedSecret": "k" * 40})
    report = pack.check(with_resources(dev_run, password, generated, literal))
    flagged = {v.urn for v in report.mandatory if v.policy == "secret-material-generated"}
    assert flagged == {literal.urn}


def test_unknown_values_are_not_violations(pack, dev_run):
    cluster = captured(dev_run, "aws:eks/cluster:Cluster", "pending", {
        "vpcConfig": {"endpointPrivateAccess": True, "publicAccessCidrs": rpc.UNKNOWN},
        "encryptionConfig": rpc.UNKNOWN, "enabledClusterLogTypes": ["audit", "authenticator"],
        "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
        "tags": {"owner": "o", "cost-center": "c", "stack": "dev"}})
    report = pack.check(with_resources(dev_run, cluster))
    assert [v for v in report.violations if v.urn == cluster.urn] == []


def test_a_directory_without_pulumipolicy_yaml_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyPackError, match=r"PulumiPolicy\.yaml is missing"):
        ServedPolicyPack(tmp_path, project="p", stack="s").start()


def test_a_pack_that_fails_to_import_is_a_clear_error_not_a_hang(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("import rules_that_do_not_exist\n")
    with pytest.raises(PolicyPackError, match="rules_that_do_not_exist"):
        ServedPolicyPack(tmp_path, project="p", stack="s", start_timeout=20).start()


def test_a_pack_that_never_serves_times_out(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("import time\ntime.sleep(60)\n")
    with pytest.raises(PolicyPackError, match="did not print its port"):
        ServedPolicyPack(tmp_path, project="p", stack="s", start_timeout=1).start()


def test_stopping_leaves_no_process_behind(dev_run):
    served = ServedPolicyPack(PACK, project="p", stack="s")
    served.start()
    proc = served._proc
    served.stop()
    assert proc is not None and proc.poll() is not None


def test_the_pack_runs_as_the_engine_runs_it():
    """`python -u -m pulumi.policy <engine> .` in policies/ prints a port first (what the engine reads)."""
    proc = subprocess.Popen([str(ROOT / ".venv/bin/python"), "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
                            cwd=PACK, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip().isdigit()
    finally:
        proc.kill()
        proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


def test_a_public_kubernetes_api_without_an_allow_list_fails_naming_the_rule(pack, dev_run):
    """The issue's example: the real dev program, with its EKS endpoint flipped to public."""
    (eks,) = [r for r in dev_run.resources if r.type == "aws:eks/cluster:Cluster"]
    props = dict(eks.inputs)
    props["vpcConfig"] = {**props["vpcConfig"], "endpointPublicAccess": True}
    props["vpcConfig"].pop("publicAccessCidrs", None)
    public = dataclasses.replace(eks, inputs=props, wire=_struct(props))
    report = pack.check(dataclasses.replace(
        dev_run, resources=tuple(public if r is eks else r for r in dev_run.resources)))
    assert report.exit_code == 1
    assert [(v.policy, v.urn) for v in report.mandatory] == [("eks-api-endpoint-restricted", eks.urn)]


def _struct(props: dict) -> struct_pb2.Struct:
    wire = struct_pb2.Struct()
    wire.update(props)
    return wire


def test_per_property_dependencies_reach_the_pack(pack, dev_run):
    """A PSK computed from something other than a generator fails, even though the connection as a
    whole depends on generated keys: the offline check sends dependencies per property, as the engine does."""
    vpn = next(r for r in dev_run.resources if r.type == "aws:ec2/vpnConnection:VpnConnection")
    assert vpn.property_dependencies["tunnel1PresharedKey"], "the capture lost per-property dependencies"
    tgw = next(r for r in dev_run.resources if r.type == "aws:ec2transitgateway/transitGateway:TransitGateway")
    rewired = dataclasses.replace(vpn, property_dependencies={**vpn.property_dependencies,
                                                             "tunnel1PresharedKey": (tgw.urn,)})
    report = pack.check(dataclasses.replace(
        dev_run, resources=tuple(rewired if r is vpn else r for r in dev_run.resources)))
    assert [(v.policy, v.urn) for v in report.mandatory] == [("secret-material-generated", vpn.urn)]
