"""The API edge rules as specifications: a public serving entry without per-key limits, without an
auth layer, or with a public path to /metrics is a mandatory violation; the program's own dev
preview passes, and each weakness injected into it is caught."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from infra.offline.run import run_stack
from policies.rules.api_edge import api_edge_aws, api_edge_gcp, armor_refuses, model_server_authenticates, waf_refuses
from policies.rules.core import MANDATORY, Resource

ROOT = Path(__file__).resolve().parent.parent
ALB, ACL, ASSOC = "aws:lb/loadBalancer:LoadBalancer", "aws:wafv2/webAcl:WebAcl", \
    "aws:wafv2/webAclAssociation:WebAclAssociation"
BACKEND, ARMOR = "gcp:compute/regionBackendService:RegionBackendService", \
    "gcp:compute/regionSecurityPolicy:RegionSecurityPolicy"


def res(typ: str, name: str, props=None, deps=()) -> Resource:
    return Resource(type=typ, props=props or {}, urn=f"urn:pulumi:prod::p::{typ}::{name}", name=name,
                    dependencies=list(deps))


@pytest.fixture(scope="module")
def dev() -> list[Resource]:
    """The dev preview as the pack's stack rules see it (props and dependencies)."""
    run = run_stack(ROOT / "Pulumi.dev.yaml", "dev")
    by_urn = {r.urn: Resource(type=r.type, props=json.loads(json.dumps(r.inputs)), urn=r.urn, name=r.name)
              for r in run.resources}
    for r in run.resources:
        by_urn[r.urn].dependencies = [by_urn[d] for d in r.dependencies if d in by_urn]
    return list(by_urn.values())


def _one(resources: list[Resource], typ: str) -> Resource:
    found = [r for r in resources if r.type == typ]
    assert found, typ
    return found[0]


def _mutated(resources: list[Resource], typ: str, mutate) -> list[Resource]:
    """A copy of the graph in which the first resource of `typ` has mutated props."""
    target = _one(resources, typ)
    props = copy.deepcopy(dict(target.props))
    mutate(props)
    target_copy = Resource(type=target.type, props=props, urn=target.urn, name=target.name,
                           dependencies=target.dependencies)
    swapped = [target_copy if r is target else r for r in resources]
    for r in swapped:
        if target in r.dependencies:
            r_deps = [target_copy if d is target else d for d in r.dependencies]
            swapped[swapped.index(r)] = Resource(type=r.type, props=r.props, urn=r.urn, name=r.name,
                                                 dependencies=r_deps)
    return swapped


def test_the_rules_are_mandatory():
    assert {api_edge_aws.enforcement, api_edge_gcp.enforcement, model_server_authenticates.enforcement} == {MANDATORY}


def test_the_dev_preview_passes_both_edges_and_every_server_authenticates(dev):
    assert api_edge_aws.evaluate(dev) == []
    assert api_edge_gcp.evaluate(dev) == []
    servers = [r for r in dev if r.type == "kubernetes:apps/v1:Deployment" and "vllm" in r.name]
    assert len(servers) >= 2
    assert all(model_server_authenticates.evaluate(r) == [] for r in servers)


def test_the_dev_edges_refuse_metrics_and_admit_the_model_routes(dev):
    acl, armor = _one(dev, ACL), _one(dev, ARMOR)
    for path in ("/metrics", "/tokenize", "/v1/load_lora_adapter", "/collective_rpc", "/server_info"):
        assert waf_refuses(acl, path) and armor_refuses(armor, path), path
    for path in ("/v1/chat/completions", "/v1/models", "/health"):
        assert not waf_refuses(acl, path) and not armor_refuses(armor, path), path


def test_an_alb_without_a_web_acl_fails(dev):
    without = [r for r in dev if r.type != ASSOC]
    assert [urn for _, urn in api_edge_aws.evaluate(without)] == [_one(dev, ALB).urn]


