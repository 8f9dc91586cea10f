"""The model API's edge as the program declares it (prod preview under mocks) and as the plan decides
it: a WAF web ACL on every ALB, Cloud Armor keyed on the Authorization header on every GCP backend,
limits that are each tier's share of the region's planned capacity, the key check in every server,
key stores that hold no key, and access logs kept in the region."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.serving.api_auth import CONFIG_MAP, MIDDLEWARE, middleware_files
from infra.offline.run import run_stack_with_plan
from infra.planning.api_edge import (
    MIN_LIMIT,
    PUBLIC_ROUTES,
    WINDOW_SECONDS,
    body_digits,
    is_public_path,
    per_window,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def prod():
    run, plan = run_stack_with_plan(ROOT / "Pulumi.prod.yaml", "prod")
    return run, plan


def of(run, typ):
    return [r for r in run.resources if r.type == typ]


def test_every_public_alb_has_a_web_acl_with_the_regions_limits(prod):
    run, plan = prod
    albs = [r for r in of(run, "aws:lb/loadBalancer:LoadBalancer") if r.inputs.get("internal") is False]
    assert len(albs) == len(plan.aws_regions) == 3
    associations = of(run, "aws:wafv2/webAclAssociation:WebAclAssociation")
    assert {d for a in associations for d in a.dependencies} >= {alb.urn for alb in albs}
    for acl in of(run, "aws:wafv2/webAcl:WebAcl"):
        region = acl.name.split("-")[0]
        edge = plan.api[region]
        rules = {r["name"]: r for r in acl.inputs["rules"]}
        assert acl.inputs["scope"] == "REGIONAL"
        assert rules["rate-per-address"]["statement"]["rateBasedStatement"]["limit"] == edge.address_per_window
        for tier in edge.tiers:
            rate = rules[f"rate-per-key-{tier.tier}"]["statement"]["rateBasedStatement"]
            assert rate["limit"] == tier.per_window and rate["evaluationWindowSec"] == WINDOW_SECONDS
            assert rate["customKeys"] == [{"header": {"name": "authorization",
                                                      "textTransformations": [{"priority": 0, "type": "NONE"}]}}]
        groups = {r["statement"]["managedRuleGroupStatement"]["name"] for r in rules.values()
                  if "managedRuleGroupStatement" in r["statement"]}
        assert groups == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
        assert rules["body-size"]["action"]["block"]["customResponse"]["responseCode"] == 413


def test_every_gcp_backend_throttles_per_key_and_refuses_internal_paths(prod):
    run, plan = prod
    policies = of(run, "gcp:compute/regionSecurityPolicy:RegionSecurityPolicy")
    assert len(policies) == len(plan.gcp_regions) == 2
    for policy in policies:
        edge = plan.api[policy.name.split("-")[0]]
        throttles = {r["rateLimitOptions"].get("enforceOnKey"): r for r in policy.inputs["rules"]
                     if r["action"] == "throttle"}
        header = [r for r in policy.inputs["rules"]
                  if r.get("rateLimitOptions", {}).get("enforceOnKey") == "HTTP_HEADER"]
        assert [r["rateLimitOptions"]["rateLimitThreshold"]["count"] for r in header] == \
            [t.per_window for t in edge.tiers]
        assert all(r["rateLimitOptions"]["enforceOnKeyName"] == "authorization" for r in header)
        assert throttles["IP"]["rateLimitOptions"]["rateLimitThreshold"]["count"] == edge.address_per_window
        assert any("evaluatePreconfiguredWaf" in r["match"].get("expr", {}).get("expression", "")
                   for r in policy.inputs["rules"])


def test_every_server_loads_the_key_check_and_mounts_it(prod):
    run, plan = prod
    servers = [d for d in of(run, "kubernetes:apps/v1:Deployment") if d.name.split("-")[1] == "serving"]
    assert len(servers) == sum(len(s.pools) for s in plan.serving.values())
    for d in servers:
        pod = d.inputs["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["args"][:2] == ["--middleware", MIDDLEWARE]
        env = {e["name"]: e.get("value") for e in container["env"]}
        region = d.name.split("-")[0]
        assert env["ROLLOUT_AUTH_STORE"].endswith(plan.api[region].key_store)
        assert {"name": "key-auth", "configMap": {"name": CONFIG_MAP}} in pod["volumes"]


def test_the_key_stores_hold_no_key_and_the_middleware_ships_as_in_the_repository(prod):
    run, plan = prod
    stores = of(run, "aws:secretsmanager/secret:Secret") + of(run, "gcp:secretmanager/secret:Secret")
    assert len(stores) == len(plan.api) == 5
    assert not of(run, "aws:secretsmanager/secretVersion:SecretVersion")
    assert not of(run, "gcp:secretmanager/secretVersion:SecretVersion")
    assert all(s.protect for s in stores)  # prod: deleting one locks every client out of a region
    maps = [c for c in of(run, "kubernetes:core/v1:ConfigMap") if c.inputs["metadata"]["name"] == CONFIG_MAP]
    assert len(maps) == 5 and all(c.inputs["data"] == middleware_files() for c in maps)
    everything = json.dumps([r.inputs for r in run.resources]) + json.dumps(run.outputs)
    assert not re.search(r"rk_[a-z0-9]+_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", everything)  # no key anywhere


def test_access_logs_stay_in_the_region_for_the_retention(prod):
    run, plan = prod
    for alb in (r for r in of(run, "aws:lb/loadBalancer:LoadBalancer") if r.inputs.get("internal") is False):
        assert alb.inputs["accessLogs"]["enabled"] is True and alb.inputs["accessLogs"]["prefix"] == "alb"
    lifecycles = of(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    days = {r["expiration"]["days"] for c in lifecycles if "lb-logs" in json.dumps(c.inputs) or "access" in c.name
            for r in c.inputs["rules"]}
    assert days == {plan.api["use1"].log_retention_days}
    buckets = of(run, "gcp:logging/projectBucketConfig:ProjectBucketConfig")
    assert {(b.inputs["location"], b.inputs["retentionDays"]) for b in buckets} == \
        {(plan.region(r.name).location, plan.api[r.name].log_retention_days) for r in plan.gcp_regions}
    backends = of(run, "gcp:compute/regionBackendService:RegionBackendService")
    assert all(b.inputs["logConfig"] == {"enable": True, "sampleRate": 1} for b in backends)


@given(share=st.floats(0.001, 1.0), capacity=st.floats(0.05, 5000.0))
def test_a_key_never_gets_more_than_its_share_of_the_planned_capacity_above_the_floor(share, capacity):
    limit = per_window(share, capacity)
    assert limit >= MIN_LIMIT
    assert limit == MIN_LIMIT or limit - 1 < share * capacity * WINDOW_SECONDS


def test_the_body_limit_admits_any_prompt_the_server_accepts():
    assert 10 ** body_digits(8192) > 8192 * 16  # refused only from 10**digits bytes on


def test_only_the_model_routes_and_health_are_public():
    assert all(is_public_path(p) for p in (*PUBLIC_ROUTES, "/health", "/v1/responses/resp_1/cancel"))
    for path in ("/metrics", "/metrics/", "/v1/load_lora_adapter", "/tokenize", "/pooling", "/v2/rerank",
                 "/collective_rpc", "/v1/models/../../metrics", "/health/x", "//v1/models", "/version"):
        assert not is_public_path(path), path
