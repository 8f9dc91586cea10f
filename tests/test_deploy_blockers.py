"""Blockers a first `pulumi up` of prod hit, each reproduced on a minimal stack under the mock cloud
(which now refuses what the provider refuses) and checked by the deploy rehearsal."""

from __future__ import annotations

from types import SimpleNamespace

import pulumi
import pulumi_aws as aws
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.cluster.kubernetes_base import KubernetesBase, KubernetesBaseArgs
from components.endpoint import RegionalEndpoint
from components.serving.aws_entry import AwsServingEntry, AwsServingEntryArgs
from components.serving.elb_names import elb_logical_name
from components.traffic import (
    GlobalRecords,
    GlobalRecordsArgs,
    PublicZone,
    PublicZoneArgs,
    RegionalCertificates,
    RegionalCertificatesArgs,
)
from components.traffic.certificates import await_delegation_hook
from infra.offline.mock_runtime import run_mocked
from infra.offline.mockcloud import PhysicalNameError
from infra.offline.preview import as_json
from infra.planning.plan import plan_for_stack_file
from infra.rehearsal import rehearse
from tests.factories import ROOT


@pytest.fixture(scope="module")
def dev():
    return plan_for_stack_file(ROOT / "Pulumi.dev.yaml")


def deploy_violations(run, rule: str, plan=None) -> list:
    return [v for v in rehearse(as_json(run), plan, stages=["deploy"]).violations if v.rule == rule]


# --- ALB and target group names: 32 characters with Pulumi's suffix -------------------------------

def test_the_mock_refuses_a_target_group_name_the_provider_refuses():
    def program():
        aws.lb.TargetGroup("use1-serving-entry-vllm-p4d-24xlarge", port=8000, protocol="HTTP", target_type="ip")

    with pytest.raises(Exception, match="limit is 32"):
        run_mocked(program)
    assert issubclass(PhysicalNameError, ValueError)


def test_the_aws_serving_entry_of_a_region_with_long_pool_names_fits_32(dev):
    serving = dev.serving["use1"]  # pools vllm-g5-xlarge, vllm-g6-xlarge: `use1-entry-vllm-g5-xlarge` + 8 > 32
    assert any(len(f"use1-serving-entry-{p.name}") + 8 > 32 for p in serving.pools)

    def program():
        AwsServingEntry("use1-serving-entry", AwsServingEntryArgs(
            serving=serving, location="us-east-1", cluster_name="rollout-dev-use1", vpc_id="vpc-1",
            vpc_cidr="10.0.0.0/16", public_subnet_ids=["subnet-1", "subnet-2"],
            oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/x", oidc_issuer="https://x",
            certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/x", tags=dev.tags))

    run = run_mocked(program, stack="test")
    groups = run.of_type("aws:lb/targetGroup:TargetGroup")
    assert len(groups) == len(serving.pools)
    assert not deploy_violations(run, "deploy/name-length")


@given(st.lists(st.from_regex(r"[a-z0-9]{1,12}(-[a-z0-9]{1,12}){0,4}", fullmatch=True), min_size=1, max_size=4))
def test_elb_logical_names_leave_room_for_the_suffix_and_are_stable(parts):
    name = elb_logical_name(*parts)
    assert len(name) + 8 <= 32 and name == elb_logical_name(*parts)
    assert not name.startswith("-") and not name.endswith("-")


# --- Route 53 aliases after their targets ---------------------------------------------------------

def test_every_alias_of_the_record_tree_is_created_after_its_target(dev):
    endpoints = {r: RegionalEndpoint(region=r, cloud="aws", hostname=f"{r}.{dev.domain}",
                                     dns_name=f"alb-{r}.elb.amazonaws.com", zone_id="Z35SXDOTRQ7X7K")
                 for r in dev.traffic.regions}
    run = run_mocked(lambda: GlobalRecords("dns", GlobalRecordsArgs(
        plan=dev.traffic, zone_id="Z0123456789", endpoints=endpoints, tags=dev.tags)), stack="test")
    aliased = [r for r in run.of_type("aws:route53/record:Record")
               if any(a.get("zoneId") == "Z0123456789" for a in r.inputs.get("aliases") or ())]
    # every record of the geolocation -> weighted -> failover tree that aliases another name of the zone
    assert len(aliased) == sum(rec.kind != "endpoint" for rec in dev.traffic.records) > 10
    assert not deploy_violations(run, "deploy/alias-order")


# --- A new public zone: the first `up` stops before validation until delegation is confirmed --------

def _certificates(dev, delegated: bool):
    def program():
        zone = PublicZone("zone", PublicZoneArgs(zone_name=dev.domain))
        RegionalCertificates("certs", RegionalCertificatesArgs(
            domain=dev.domain, regions=[r for r in dev.regions if r.cloud == "aws"], zone_id=zone.zone_id,
            tags=dev.tags, zone_delegated=delegated))
    return run_mocked(program, stack="test")


def test_a_new_zone_not_yet_delegated_stops_the_up_at_the_validation_with_what_to_do(dev):
    run = _certificates(dev, delegated=False)
    validations = run.of_type("aws:acm/certificateValidation:CertificateValidation")
    assert validations and all(v.hooks.get("beforeCreate") == ("await-zone-delegation",) for v in validations)
    assert not deploy_violations(run, "deploy/zone-delegation")
    assert not deploy_violations(run, "deploy/zone-first")  # phase 1 can target the zone alone
    hook = await_delegation_hook(dev.domain)
    with pytest.raises(RuntimeError, match="zoneDelegated: true"):
        hook(pulumi.ResourceHookArgs(urn="urn", id="", name="certs-use1-validated", type="t"))


def test_a_confirmed_delegation_validates_without_a_stop_and_an_unguarded_one_is_caught(dev):
    run = _certificates(dev, delegated=True)
    assert not any(v.hooks for v in run.of_type("aws:acm/certificateValidation:CertificateValidation"))
    assert deploy_violations(run, "deploy/zone-delegation")  # without the plan's confirmation: caught
    confirmed = SimpleNamespace(traffic=SimpleNamespace(zone_delegated=True))  # what plan.traffic says
    assert not deploy_violations(run, "deploy/zone-delegation", plan=confirmed)


# --- Waits outside serving and database: the device plugin -----------------------------------------

def test_the_device_plugin_waits_deliberately():
    run = run_mocked(lambda: KubernetesBase("k8s", KubernetesBaseArgs(cloud="aws", kubernetes_version="1.33")),
                     stack="test")
    assert run.of_type("kubernetes:apps/v1:DaemonSet")
    assert not deploy_violations(run, "deploy/workload-wait")