def test_a_web_acl_without_a_per_key_limit_fails(dev):
    def drop_header_keys(props):
        props["rules"] = [r for r in props["rules"] if "customKeys" not in json.dumps(r)]
    findings = api_edge_aws.evaluate(_mutated(dev, ACL, drop_header_keys))
    assert any("authorization header" in m for m, _ in findings)


def test_a_web_acl_without_a_per_address_limit_fails(dev):
    def drop_ip(props):
        props["rules"] = [r for r in props["rules"] if '"aggregateKeyType": "IP"' not in json.dumps(r)]
    assert any("client address" in m for m, _ in api_edge_aws.evaluate(_mutated(dev, ACL, drop_ip)))


def test_a_web_acl_that_lets_metrics_through_fails(dev):
    def open_paths(props):
        props["rules"] = [r for r in props["rules"] if r["name"] != "public-routes"]
    assert any("/metrics" in m for m, _ in api_edge_aws.evaluate(_mutated(dev, ACL, open_paths)))


def test_an_allow_rule_before_the_path_block_lets_metrics_through():
    acl = res(ACL, "a", {"defaultAction": {"allow": {}}, "rules": [
        {"priority": 0, "action": {"allow": {}}, "statement": {"byteMatchStatement": {
            "searchString": "/metrics", "positionalConstraint": "EXACTLY", "fieldToMatch": {"uriPath": {}}}}},
        {"priority": 1, "action": {"block": {}}, "statement": {"byteMatchStatement": {
            "searchString": "/metrics", "positionalConstraint": "STARTS_WITH", "fieldToMatch": {"uriPath": {}}}}}]})
    assert not waf_refuses(acl, "/metrics")
    acl.props["rules"][0]["priority"] = 2
    assert waf_refuses(acl, "/metrics")


def test_a_backend_without_a_header_keyed_throttle_fails(dev):
    def ip_only(props):
        for rule in props["rules"]:
            if rule.get("rateLimitOptions"):
                rule["rateLimitOptions"] = {**rule["rateLimitOptions"], "enforceOnKey": "IP"}
                rule["rateLimitOptions"].pop("enforceOnKeyName", None)
    findings = api_edge_gcp.evaluate(_mutated(dev, ARMOR, ip_only))
    assert any("authorization header" in m for m, _ in findings)


def test_a_backend_whose_armor_lets_metrics_through_fails(dev):
    def open_paths(props):
        props["rules"] = [r for r in props["rules"] if r.get("priority") != 100]
    assert any("/metrics" in m for m, _ in api_edge_gcp.evaluate(_mutated(dev, ARMOR, open_paths)))


def test_an_external_backend_without_armor_fails():
    backend = res(BACKEND, "b", {"loadBalancingScheme": "EXTERNAL_MANAGED"})
    internal = res(BACKEND, "i", {"loadBalancingScheme": "INTERNAL_MANAGED"})
    assert [urn for _, urn in api_edge_gcp.evaluate([backend, internal])] == [backend.urn]


def test_a_model_server_without_a_key_check_fails_and_each_auth_layer_passes():
    def server(args=None, env=None):
        return res("kubernetes:apps/v1:Deployment", "vllm-g5", {"spec": {"template": {"spec": {"containers": [
            {"name": "server", "image": "vllm/vllm-openai:v0.24.0", "args": args or ["--model", "m"],
             "env": env or []}]}}}})
    assert model_server_authenticates.evaluate(server())
    assert model_server_authenticates.evaluate(server(env=[{"name": "VLLM_API_KEY", "value": "literal"}]))
    assert model_server_authenticates.evaluate(server(args=["--middleware", "cors.Allow"]))
    assert model_server_authenticates.evaluate(server(["--middleware", "rollout_key_auth.KeyAuth"])) == []
    assert model_server_authenticates.evaluate(server(["--api-key", "k"])) == []
    assert model_server_authenticates.evaluate(server(env=[{"name": "VLLM_API_KEY", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "k"}}}])) == []
